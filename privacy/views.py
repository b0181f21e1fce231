"""The privacy desk: requests from intake to receipt, legal holds, purge runs; and "Your data".

Pages post normally without JavaScript (redirect after success). With htmx,
invalid input answers 422 with the form's partial, success navigates with
``HX-Redirect``, and running jobs refresh their progress partial by polling.
"""

import datetime as dt
import functools
import json
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from audit.models import AuditEvent
from audit.services import record
from config.downloads import attachment
from governance.access import any_role_required, role_required
from governance.models import Category
from governance.roles import Role, roles_of
from governance.views.common import site_address
from privacy import (
    access,
    archive,
    breach,
    disclosure,
    execution,
    notices,
    policy,
    purge,
    recipients,
    services,
    transparency,
)
from privacy.forms import (
    BreachScopeForm,
    ExtendForm,
    FinishForm,
    HoldForm,
    IntakeForm,
    OwnDataForm,
    ReasonForm,
    RecipientNoticeForm,
    RejectForm,
    ScheduleForm,
    TellForm,
    VerifyForm,
)
from privacy.models import ARCHIVE_KEEP_DAYS, LegalHold, PurgeRun, SubjectRequest
from privacy.records import SECURITY_MEASURES, records, records_csv
from privacy.services import FieldRefused, PrivacyError

officer = role_required(Role.PRIVACY_OFFICER)
RECENT = 20
RELEASED_PER_PAGE = 50
#: While a request is in these, its page polls its progress card.
RUNNING = (SubjectRequest.Status.APPROVED, SubjectRequest.Status.EXECUTING)


def _go(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _polling(request: HttpRequest, target: str) -> bool:
    return bool(request.htmx) and request.htmx.target == target


# --- the desk ----------------------------------------------------------------------------


@require_GET
@officer
def desk(request: HttpRequest) -> HttpResponse:
    """Open requests by due date, active holds, the last purges and the retention windows.

    Every open request and every erasure with providers to tell is listed: officers see
    their whole backlog, each line worked out once (:func:`_request_lines`), with what the
    requester is still to be told (``to_tell``: each with its last day).
    """
    requests = SubjectRequest.objects.listed().with_notices()
    open_requests = list(requests.filter(status__in=SubjectRequest.OPEN))
    closed = list(
        requests.exclude(status__in=SubjectRequest.OPEN).order_by("-completed_at")[:RECENT]
    )
    _request_lines(open_requests + closed, today=timezone.localdate())
    day_and_month = functools.cache(lambda value: date_filter(value, "j M"))
    for listed in open_requests + closed:
        listed.to_tell = [
            (item, day_and_month(item.due_on) if item.due_on else "")
            for item in notices.owed(listed, notices.told_topics(listed))
        ]
    for listed in open_requests:
        listed.yours_to_approve = access.yours_to_approve(listed, request.user)
    erasures_to_tell = recipients.erasures_to_tell()
    completed_page = _url_of_each("privacy:request")
    for erasure in erasures_to_tell:
        erasure.url = completed_page(erasure.public_id)
    holds = list(
        LegalHold.objects.filter(released_at__isnull=True).select_related(
            "user", "conversation", "placed_by"
        )
    )
    runs = list(PurgeRun.objects.select_related("triggered_by")[:5])
    purge_alarm, purge_alarm_run = purge.left_behind(recent_runs=runs)
    return render(
        request,
        "privacy/desk.html",
        {
            "open_requests": open_requests,
            "closed_requests": closed,
            "overdue": sum(r.left < 0 for r in open_requests),
            "to_approve": sum(r.yours_to_approve for r in open_requests),
            "holds": holds,
            "holds_about_you": {hold.pk for hold in holds if hold.is_about(request.user)},
            "holds_to_confirm": {
                hold.pk for hold in holds if access.yours_to_confirm(hold, request.user)
            },
            "runs": runs,
            "categories": Category.objects.filter(is_active=True),
            "schedule_label": services.schedule_label(services.purge_schedule()),
            "erasures_to_finish": services.erasures_to_finish(),
            "erasures_to_tell": erasures_to_tell,
            "purge_alarm": purge_alarm,
            "purge_alarm_run": purge_alarm_run,
        },
    )


#: A request's status badge (plain for the other states).
_BADGES = {
    SubjectRequest.Status.COMPLETED: "badge badge-ok",
    SubjectRequest.Status.REJECTED: "badge badge-danger",
    SubjectRequest.Status.FAILED: "badge badge-danger",
    SubjectRequest.Status.EXECUTING: "badge badge-warn",
}


def _request_lines(requests, *, today: dt.date) -> None:
    """Give each request what its line shows (privacy/partials/request_table.html, and its
    status and due partials), in words, worked out once: its link, its days (each date
    formatted once, however many lines share it), its badge and the days ``left`` until it is
    due. A template's includes and filters per line were four fifths of the desk's time with
    500 open requests (bench/privacy_desk.py)."""
    page = _url_of_each("privacy:request")
    day = functools.cache(lambda value: date_filter(value, "j M Y"))
    for listed in requests:
        listed.url = page(listed.public_id)
        listed.received_label = day(listed.received_on)
        listed.kind_label = listed.get_kind_display().partition(" (")[0]
        listed.badge = _BADGES.get(listed.status, "badge")
        listed.left = policy.days_left(listed.due_on, today)
        listed.due_label = day(listed.due_on)
        completed = listed.completed_at
        listed.closed_label = day(timezone.localdate(completed)) if completed else "—"


def _url_of_each(name: str):
    """``reverse(name, args=[public_id])`` for many ids at the price of one (the desk links
    every line it lists)."""
    blank = str(UUID(int=0))
    pattern = reverse(name, args=[blank])
    return lambda public_id: pattern.replace(blank, str(public_id))


# --- requests ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@officer
def request_new(request: HttpRequest) -> HttpResponse:
    form = IntakeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.receive_request(actor=request.user, **form.request_fields)
        except PrivacyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"{created.reference} recorded; due {created.due_on:%-d %B %Y}.",
                extra_tags="announce",
            )
            return _go(request, reverse("privacy:request", args=[created.public_id]))
    return _form_page(request, "privacy/request_new.html", "intake-form", {"form": form})


def _form_page(request, template, partial, ctx) -> HttpResponse:
    status = 422 if ctx["form"].errors else 200
    if request.htmx and request.method == "POST":
        template += f"#{partial}"
    return render(request, template, ctx, status=status)


@require_GET
@login_required
def request_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    subject_request = access.get_request_for_user(request.user, public_id)
    ctx = _request_context(request, subject_request)
    template = "privacy/request_detail.html"
    if not _polling(request, "request-progress"):
        return render(request, template, ctx)
    response = render(request, template + "#request-progress", ctx)
    if subject_request.status not in RUNNING:
        # The run ended: the receipt and archive buttons are outside the polled card, so the
        # page loads again, and the message that says so takes the focus (it is read out).
        _say_run_ended(request, subject_request)
        response["HX-Refresh"] = "true"
    return response


def _say_run_ended(request: HttpRequest, subject_request: SubjectRequest) -> None:
    reference = subject_request.reference
    if subject_request.status == SubjectRequest.Status.COMPLETED:
        erasure = subject_request.kind == SubjectRequest.Kind.ERASURE
        done = "erasure is complete" if erasure else "archive is ready"
        messages.success(request, f"{reference}: the {done}.", extra_tags="announce")
    else:
        messages.error(
            request,
            f"{reference}: the execution stopped ({subject_request.get_status_display()}). "
            "Where it stands says why.",
            extra_tags="announce",
        )


STEPS = [
    (SubjectRequest.Status.RECEIVED, "Received"),
    (SubjectRequest.Status.VERIFIED, "Identity verified"),
    (SubjectRequest.Status.SCOPED, "Scoped"),
    (SubjectRequest.Status.APPROVED, "Approved"),
    (SubjectRequest.Status.EXECUTING, "Executing"),
    (SubjectRequest.Status.COMPLETED, "Completed"),
]
#: The same steps, as the person the request is about reads them.
STEPS_FOR_THE_PERSON = [
    (SubjectRequest.Status.RECEIVED, "Received"),
    (SubjectRequest.Status.VERIFIED, "Identity checked"),
    (SubjectRequest.Status.SCOPED, "Data found"),
    (SubjectRequest.Status.APPROVED, "Approved"),
    (SubjectRequest.Status.EXECUTING, "Being carried out"),
    (SubjectRequest.Status.COMPLETED, "Done"),
]


def _done_steps(subject_request: SubjectRequest) -> list[str]:
    codes = [code for code, _ in STEPS]
    if subject_request.status == SubjectRequest.Status.COMPLETED:
        return codes
    if subject_request.status in codes:
        return codes[: codes.index(subject_request.status)]
    reached = [subject_request.verified_at, subject_request.scoped_at, subject_request.approved_at]
    return codes[: 1 + sum(1 for moment in reached if moment)]


def _request_context(request, subject_request: SubjectRequest, **forms) -> dict:
    _request_lines([subject_request], today=timezone.localdate())
    officer = access.is_officer(request.user)
    is_subject = access.is_about(subject_request, request.user)
    told = list(subject_request.notices.select_related("recorded_by")) if officer else []
    owed = notices.owed(subject_request, {n.topic for n in told}) if officer else []
    erasure_recipients = recipients.of_erasure(subject_request) if officer else None
    return {
        "erasure_recipients": erasure_recipients,
        "recipients_to_tell": RecipientNoticeForm.for_each(
            erasure_recipients.to_tell if erasure_recipients else [], forms.get("recipient_form")
        ),
        "recipients_recorded_since": recipients.recorded_since() if erasure_recipients else None,
        "told": told,
        "owed": owed,
        "predates_records": officer and notices.predates_records(subject_request),
        "records_since": notices.recorded_since(),
        "tell_form": (forms.get("tell_form") or TellForm()).offer(owed),
        "req": subject_request,
        "steps": STEPS if officer and not is_subject else STEPS_FOR_THE_PERSON,
        "done_steps": _done_steps(subject_request),
        "officer": officer,
        "is_subject": is_subject,
        "archive_downloadable": archive.download_refusal(subject_request, request.user) is None,
        "keep_days": ARCHIVE_KEEP_DAYS,
        "identifiers": subject_request.identifiers() if officer else [],
        "verify_form": forms.get("verify_form") or VerifyForm(),
        "reject_form": forms.get("reject_form") or RejectForm(),
        # The evidence beside the reject form, for a claim of excess above all.
        "earlier_requests": services.earlier_requests(subject_request)
        if officer and not is_subject and subject_request.is_open
        else [],
        "finish_form": forms.get("finish_form") or FinishForm(),
        "left_behind": services.left_behind(subject_request)
        if officer and not is_subject
        else None,
        "extend_form": forms.get("extend_form") or ExtendForm(),
        "extension_refusal": policy.extension_refusal(
            due=subject_request.due_on,
            today=timezone.localdate(),
            extended=subject_request.extended,
        ),
        "stalled_since": execution.stalled_since(subject_request),
        "receipt_json": json.dumps(subject_request.receipt, indent=2)
        if subject_request.receipt
        else "",
        "events": AuditEvent.objects.filter(
            target_type="privacy.subjectrequest", target_id=str(subject_request.public_id)
        ).order_by("sequence"),
    }


def _step(
    request: HttpRequest, public_id: UUID, run, form_class=None, form_name="", *, section=""
) -> HttpResponse:
    """One workflow step: validate, call the service, and show the request again.

    Refused input (the form's, or a value the service refused: :class:`FieldRefused`) comes
    back beside its field, kept as typed (422); a step the request's state refuses is said in
    a message. The page opens again at ``section`` (the form's card), which the form's action
    does not name: a page at a #fragment would not focus its refused field."""
    subject_request = access.get_request_for_user(request.user, public_id)
    form = form_class(request.POST) if form_class else None
    if form is not None and not form.is_valid():
        return _refused(request, subject_request, form, form_name)
    try:
        run(subject_request, form.cleaned_data if form else {})
    except FieldRefused as exc:
        if not hasattr(form, "refuse"):
            messages.error(request, str(exc))
        else:
            form.refuse(exc.field, str(exc))
            return _refused(request, subject_request, form, form_name)
    except PrivacyError as exc:
        messages.error(request, str(exc))
    page = reverse("privacy:request", args=[subject_request.public_id])
    return _go(request, f"{page}#{section}" if section else page)


def _refused(request, subject_request, form, form_name: str) -> HttpResponse:
    ctx = _request_context(request, subject_request, **{form_name: form})
    return render(request, "privacy/request_detail.html", ctx, status=422)


@require_POST
@officer
def request_verify(request: HttpRequest, public_id: UUID) -> HttpResponse:
    def verify(subject_request: SubjectRequest, data: dict) -> None:
        services.verify_identity(request=subject_request, actor=request.user, method=data["method"])
        messages.success(
            request,
            f"{subject_request.reference}: identity verified. Scope the request next.",
            extra_tags="announce",
        )

    return _step(request, public_id, verify, VerifyForm, "verify_form")


@require_POST
@officer
def request_scope(request: HttpRequest, public_id: UUID) -> HttpResponse:
    def scope(subject_request: SubjectRequest, data: dict) -> None:
        services.scope_request(
            request=subject_request, actor=request.user, base_url=site_address(request)
        )
        messages.success(
            request,
            f"{subject_request.reference} scoped: a second privacy officer approves it next.",
            extra_tags="announce",
        )

    return _step(request, public_id, scope)


@require_POST
@officer
def request_approve(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _step(
        request, public_id, lambda r, d: services.approve_request(request=r, actor=request.user)
    )


@require_POST
@officer
def request_reject(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _step(
        request,
        public_id,
        lambda r, d: services.reject_request(
            request=r, actor=request.user, ground=d["ground"], reason=d["reason"]
        ),
        RejectForm,
        "reject_form",
    )


@require_POST
@officer
def request_extend(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _step(
        request,
        public_id,
        lambda r, d: services.extend_request(request=r, actor=request.user, reason=d["reason"]),
        ExtendForm,
        "extend_form",
    )


@require_POST
@officer
def request_tell(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Record that the requester was told something they are owed."""

    def tell(subject_request: SubjectRequest, data: dict) -> None:
        notice = notices.record_notice(request=subject_request, actor=request.user, **data)
        messages.success(
            request,
            f"Recorded: told by {notice.get_channel_display().lower()} on "
            f"{notice.told_on.day} {notice.told_on:%B %Y}: {notice.get_topic_display().lower()}.",
        )

    return _step(request, public_id, tell, TellForm, "tell_form", section="telling")


@require_POST
@officer
def request_recipient_told(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Record that a provider who received the erased data was asked to erase it too."""

    def tell(subject_request: SubjectRequest, data: dict) -> None:
        notice = recipients.record_notice(request=subject_request, actor=request.user, **data)
        messages.success(
            request,
            f"Recorded: {notice.backend} was asked to erase the data on "
            f"{notice.told_on.day} {notice.told_on:%B %Y}.",
        )

    return _step(
        request, public_id, tell, RecipientNoticeForm, "recipient_form", section="recipients-told"
    )


@require_POST
@officer
def request_release(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Release the access archive to the person, once its mentions are checked."""
    return _step(request, public_id, lambda r, d: archive.release(request=r, actor=request.user))


@require_POST
@officer
def request_retry(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Run a failed request again."""
    return _step(request, public_id, lambda r, d: execution.retry(request=r, actor=request.user))


@require_POST
@officer
def request_finish(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Record a follow-up erasure of what a completed one withheld under a hold since released."""
    subject_request = access.get_request_for_user(request.user, public_id)
    form = FinishForm(request.POST)
    if not form.is_valid():
        ctx = _request_context(request, subject_request, finish_form=form)
        return render(request, "privacy/request_detail.html", ctx, status=422)
    try:
        follow_up = services.finish_erasure(
            request=subject_request, actor=request.user, identifiers=form.identifiers
        )
    except PrivacyError as exc:
        messages.error(request, str(exc))
        return _go(request, reverse("privacy:request", args=[subject_request.public_id]))
    messages.success(
        request, f"{follow_up.reference} recorded: scope it, then a second officer approves it."
    )
    return _go(request, reverse("privacy:request", args=[follow_up.public_id]))


@require_GET
@login_required
def request_receipt(request: HttpRequest, public_id: UUID) -> HttpResponse:
    subject_request = access.get_request_for_user(request.user, public_id)
    if not subject_request.receipt_hash:  # until then, the receipt is a partial record
        return _not_ready(
            request, subject_request, "The receipt is written when the request completes."
        )
    body = json.dumps(
        {"receipt": subject_request.receipt, "sha256": subject_request.receipt_hash}, indent=2
    )
    _record_download(request, subject_request, "receipt")
    return attachment(
        body, filename=f"{subject_request.reference}-receipt.json", content_type="application/json"
    )


@require_GET
@login_required
def request_archive(request: HttpRequest, public_id: UUID) -> HttpResponse:
    subject_request = access.get_request_for_user(request.user, public_id)
    refusal = archive.download_refusal(subject_request, request.user)
    if refusal:
        return _not_ready(request, subject_request, refusal)
    blob = archive.open_archive(subject_request)
    _record_download(request, subject_request, "archive")
    return attachment(
        blob, filename=f"{subject_request.reference}.zip", content_type="application/zip"
    )


@require_GET
@login_required
def request_letter(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The answer to the requester, in words, to print or send: what was asked, what was
    done (or why not), what was kept and why, who received their data, their rights, and
    the receipt's hash."""
    subject_request = access.get_request_for_user(request.user, public_id)
    if subject_request.is_open:
        return _not_ready(
            request, subject_request, "The letter is written once the request is answered."
        )
    receipt = subject_request.receipt or {}
    context = {
        "req": subject_request,
        "follows": _follows(subject_request),
        "counts": receipt.get("counts", {}),
        "contact": settings.STEWARD_PRIVACY_CONTACT,
        "recipients": disclosure.recipients_told(receipt.get("recipients", [])),
        "erasure_recipients": recipients.of_erasure(subject_request),
        "officer": access.is_officer(request.user),
    }
    return render(request, "privacy/letter.html", context)


def _follows(subject_request: SubjectRequest) -> SubjectRequest | None:
    """The erasure a follow-up finishes (its receipt event names it), if it is one."""
    reference = (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.DSR_RECEIVED,
            target_type=SubjectRequest._meta.label_lower,
            target_id=str(subject_request.public_id),
        )
        .values_list("details__follows", flat=True)
        .first()
    )
    return SubjectRequest.objects.filter(reference=reference).first() if reference else None


def _not_ready(request, subject_request, message: str) -> HttpResponse:
    messages.error(request, message)
    return _go(request, reverse("privacy:request", args=[subject_request.public_id]))


def _record_download(request, subject_request: SubjectRequest, what: str) -> None:
    with transaction.atomic():
        record(
            action=AuditEvent.Action.DSR_DOWNLOADED,
            actor=request.user,
            target=subject_request,
            details={
                "what": what,
                "by_subject": access.is_about(subject_request, request.user),
            },
        )


# --- your own data -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def mine(request: HttpRequest) -> HttpResponse:
    """Anyone signed in: ask for a copy of their data, or for their account to be erased."""
    if request.method == "POST":
        form = OwnDataForm(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                messages.error(request, " ".join(errors))
        else:
            try:
                created = services.request_own_data(user=request.user, **form.cleaned_data)
            except PrivacyError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(
                    request,
                    f"Request {created.reference} sent to the privacy team; it is due by "
                    f"{created.due_on:%-d %B %Y}.",
                )
        return _go(request, reverse("privacy:mine"))
    own = list(
        SubjectRequest.objects.listed().filter(subject_user=request.user).order_by("-created_at")
    )
    _request_lines(own, today=timezone.localdate())
    return render(
        request, "privacy/mine.html", {"own_requests": own, "regimes": OwnDataForm.REGIMES}
    )


@require_GET
@login_required
def notice(request: HttpRequest) -> HttpResponse:
    """Anyone signed in: how Steward processes their own data (GDPR Art. 13), from the live
    policy: each category's retention and models, the audit trail, who reads what."""
    return render(
        request,
        "privacy/notice.html",
        {
            "uses": transparency.category_uses(),
            "message_records": transparency.message_records(),
            "sign_in_records": transparency.SIGN_IN_RECORDS.values(),
            "other_records": transparency.OTHER_RECORDS,
            "contact": transparency.privacy_contact(),
            "has_role": bool(roles_of(request.user)),
        },
    )


# --- holds -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@officer
def holds(request: HttpRequest) -> HttpResponse:
    form = HoldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.place_hold(
                actor=request.user,
                reason=data["reason"],
                user=data["user"],
                conversation=data["conversation_obj"],
            )
        except PrivacyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Legal hold placed.", extra_tags="announce")
            return _go(request, reverse("privacy:holds"))
    return _form_page(request, "privacy/holds.html", "hold-form", _holds_context(request, form))


def _holds_context(request: HttpRequest, form: HoldForm, release: dict | None = None) -> dict:
    """The holds page; ``release``: a release refused, its hold, typed reason and error."""
    holds = LegalHold.objects.select_related(
        "user", "conversation", "placed_by", "release_asked_by", "released_by"
    )
    active = list(holds.filter(released_at__isnull=True))
    released = Paginator(
        holds.filter(released_at__isnull=False).order_by("-released_at", "-pk"),
        RELEASED_PER_PAGE,
    ).get_page(request.GET.get("page"))
    return {
        "form": form,
        # Every active hold, however old: this page is the only one that releases them.
        "active": active,
        # Released ones too: their reasons may tell the officer what they were suspected of.
        "about_you": {hold.pk for hold in [*active, *released] if hold.is_about(request.user)},
        "release": release or {},
        "released": released,
    }


@require_POST
@officer
def hold_release(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The first officer asks to release a hold, saying why."""

    def ask(hold: LegalHold) -> None:
        form = ReasonForm(request.POST)
        if not form.is_valid():
            raise PrivacyError(form.errors["reason"][0])
        services.ask_release(hold=hold, actor=request.user, reason=form.cleaned_data["reason"])

    done = "Release asked: the hold stays until another privacy officer confirms it."
    return _hold_step(request, public_id, ask, done)


@require_POST
@officer
def hold_release_confirm(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """A second officer confirms: the hold ends."""
    response = _hold_step(
        request,
        public_id,
        lambda hold: services.release_hold(
            hold=hold, actor=request.user, asked_at=_when(request.POST.get("asked_at", ""))
        ),
        "Legal hold released.",
    )
    if response.status_code != 422 and (unfinished := len(services.erasures_to_finish())):
        messages.info(
            request,
            f"{unfinished} completed erasure{pluralize(unfinished)} left content that "
            "no hold keeps now: finish them from the privacy desk.",
        )
    return response


@require_POST
@officer
def hold_release_withdraw(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The asker, or an officer who disagrees, takes the ask back: the hold stays."""
    return _hold_step(
        request,
        public_id,
        lambda hold: services.withdraw_release(hold=hold, actor=request.user),
        "Release withdrawn: the hold stays.",
    )


def _when(text: str) -> dt.datetime | None:
    try:
        return parse_datetime(text)
    except ValueError:
        return None


def _hold_step(request: HttpRequest, public_id: UUID, step, done: str) -> HttpResponse:
    """One step of a hold's release: back to the holds with ``done``, or, refused, the holds
    page again with the refusal beside the hold and what was typed kept."""
    hold = access.get_hold_for_officer(request.user, public_id)
    try:
        step(hold)
    except PrivacyError as exc:
        release = {"hold": hold.pk, "reason": request.POST.get("reason", ""), "error": str(exc)}
        ctx = _holds_context(request, HoldForm(), release)
        return render(request, "privacy/holds.html", ctx, status=422)
    messages.success(request, done, extra_tags="announce")
    return _go(request, reverse("privacy:holds"))


# --- purges ------------------------------------------------------------------------------


@require_GET
@officer
def purges(request: HttpRequest) -> HttpResponse:
    schedule = services.purge_schedule()
    initial = {"hour": 2, "minute": 30, "enabled": True}
    if schedule and schedule.crontab and schedule.crontab.hour.isdigit():
        initial = {
            "hour": int(schedule.crontab.hour),
            "minute": int(schedule.crontab.minute),
            "enabled": schedule.enabled,
        }
    ctx = {
        "runs": PurgeRun.objects.select_related("triggered_by")[:50],
        "preview": purge.preview() if request.GET.get("preview") else None,
        "schedule_label": services.schedule_label(schedule),
        "schedule_form": ScheduleForm(initial=initial),
    }
    return render(request, "privacy/purges.html", ctx)


@require_POST
@officer
def purge_now(request: HttpRequest) -> HttpResponse:
    try:
        with transaction.atomic():
            run = services.start_purge(actor=request.user)
    except PrivacyError as exc:
        messages.error(request, str(exc))
        return _go(request, reverse("privacy:purges"))
    return _go(request, reverse("privacy:purge", args=[run.public_id]))


@require_POST
@officer
def purge_schedule(request: HttpRequest) -> HttpResponse:
    form = ScheduleForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        services.set_purge_schedule(
            actor=request.user, hour=data["hour"], minute=data["minute"], enabled=data["enabled"]
        )
        messages.success(request, "Purge schedule saved.")
    else:
        messages.error(request, "The time must be an hour from 0 to 23 and a minute from 0 to 59.")
    return _go(request, reverse("privacy:purges"))


@require_GET
@officer
def purge_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    run = access.get_purge_for_officer(request.user, public_id)
    template = "privacy/purge_detail.html"
    polling = _polling(request, "purge-progress")
    if polling:
        template += "#purge-progress"
    # A poll that finds the run over says so once, in the status line the page keeps.
    ended = polling and run.status != PurgeRun.Status.RUNNING
    return render(request, template, {"run": run, "now": timezone.now(), "announce": ended})


# --- records of processing ---------------------------------------------------------------

#: Who may read the records of processing: the privacy officers who keep them, the policy
#: admins whose configuration they describe, and the auditors who check them. They hold
#: the policy's settings only: no person's data and no credential.
record_readers = any_role_required(Role.PRIVACY_OFFICER, Role.POLICY_ADMIN, Role.AUDITOR)


@require_GET
@record_readers
def processing_records(request: HttpRequest) -> HttpResponse:
    """The records of processing (GDPR Art. 30), one per category, from the live policy."""
    return render(
        request,
        "privacy/records.html",
        {
            "records": records(),
            "security_measures": SECURITY_MEASURES,
            "contact": settings.STEWARD_PRIVACY_CONTACT,
        },
    )


@require_GET
@record_readers
def processing_records_csv(request: HttpRequest) -> HttpResponse:
    """The same records as CSV, for the register the organisation keeps."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return attachment(
        records_csv(records()),
        filename=f"records-of-processing-{stamp}.csv",
        content_type="text/csv; charset=utf-8",
    )


# --- breach scope ------------------------------------------------------------------------


@require_GET
@officer
def breach_scope(request: HttpRequest) -> HttpResponse:
    """What the calls to one backend carried in a window, for a provider's incident report.

    A GET form, so a report has an address and its CSV the same query; each run is
    recorded in the trail with the counts it showed.
    """
    end = BreachScopeForm.latest_end()
    initial = {"start": end - dt.timedelta(days=7), "end": end}
    form = BreachScopeForm(request.GET or None, initial=initial)
    scope = None
    if form.is_valid():
        scope = breach.report(actor=request.user, what="page", **form.cleaned_data)
    ctx = {"form": form, "scope": scope, "query": request.GET.urlencode()}
    return render(request, "privacy/breach.html", ctx, status=422 if form.errors else 200)


@require_GET
@officer
def breach_scope_csv(request: HttpRequest) -> HttpResponse:
    """The conversations a breach scope reaches, one a row, for the officer's notifications."""
    form = BreachScopeForm(request.GET)
    if not form.is_valid():
        ctx = {"form": form, "scope": None, "query": ""}
        return render(request, "privacy/breach.html", ctx, status=422)
    scope = breach.report(actor=request.user, what="csv", **form.cleaned_data)
    return attachment(
        breach.csv_text(scope),
        filename=breach.csv_name(scope),
        content_type="text/csv; charset=utf-8",
    )
