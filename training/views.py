"""Training pages: cards, the policy document, acknowledgement, quizzes, the admin report.

Cards and the policy document are for every role; acknowledging and quizzes for
staff; writing the policy and the questions for policy admins; the report for
policy admins and auditors (read-only: only admins send reminders).
"""

import csv
import io
from bisect import bisect_right
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from audit.exports import defuse
from chat.markdown import render_document
from config.asked_here import asked_here
from config.downloads import attachment, local_time
from governance.access import any_role_required, role_required
from governance.models import Category
from governance.roles import Role
from governance.views.common import pager_query, site_address, wants_partial
from training import services
from training.cards import cards
from training.defaults import DEFAULT_POLICY_BODY, DEFAULT_POLICY_TITLE
from training.forms import (
    AcknowledgeForm,
    DraftActionForm,
    PolicyDocumentForm,
    QuizQuestionForm,
)
from training.models import Acknowledgement, PolicyDocument, QuizAttempt, QuizQuestion
from training.quiz import pass_mark, quiz_items, quiz_sizes
from training.text import diff_lines

#: Rows of the report's people list per page (5,000 rows took 2 s to render).
PEOPLE_PER_PAGE = 100

any_role = any_role_required(*Role)
staff_only = role_required(Role.STAFF)
policy_admin = role_required(Role.POLICY_ADMIN)
report_readers = any_role_required(Role.POLICY_ADMIN, Role.AUDITOR)


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """Navigate after a change: a client redirect for htmx (never a 302), else a 302."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _active_categories():
    return Category.objects.filter(is_active=True).order_by("number")


# --- the hub and the cards ------------------------------------------------------------------


@require_GET
@any_role
def home(request: HttpRequest) -> HttpResponse:
    """Where a person stands: the policy to acknowledge, the cards, their quizzes."""
    is_staff = request.user.has_perm(Role.STAFF.permission)
    categories = list(_active_categories())
    best: dict[int, QuizAttempt] = {}
    if is_staff:
        # The quiz page's own "best": a pass first, then the highest score.
        for attempt in QuizAttempt.objects.filter(user=request.user).order_by(
            "-passed", "-score", "-taken_at"
        ):
            best.setdefault(attempt.category_number, attempt)
    sizes = quiz_sizes(categories)
    quizzes = [
        {"category": c, "questions": sizes.get(c.number, 0), "best": best.get(c.number)}
        for c in categories
    ]
    return render(
        request,
        "training/home.html",
        {
            "status": services.acknowledgement_status(request.user),
            "is_staff": is_staff,
            "is_admin": request.user.has_perm(Role.POLICY_ADMIN.permission),
            "can_report": request.user.has_perm(Role.POLICY_ADMIN.permission)
            or request.user.has_perm(Role.AUDITOR.permission),
            "categories": categories,
            "quizzes": quizzes,
        },
    )


@require_GET
@any_role
def overview(request: HttpRequest) -> HttpResponse:
    """The one-page overview card: every category side by side, made to print on one page."""
    return render(
        request,
        "training/overview.html",
        {"cards": cards(), "current": PolicyDocument.objects.current(), "today": timezone.now()},
    )


@require_GET
@any_role
def card(request: HttpRequest, number: int) -> HttpResponse:
    """One category's quick-reference card; a retired category's page says it is retired
    (the chat still links its conversations and messages here)."""
    category = get_object_or_404(Category, number=number)
    found = cards([category])  # none for a retired category: the live policy has no rules for it
    is_staff = request.user.has_perm(Role.STAFF.permission)
    return render(
        request,
        "training/card.html",
        {
            "card": found[0] if found else None,
            "category": category,
            # As on the Training page: staff take any quiz that has questions.
            "offers_quiz": is_staff
            and bool(found)
            and bool(quiz_items(number, _active_categories())),
            "categories": _active_categories(),
            "cleared": Category.objects.cleared_for(request.user).filter(pk=category.pk).exists(),
            "is_admin": request.user.has_perm(Role.POLICY_ADMIN.permission),
            "current": PolicyDocument.objects.current(),
            "today": timezone.now(),
        },
    )


# --- the policy document --------------------------------------------------------------------


@require_GET
@any_role
def policy_document(request: HttpRequest) -> HttpResponse:
    """The current version, rendered, with the list of every published version."""
    versions = list(PolicyDocument.objects.published().select_related("published_by"))
    current = versions[0] if versions else None
    return render(
        request,
        "training/policy.html",
        {
            "document": current,
            "html": render_document(current.body) if current else "",
            "versions": versions,
            "status": services.acknowledgement_status(request.user),
            "is_staff": request.user.has_perm(Role.STAFF.permission),
            "is_admin": request.user.has_perm(Role.POLICY_ADMIN.permission),
            "draft": PolicyDocument.objects.draft(),
        },
    )


@require_GET
@any_role
def policy_version(request: HttpRequest, version: int) -> HttpResponse:
    """One published version and what changed since the one before it."""
    document = get_object_or_404(
        PolicyDocument.objects.published().select_related("published_by"), version=version
    )
    previous = (
        PolicyDocument.objects.published().filter(version__lt=version).order_by("-version").first()
    )
    return render(
        request,
        "training/policy_version.html",
        {
            "document": document,
            "previous": previous,
            "html": render_document(document.body),
            "diff": diff_lines(previous.body if previous else "", document.body),
            # Counted as the report counts: people who may chat today.
            "acknowledged": Acknowledgement.objects.filter(
                document=document, user__in=services.staff_members().values("pk")
            ).count(),
        },
    )


@require_http_methods(["GET", "POST"])
@policy_admin
def policy_edit(request: HttpRequest) -> HttpResponse:
    """Write the next version: saving keeps a draft; publishing is a separate step."""
    draft = PolicyDocument.objects.draft()
    current = PolicyDocument.objects.current()
    changed_meanwhile = False
    if request.method == "POST":
        form = PolicyDocumentForm(request.POST, instance=draft)
        if form.is_valid():
            try:
                draft = services.save_draft(
                    actor=request.user,
                    title=form.cleaned_data["title"],
                    body=form.cleaned_data["body"],
                    change_note=form.cleaned_data["change_note"],
                    based_on=form.cleaned_data["draft_hash"],
                )
            except services.DraftChanged as exc:
                draft = PolicyDocument.objects.draft()
                current = PolicyDocument.objects.current()
                form.refuse_stale(str(exc), draft=draft)
                changed_meanwhile = True
            else:
                messages.success(request, f"Draft of version {draft.version} saved.")
                return _go(request, reverse("training:policy_edit"))
    elif draft is not None:
        form = PolicyDocumentForm(instance=draft, initial={"draft_hash": draft.content_hash})
    else:
        start = current or PolicyDocument(title=DEFAULT_POLICY_TITLE, body=DEFAULT_POLICY_BODY)
        form = PolicyDocumentForm(initial={"title": start.title, "body": start.body})
    refused = form.is_bound and bool(form.errors)
    template = "training/policy_edit.html"
    if wants_partial(request):
        template += "#policy-editor"
    return render(
        request,
        template,
        {
            "form": form,
            "draft": draft,
            "current": current,
            **_beside_the_editor(form, draft, current, refused, changed_meanwhile),
        },
        status=422 if refused else 200,
    )


def _beside_the_editor(
    form: PolicyDocumentForm,
    draft: PolicyDocument | None,
    current: PolicyDocument | None,
    refused: bool,
    changed_meanwhile: bool,
) -> dict:
    """The preview and the changes beside the form: of the saved draft or, after a refused
    save, of the text in the form (not saved), so that they show what the admin typed.

    A save refused because another admin changed the draft compares the text with that
    draft instead of the current version: saving again replaces it, and this shows what.
    """
    if refused:
        text = form["body"].value() or ""  # what the textarea holds
    elif draft is not None:
        text = draft.body
    else:
        return {"unsaved": False, "html": "", "diff": [], "replaces": None}
    replaces = draft if changed_meanwhile else None
    if replaces is not None:
        diff = diff_lines(replaces.body, text)
    else:
        diff = diff_lines(current.body, text) if current else []
    return {
        "unsaved": refused,
        "html": render_document(text),
        "diff": diff,
        "replaces": replaces,
    }


@require_POST
@policy_admin
def policy_publish(request: HttpRequest) -> HttpResponse:
    """Publish the draft the admin read; everybody is asked to acknowledge it."""
    draft = PolicyDocument.objects.draft()
    form = DraftActionForm(request.POST)
    if draft is None:
        messages.error(request, "There is no draft to publish.")
        return _go(request, reverse("training:policy_edit"))
    if not form.is_valid():
        messages.error(request, "Open the draft and publish it from there, after reading it.")
        return _go(request, reverse("training:policy_edit"))
    try:
        document = services.publish(
            actor=request.user, document=draft, reviewed=form.cleaned_data["draft_hash"]
        )
    except services.TrainingError as exc:
        messages.error(request, str(exc))
        return _go(request, reverse("training:policy_edit"))
    messages.success(request, f"Version {document.version} published.")
    return _go(request, reverse("training:policy_version", args=[document.version]))


@require_POST
@policy_admin
def policy_discard(request: HttpRequest) -> HttpResponse:
    """Throw away the draft the admin saw."""
    draft = PolicyDocument.objects.draft()
    form = DraftActionForm(request.POST)
    if draft is not None and not form.is_valid():
        messages.error(request, "Open the draft and discard it from there, after reading it.")
        return _go(request, reverse("training:policy_edit"))
    if draft is not None:
        try:
            services.discard_draft(
                actor=request.user, document=draft, reviewed=form.cleaned_data["draft_hash"]
            )
        except services.DraftChanged as exc:
            messages.error(request, str(exc))
            return _go(request, reverse("training:policy_edit"))
        except services.TrainingError:  # published (or discarded) by someone else meanwhile
            messages.error(request, "The draft was published or discarded meanwhile.")
        else:
            messages.success(request, "Draft discarded.")
    return _go(request, reverse("training:policy"))


# --- acknowledgement and quizzes ------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@staff_only
def acknowledge(request: HttpRequest) -> HttpResponse:
    """The summary to read before chatting, and the confirmation."""
    status = services.acknowledgement_status(request.user)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    current = status.current
    form = AcknowledgeForm(initial={"version": current.version if current else 0})
    if request.method == "POST" and current is not None:
        form = AcknowledgeForm(request.POST)
        if form.is_valid():
            if form.cleaned_data["version"] != current.version:
                messages.error(request, "A newer version was published meanwhile: read it first.")
                return _go(request, request.path)
            try:
                services.acknowledge(user=request.user, document=current)
            except services.TrainingError:  # a newer version was published since the read above
                messages.error(request, "A newer version was published meanwhile: read it first.")
                return _go(request, request.path)
            messages.success(request, f"Thank you: you acknowledged version {current.version}.")
            return _go(request, next_url or reverse("chat:home"))
    previous = None
    changes = []
    if current is not None and not status.acknowledged:
        previous = (
            Acknowledgement.objects.filter(user=request.user)
            .select_related("document")
            .order_by("-document__version")
            .first()
        )
    if previous is not None:
        changes = list(
            PolicyDocument.objects.published()
            .filter(version__gt=previous.document.version)
            .exclude(change_note="")
            .order_by("version")
        )
    cleared = list(Category.objects.cleared_for(request.user).order_by("number"))
    return render(
        request,
        "training/acknowledge.html",
        {
            "status": status,
            "document": current,
            "html": render_document(current.body) if current else "",
            "previous": previous,
            "changes": changes,
            "diff": diff_lines(previous.document.body, current.body) if previous else [],
            "cards": cards(cleared),
            # Blocked everywhere: shown to everyone, after their own categories.
            "also_blocked": _active_categories()
            .filter(blocks_all=True)
            .exclude(pk__in=[c.pk for c in cleared]),
            "form": form,
            "next": next_url,
            "acknowledged_at": Acknowledgement.objects.filter(user=request.user, document=current)
            .values_list("acknowledged_at", flat=True)
            .first()
            if current
            else None,
        },
        status=422 if form.is_bound and form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@staff_only
def quiz(request: HttpRequest, number: int) -> HttpResponse:
    """A category's self-check; answering shows the score and the explanations."""
    category = get_object_or_404(Category, number=number, is_active=True)
    items = quiz_items(number, _active_categories())
    attempt = None
    if request.method == "POST":
        try:
            attempt = services.take_quiz(
                user=request.user, number=number, items=items, answers=request.POST
            )
        except services.TrainingError as exc:
            messages.error(request, str(exc))
    template = "training/quiz.html"
    if wants_partial(request):
        template += "#quiz-form"
    return render(
        request,
        template,
        {
            "category": category,
            "items": items,
            "rows": [
                {"item": item, "given": attempt.answers.get(item.key) if attempt else None}
                for item in items
            ],
            "attempt": attempt,
            "pass_mark": pass_mark(len(items)),
            "best": QuizAttempt.objects.filter(user=request.user, category_number=number)
            .order_by("-passed", "-score")
            .first(),
        },
    )


# --- quiz questions (policy admins) ---------------------------------------------------------


@require_GET
@policy_admin
def questions(request: HttpRequest) -> HttpResponse:
    """Every question, by quiz."""
    names = dict(_active_categories().values_list("number", "name"))
    groups: dict[int, list[QuizQuestion]] = {}
    for question in QuizQuestion.objects.all():
        if question.kind == QuizQuestion.Kind.CHOICE:
            options = question.options
            in_range = 0 <= question.answer < len(options)
            question.answer_label = options[question.answer] if in_range else "—"
        else:
            name = names.get(question.answer, "no such category")
            question.answer_label = f"{question.answer} · {name}"
        groups.setdefault(question.category_number, []).append(question)
    return render(
        request,
        "training/questions.html",
        {"groups": [(n, names.get(n), qs) for n, qs in sorted(groups.items())]},
    )


@require_http_methods(["GET", "POST"])
@policy_admin
def question_edit(request: HttpRequest, public_id: UUID | None = None) -> HttpResponse:
    """Add a question, or change one."""
    question = None
    if public_id is not None:
        question = get_object_or_404(QuizQuestion, public_id=public_id)
    form = QuizQuestionForm(request.POST or None, instance=question)
    if request.method == "POST" and form.is_valid():
        services.save_question(actor=request.user, question=question, values=form.values())
        messages.success(request, "Question saved.")
        return _go(request, reverse("training:questions"))
    template = "training/question_form.html"
    if wants_partial(request):
        template += "#question-form"
    ctx = {"form": form, "question": question, "categories": _active_categories()}
    if question is not None:
        ctx["number"] = _number_in_quiz(question)
    return render(request, template, ctx, status=422 if form.is_bound and form.errors else 200)


def _number_in_quiz(question: QuizQuestion) -> int:
    """Its place in its quiz as the questions page lists it: the tab's title tells apart
    one question's page from another's."""
    in_quiz = QuizQuestion.objects.filter(category_number=question.category_number)
    return list(in_quiz.values_list("pk", flat=True)).index(question.pk) + 1


@require_POST
@policy_admin
def question_delete(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Delete a question (attempts keep their scores)."""
    question = get_object_or_404(QuizQuestion, public_id=public_id)
    services.delete_question(actor=request.user, question=question)
    messages.success(request, "Question deleted.")
    return _go(request, reverse("training:questions"))


# --- the report -----------------------------------------------------------------------------


def _report(show: str = "") -> dict:
    """Who acknowledged the current version, who has not, and the quiz pass rates.

    Counted in the database, so that a page of the report reads a page of people however
    many there are: ``people`` is the query of those shown (``show``: "pending" or
    "done", else everyone), to paginate and then :func:`_describe`; ``pending``, the query
    of those still to acknowledge.
    """
    current = PolicyDocument.objects.current()
    staff = _staff(current)
    if current is None:  # nobody is asked anything yet
        done, pending = staff.none(), staff.none()
        everyone_count, done_count = staff.count(), 0
    else:
        done, pending = staff.filter(acked=True), staff.filter(acked=False)
        acked = Acknowledgement.objects.filter(user=OuterRef("pk"), document=current)
        totals = services.staff_members().aggregate(
            everyone=Count("pk"), done=Count("pk", filter=Exists(acked))
        )
        everyone_count, done_count = totals["everyone"], totals["done"]
    categories = list(_active_categories())
    return {
        "current": current,
        "people": {"pending": pending, "done": done}.get(show, staff),
        "show": show if show in ("pending", "done") else "",
        "done": done_count,
        "pending": pending,
        "pending_count": everyone_count - done_count if current else 0,
        "everyone_count": everyone_count,
        "percent_done": round(100 * done_count / everyone_count) if everyone_count else None,
        "grace_days": settings.STEWARD_ACK_GRACE_DAYS,
        "categories": categories,
        "rates": _pass_rates(categories),
    }


def _staff(current: PolicyDocument | None):
    """The staff, by email, with (once a version is published) ``acked``: whether they
    acknowledged it, ``acked_at``: when, and ``last_version``: the newest they acknowledged."""
    people = services.staff_members().only("pk", "public_id", "email", "full_name")
    if current is None:
        return people
    mine = Acknowledgement.objects.filter(user=OuterRef("pk"))
    return people.annotate(
        acked_at=Subquery(mine.filter(document=current).values("acknowledged_at")[:1]),
        last_version=Subquery(mine.order_by("-document__version").values("document__version")[:1]),
        acked=Exists(mine.filter(document=current)),
    )


def _pass_rates(categories: list[Category]) -> list[dict]:
    """Per active quiz: how many staff took it and passed it, and their attempts."""
    by_number = {
        row["category_number"]: row
        for row in QuizAttempt.objects.filter(user__in=services.staff_members().values("pk"))
        .order_by()
        .values("category_number")
        .annotate(
            took=Count("user", distinct=True),
            ok=Count("user", distinct=True, filter=Q(passed=True)),
            total=Count("pk"),
            wins=Count("pk", filter=Q(passed=True)),
        )
    }
    rates = []
    for category in categories:
        row = by_number.get(category.number, {})
        took, ok = row.get("took", 0), row.get("ok", 0)
        rates.append(
            {
                "category": category,
                "people": took,
                "passed": ok,
                "percent": round(100 * ok / took) if took else None,
                "attempts": row.get("total", 0),
                "attempts_passed": row.get("wins", 0),
            }
        )
    return rates


def _describe(people, current: PolicyDocument | None) -> list:
    """``people`` (from :func:`_staff`) with their ``state`` ("done", "grace", "overdue",
    "missing"; "none" before any version is published), ``due`` in grace, and the quizzes
    they passed and tried (``quiz_passed``, ``quiz_tried``): for the rows shown."""
    people = list(people)
    passed: dict[int, set[int]] = {}
    tried: dict[int, set[int]] = {}
    for user_id, number, wins in (
        QuizAttempt.objects.filter(user__in=[p.pk for p in people])
        .order_by()
        .values("user_id", "category_number")
        .annotate(wins=Count("pk", filter=Q(passed=True)))
        .values_list("user_id", "category_number", "wins")
    ):
        tried.setdefault(user_id, set()).add(number)
        if wins:
            passed.setdefault(user_id, set()).add(number)
    published = list(
        PolicyDocument.objects.published()
        .order_by("version")
        .values_list("version", "published_at")
    )
    versions = [number for number, _ in published]
    now = timezone.now()
    for person in people:
        person.quiz_passed = passed.get(person.pk, set())
        person.quiz_tried = tried.get(person.pk, set())
        if current is None:
            person.state = "none"
        elif person.acked:
            person.state = "done"
        elif person.last_version:  # as services.acknowledgement_status decides
            person.due = services.grace_end(
                published[bisect_right(versions, person.last_version)][1]
            )
            person.state = "grace" if now < person.due else "overdue"
        else:
            person.state = "missing"
    return people


@require_GET
@report_readers
def report(request: HttpRequest) -> HttpResponse:
    """The completion report (policy admins and auditors)."""
    context = _report(request.GET.get("show", ""))
    people = Paginator(context["people"], PEOPLE_PER_PAGE)
    people.count = {  # counted already: spare the paginator its own count
        "pending": context["pending_count"],
        "done": context["done"],
    }.get(context["show"], context["everyone_count"])
    page = people.get_page(request.GET.get("page"))
    page.object_list = _describe(page.object_list, context["current"])
    context["people"] = page.object_list
    context["page"] = page
    context["pager_query"] = pager_query(show=context["show"])
    context["can_remind"] = request.user.has_perm(Role.POLICY_ADMIN.permission)
    template = "training/report.html"
    if wants_partial(request):
        template += "#people"
    return render(request, template, context)


STATE_WORDS = {
    "done": "acknowledged",
    "grace": "due (grace period)",
    "overdue": "overdue",
    "missing": "not acknowledged",
    "none": "no policy published",
}


@require_GET
@report_readers
@asked_here("download the training report as CSV", button="Export CSV")
def report_csv(request: HttpRequest) -> HttpResponse:
    """The report as CSV, one row per person; the export is audited."""
    current = PolicyDocument.objects.current()
    people = _describe(_staff(current), current)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    numbers = [c.number for c in _active_categories()]
    writer.writerow(
        [
            "email",
            "name",
            "policy version",
            "status",
            "acknowledged at",
            "last version acknowledged",
            *[f"quiz {n}" for n in numbers],
        ]
    )
    for person in people:
        acked_at = getattr(person, "acked_at", None)
        row = [
            person.email,
            person.full_name,
            current.version if current else "",
            STATE_WORDS[person.state],
            local_time(acked_at),
            getattr(person, "last_version", None) or "",
            *[
                "passed"
                if n in person.quiz_passed
                else "failed"
                if n in person.quiz_tried
                else "not taken"
                for n in numbers
            ],
        ]
        # Names and emails are typed by people: a leading = would run in a spreadsheet.
        writer.writerow([defuse(str(cell)) for cell in row])
    services.record_report_export(actor=request.user, rows=len(people))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return attachment(
        buffer.getvalue(),
        filename=f"training-report-{stamp}.csv",
        content_type="text/csv; charset=utf-8",
    )


@require_POST
@policy_admin
def remind(request: HttpRequest) -> HttpResponse:
    """Email everyone who has not acknowledged the current version yet."""
    context = _report()
    if context["current"] is None:
        messages.error(request, "No policy document is published yet.")
    else:
        sent = services.remind(
            actor=request.user,
            document=context["current"],
            users=context["pending"],
            base_url=site_address(request),
        )
        if context["pending"]:
            messages.success(request, f"Reminder sent to {sent} of {len(context['pending'])}.")
        else:
            messages.info(request, "Everybody has acknowledged the current version.")
    return _go(request, reverse("training:report"))
