"""The policy console: the hub, and list/create/edit/disable pages for every policy object.

Each page is one template with inline partials. Forms post normally without
JavaScript (redirect after success); with htmx, invalid input answers 422 with
the form's partial, and success navigates with ``HX-Redirect`` (object pages)
or re-renders the panel from fresh data (approvals and clearances).
"""

import datetime as dt
from collections import defaultdict
from uuid import UUID

from django.contrib import messages
from django.contrib.humanize.templatetags.humanize import apnumber
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from audit.models import AuditEvent
from audit.words import changed_settings
from governance import services
from governance.access import role_required
from governance.forms import (
    ApprovalForm,
    BackendForm,
    CategoryForm,
    ClearanceForm,
    FindingMatrixForm,
    RuleForm,
    TermListForm,
    UnknownParty,
    resolve_party,
    switch_refusal,
    switch_value,
)
from governance.models import (
    Approval,
    Backend,
    Category,
    Clearance,
    DetectionRule,
    ProtectedTermList,
)
from governance.policy import PROHIBITED_LEVEL, unmet_requirements
from governance.roles import Role
from governance.views.common import wants_partial

DPA_WARNING_DAYS = 30
HISTORY_LENGTH = 25
HISTORY_FIELDS = (
    "sequence", "occurred_at", "actor_label", "action", "outcome", "message", "before", "after",
)  # fmt: skip
BACKEND_TEST_TIMEOUT = 10  # seconds

policy_admin = role_required(Role.POLICY_ADMIN)


# --- helpers ---------------------------------------------------------------------------


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """After a change: navigate there (htmx never gets a 302)."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _page(request: HttpRequest, template: str, partial: str, ctx: dict, form) -> HttpResponse:
    """The whole page, or only ``partial`` for htmx; 422 when the form has errors."""
    if wants_partial(request):
        template += f"#{partial}"
    status = 422 if form is not None and form.is_bound and form.errors else 200
    return render(request, template, ctx, status=status)


def _refusal(form, exc: services.PolicyError) -> None:
    for message in exc.args:
        form.add_error(None, message)


def history_of(obj) -> list[AuditEvent]:
    """The latest audit events about ``obj`` (events outlive their target), each with the
    settings it changed in words."""
    kind = obj._meta.label_lower
    target_id = str(getattr(obj, "public_id", None) or obj.pk)
    events = list(
        AuditEvent.objects.filter(target_type=kind, target_id=target_id).only(*HISTORY_FIELDS)[
            :HISTORY_LENGTH
        ]
    )
    for event in events:
        event.changes = changed_settings(event.before, event.after, kind)
    return events


def _dpa_warning(backend: Backend, today: dt.date) -> str:
    if not backend.dpa_signed or backend.dpa_expires_on is None:
        return ""
    days = (backend.dpa_expires_on - today).days
    if days < 0:
        return "expired"
    return "expiring" if days <= DPA_WARNING_DAYS else ""


# --- the hub ---------------------------------------------------------------------------


@require_GET
@policy_admin
def policy(request: HttpRequest) -> HttpResponse:
    """The console's hub: categories and their routing, backends, rules and term lists."""
    today = timezone.localdate()
    categories = Category.objects.prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("backend")),
        Prefetch("clearances", queryset=Clearance.objects.select_related("group", "user")),
    )
    backends = list(Backend.objects.annotate(approval_count=Count("approvals")))
    for backend in backends:
        backend.dpa_warning = _dpa_warning(backend, today)
    return render(
        request,
        "governance/policy.html",
        {
            "categories": categories,
            "backends": backends,
            "today": today,
            "rule_count": DetectionRule.objects.filter(is_active=True).count(),
            "term_list_count": ProtectedTermList.objects.filter(is_active=True).count(),
        },
    )


# --- backends --------------------------------------------------------------------------


def _backend(public_id: UUID) -> Backend:
    return get_object_or_404(Backend, public_id=public_id)


def _backend_url(backend: Backend) -> str:
    return reverse("governance:backend", kwargs={"public_id": backend.public_id})


@require_http_methods(["GET", "POST"])
@policy_admin
def backend_new(request: HttpRequest) -> HttpResponse:
    """Add a backend: an LLM endpoint and the attributes routing is decided on."""
    form = BackendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        backend = services.save_backend(
            backend=None,
            values=form.values(),
            credential=form.cleaned_data["credential"],
            actor=request.user,
        )
        messages.success(
            request,
            f"{backend.name} added.{_key_replaced(form)} Approve it for categories next.",
        )
        return _go(request, _backend_url(backend))
    ctx = {"form": form, "backend": None}
    return _page(request, "governance/backend_form.html", "backend-form", ctx, form)


def _key_replaced(form: BackendForm) -> str:
    """The save message's word on a typed key that replaced the variable named beside it."""
    if not form.replaced_variable:
        return ""
    return f" The key you typed replaces the variable {form.replaced_variable}."


@require_http_methods(["GET", "POST"])
@policy_admin
def backend_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Edit a backend. The stored credential is never shown: it can only be replaced."""
    backend = _backend(public_id)
    form = BackendForm(request.POST or None, instance=backend)
    if request.method == "POST" and form.is_valid():
        saved = services.save_backend(
            backend=backend,
            values=form.values(),
            credential=form.cleaned_data["credential"],
            remove_credential=form.cleaned_data["remove_credential"],
            actor=request.user,
        )
        messages.success(request, f"{saved.name} saved.{_key_replaced(form)}")
        if saved.credential_notice:
            messages.warning(request, saved.credential_notice)
        return _go(request, _backend_url(backend))
    backend.refresh_from_db()  # the form's cleaning touched the instance
    today = timezone.localdate()
    approvals = list(backend.approvals.select_related("category"))
    for approval in approvals:
        approval.problems = unmet_requirements(approval.category, backend, today=today)
    ctx = {
        "form": form,
        "backend": backend,
        "approvals": approvals,
        "dpa_warning": _dpa_warning(backend, today),
        "history": history_of(backend),
    }
    return _page(request, "governance/backend_form.html", "backend-form", ctx, form)


def refused_switch(name: str) -> HttpResponse:
    """The answer to an on/off button posted with neither 1 nor 0: nothing is changed."""
    return HttpResponseBadRequest(switch_refusal(name), content_type="text/plain; charset=utf-8")


@require_POST
@policy_admin
def backend_state(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Enable or disable a backend (``enabled`` = 1 or 0)."""
    backend = _backend(public_id)
    enabled = switch_value(request.POST, "enabled")
    if enabled is None:
        return refused_switch("enabled")
    services.set_backend_enabled(backend=backend, enabled=enabled, actor=request.user)
    messages.success(request, f"{backend.name} {'enabled' if enabled else 'disabled'}.")
    return _go(request, _backend_url(backend))


@require_POST
@policy_admin
def backend_test(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Call the backend with its real client ("test connection") and show its health."""
    backend = services.test_backend_connection(
        backend=_backend(public_id), actor=request.user, timeout=BACKEND_TEST_TIMEOUT
    )
    if request.htmx:  # the health panel, and the history beside it with the test in it
        health = render_to_string(
            "governance/backend_form.html#backend-health", {"backend": backend}, request
        )
        history = render_to_string(
            "governance/partials/history.html",
            {"history": history_of(backend), "oob": True},
            request,
        )
        return HttpResponse(health + history)
    if backend.health_error:
        messages.error(request, f"{backend.name}: {backend.health_error}")
    else:
        messages.success(request, f"{backend.name} answered in {backend.health_latency_ms} ms.")
    return redirect(_backend_url(backend))


@require_POST
@policy_admin
def backend_delete(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Delete a backend that no category is approved to use."""
    backend = _backend(public_id)
    try:
        services.delete_backend(backend=backend, actor=request.user)
    except services.PolicyError as exc:
        messages.error(request, " ".join(exc.args))
        return _go(request, _backend_url(backend))
    messages.success(request, f"{backend.name} deleted.")
    return _go(request, reverse("governance:policy"))


# --- approvals -------------------------------------------------------------------------


def _approvals_ctx(form: ApprovalForm) -> dict:
    today = timezone.localdate()
    approvals = list(
        Approval.objects.select_related("category", "backend", "approved_by").order_by(
            "category__number", "preference", "backend__name"
        )
    )
    for approval in approvals:
        approval.problems = unmet_requirements(approval.category, approval.backend, today=today)
    return {"form": form, "approvals": approvals, "preference_ties": _preference_ties(approvals)}


def _preference_ties(approvals: list[Approval]) -> list[str]:
    """A notice for each preference that backends able to serve a category share: the engine
    then tries them by name (``eligible_backends``), an order nobody chose. ``approvals``
    carry their ``problems``; a disabled backend, or one that no longer meets the
    category's requirements, is not tried at all."""
    sharing = defaultdict(list)
    for approval in approvals:
        if approval.backend.enabled and not approval.problems:
            sharing[(approval.category, approval.preference)].append(approval.backend.name)
    return [
        f"{capfirst(apnumber(len(names)))} backends share preference {preference} for "
        f"{category.name}: {min(names)} is tried first (by name). Give each its own number "
        "to choose."
        for (category, preference), names in sharing.items()
        if len(names) > 1
    ]


@require_http_methods(["GET", "POST"])
@policy_admin
def approvals(request: HttpRequest) -> HttpResponse:
    """Which backend serves which category, and the form to approve another."""
    initial = {"category": request.GET.get("category"), "backend": request.GET.get("backend")}
    form = ApprovalForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.approve_backend(
                category=data["category"],
                backend=data["backend"],
                preference=data["preference"],
                actor=request.user,
            )
        except services.PolicyError as exc:
            _refusal(form, exc)
        else:
            messages.success(
                request, f"{data['backend'].name} approved for {data['category'].name}."
            )
            if not wants_partial(request):
                return redirect("governance:approvals")
            form = ApprovalForm()
    ctx = _approvals_ctx(form)
    return _page(request, "governance/approvals.html", "approvals-panel", ctx, form)


def _approval(category: str, backend: UUID) -> Approval:
    return get_object_or_404(
        Approval.objects.select_related("category", "backend"),
        category__slug=category,
        backend__public_id=backend,
    )


def _approvals_after(request: HttpRequest) -> HttpResponse:
    """After a change: back to the page, or for htmx the panel afresh."""
    if not wants_partial(request):
        return redirect("governance:approvals")
    ctx = _approvals_ctx(ApprovalForm())
    return _page(request, "governance/approvals.html", "approvals-panel", ctx, None)


@require_POST
@policy_admin
def approval_preference(request: HttpRequest, category: str, backend: UUID) -> HttpResponse:
    """Move a backend up or down among those approved for a category."""
    approval = _approval(category, backend)
    field = ApprovalForm.base_fields["preference"]
    try:
        preference = field.clean(request.POST.get("preference", ""))
    except ValidationError as exc:
        ctx = _approvals_ctx(ApprovalForm())
        ctx["preference_error"] = {"pk": approval.pk, "message": exc.messages[0]}
        ctx["preference_typed"] = request.POST.get("preference", "")[:20]
        response = _page(request, "governance/approvals.html", "approvals-panel", ctx, None)
        response.status_code = 422
        return response
    services.set_approval_preference(approval=approval, preference=preference, actor=request.user)
    messages.success(
        request,
        f"{approval.backend.name} now has preference {preference} for {approval.category.name}.",
    )
    return _approvals_after(request)


@require_POST
@policy_admin
def approval_revoke(request: HttpRequest, category: str, backend: UUID) -> HttpResponse:
    """Withdraw a backend's approval for a category."""
    approval = _approval(category, backend)
    services.revoke_approval(approval=approval, actor=request.user)
    messages.success(request, f"{approval.backend.name} no longer serves {approval.category.name}.")
    return _approvals_after(request)


# --- clearances ------------------------------------------------------------------------


def _clearances_ctx(form: ClearanceForm) -> dict:
    clearances = Clearance.objects.select_related("category", "group", "user", "granted_by")
    categories = list(Category.objects.order_by("number"))
    by_category = {c.pk: [] for c in categories}
    for clearance in clearances:
        by_category[clearance.category_id].append(clearance)
    for category in categories:
        category.cleared = sorted(
            by_category[category.pk],
            key=lambda c: (c.user_id is not None, str(c.group or c.user).lower()),
        )
    return {"form": form, "categories": categories}


@require_http_methods(["GET", "POST"])
@policy_admin
def clearances(request: HttpRequest) -> HttpResponse:
    """Who may use which category: role groups and single people."""
    form = ClearanceForm(request.POST or None, initial={"category": request.GET.get("category")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.grant_clearance(
                category=data["category"],
                group=data["group"],
                user=data["user"],
                actor=request.user,
            )
        except services.PolicyError as exc:
            _refusal(form, exc)
        else:
            who = data["group"] or data["user"]
            messages.success(request, f"{who} may now use {data['category'].name}.")
            if not wants_partial(request):
                return redirect("governance:clearances")
            form = ClearanceForm()
    ctx = _clearances_ctx(form)
    return _page(request, "governance/clearances.html", "clearances-panel", ctx, form)


@require_POST
@policy_admin
def clearance_revoke(request: HttpRequest) -> HttpResponse:
    """Withdraw one clearance, named by category and party (``group:<name>``/``user:<id>``, as
    the buttons send it, or as the form takes it); a party that names no one is a 404."""
    # The category first: a NUL in it is the client's 400 however the party reads.
    category = get_object_or_404(Category, slug=request.POST.get("category", ""))
    try:
        party = resolve_party(request.POST.get("party", ""), active_only=False)
    except UnknownParty:
        raise Http404 from None
    found = Clearance.objects.select_related("category", "group", "user").filter(category=category)
    clearance = get_object_or_404(found.of_party(party))
    services.revoke_clearance(clearance=clearance, actor=request.user)
    messages.success(
        request, f"{clearance.group or clearance.user} may no longer use {clearance.category.name}."
    )
    if not wants_partial(request):
        return redirect("governance:clearances")
    ctx = _clearances_ctx(ClearanceForm())
    return _page(request, "governance/clearances.html", "clearances-panel", ctx, None)


# --- categories ------------------------------------------------------------------------


def _category_url(category: Category) -> str:
    return reverse("governance:category", kwargs={"slug": category.slug})


@require_http_methods(["GET", "POST"])
@policy_admin
def category_new(request: HttpRequest) -> HttpResponse:
    """Define a category: its level, retention and routing requirements."""
    form = CategoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        category = services.save_category(category=None, values=form.values(), actor=request.user)
        messages.success(request, f"{category} created. Approve backends and clear people next.")
        return _go(request, _category_url(category))
    ctx = {"form": form, "category": None}
    return _page(request, "governance/category_form.html", "category-form", ctx, form)


def _category_ctx(category: Category, form, matrix) -> dict:
    approvals = list(category.approvals.select_related("backend"))
    today = timezone.localdate()
    for approval in approvals:
        approval.problems = unmet_requirements(category, approval.backend, today=today)
    return {
        "category": category,
        "form": form,
        "matrix": matrix,
        "blocks_everything": category.blocks_all or category.number >= PROHIBITED_LEVEL,
        "approvals": approvals,
        "preference_ties": _preference_ties(approvals),
        "clearances": list(category.clearances.select_related("group", "user")),
        "history": history_of(category),
        "raising_rules": _rules_raising_to(category),
    }


def _rules_raising_to(category: Category) -> int:
    """The active rules that raise messages to ``category``: once it is retired, the policy
    blocks what they match (it fails closed on a category it cannot find)."""
    return DetectionRule.objects.filter(
        is_active=True, action=DetectionRule.Action.ESCALATE, min_category=category
    ).count()


@require_http_methods(["GET", "POST"])
@policy_admin
def category_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Edit a category; the finding matrix has its own form below."""
    category = get_object_or_404(Category, slug=slug)
    form = CategoryForm(request.POST or None, instance=category)
    if request.method == "POST" and form.is_valid():
        services.save_category(category=category, values=form.values(), actor=request.user)
        saved = f"{category} saved."
        if cut := form.retention_cut:
            saved += f" {cut.outcome}"
        messages.success(request, saved)
        return _go(request, _category_url(category))
    category.refresh_from_db()
    ctx = _category_ctx(category, form, FindingMatrixForm(category=category))
    return _page(request, "governance/category_form.html", "category-form", ctx, form)


@require_POST
@policy_admin
def category_findings(request: HttpRequest, slug: str) -> HttpResponse:
    """The finding matrix of one category: what each finding type does in it."""
    category = get_object_or_404(Category, slug=slug)
    matrix = FindingMatrixForm(request.POST, category=category)
    if matrix.is_valid():
        services.set_finding_actions(
            category=category, actions=matrix.actions(), actor=request.user
        )
        messages.success(request, f"Finding actions of {category} saved.")
        return _go(request, _category_url(category))
    ctx = _category_ctx(category, CategoryForm(instance=category), matrix)
    return _page(request, "governance/category_form.html", "finding-matrix", ctx, matrix)


@require_POST
@policy_admin
def category_state(request: HttpRequest, slug: str) -> HttpResponse:
    """Retire a category (nobody can pick it any more) or bring it back (``active`` = 1/0)."""
    category = get_object_or_404(Category, slug=slug)
    active = switch_value(request.POST, "active")
    if active is None:
        return refused_switch("active")
    services.set_category_active(category=category, active=active, actor=request.user)
    messages.success(request, f"{category} {'reactivated' if active else 'retired'}.")
    raising = 0 if active else _rules_raising_to(category)
    if raising:
        rules, it = ("rule raises", "it") if raising == 1 else ("rules raise", "they")
        messages.warning(
            request,
            f"{raising} active detection {rules} messages to {category.name}: what {it} "
            f"match{'es' if it == 'it' else ''} is blocked until {it} name"
            f"{'s' if it == 'it' else ''} another category.",
        )
    return _go(request, _category_url(category))


# --- detection rules -------------------------------------------------------------------


def _rule_url(rule: DetectionRule) -> str:
    return reverse("governance:rule", kwargs={"public_id": rule.public_id})


@require_GET
@policy_admin
def rules(request: HttpRequest) -> HttpResponse:
    """Every detection rule: what it looks for and what a match does."""
    found = DetectionRule.objects.select_related("min_category").order_by("-is_active", "name")
    return render(request, "governance/rules.html", {"rules": found})


@require_http_methods(["GET", "POST"])
@policy_admin
def rule_new(request: HttpRequest) -> HttpResponse:
    """Add a rule: keywords or a regular expression, checked before it is saved."""
    form = RuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        rule = services.save_rule(rule=None, values=form.values(), actor=request.user)
        messages.success(request, f"Rule “{rule.name}” added.")
        return _go(request, _rule_url(rule))
    return _page(request, "governance/rule_form.html", "rule-form", {"form": form}, form)


@require_http_methods(["GET", "POST"])
@policy_admin
def rule_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Edit a rule."""
    rule = get_object_or_404(DetectionRule, public_id=public_id)
    form = RuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        services.save_rule(rule=rule, values=form.values(), actor=request.user)
        messages.success(request, f"Rule “{form.cleaned_data['name']}” saved.")
        return _go(request, _rule_url(rule))
    rule.refresh_from_db()
    ctx = {"form": form, "rule": rule, "history": history_of(rule)}
    return _page(request, "governance/rule_form.html", "rule-form", ctx, form)


@require_POST
@policy_admin
def rule_state(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Switch a rule off or on (``active`` = 1/0)."""
    rule = get_object_or_404(DetectionRule, public_id=public_id)
    active = switch_value(request.POST, "active")
    if active is None:
        return refused_switch("active")
    services.save_rule(rule=rule, values={"is_active": active}, actor=request.user)
    messages.success(request, f"Rule “{rule.name}” {'switched on' if active else 'switched off'}.")
    return _go(request, _rule_url(rule))


@require_POST
@policy_admin
def rule_delete(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Delete a rule for good."""
    rule = get_object_or_404(DetectionRule, public_id=public_id)
    services.delete_rule(rule=rule, actor=request.user)
    messages.success(request, f"Rule “{rule.name}” deleted.")
    return _go(request, reverse("governance:rules"))


# --- protected-term lists ---------------------------------------------------------------


def _term_list_url(term_list: ProtectedTermList) -> str:
    return reverse("governance:term_list", kwargs={"public_id": term_list.public_id})


#: How many of the terms just saved the message shows: enough to see how a paste was read
#: (a name cut at its comma), few enough that the list is not shown back.
TERMS_SHOWN_ON_SAVE = 5
TERM_SHOWN_CHARS = 60


def _say_terms_saved(request: HttpRequest, term_list: ProtectedTermList, form) -> None:
    messages.success(request, _terms_saved(term_list, form.pasted_terms()))
    if form.heading_notice:  # a first row of column headings, left out
        messages.warning(request, form.heading_notice)


def _terms_saved(term_list: ProtectedTermList, terms: list[str] | None) -> str:
    """The message of a save: how many terms the list holds and, when the save pasted them,
    the first few as they were read, in the order given (the pages never show them again).

    The message travels in the messages cookie (signed, HttpOnly) to the next page, once.
    """
    count = term_list.term_count
    said = f"“{term_list.name}” saved with {count} term{pluralize(count)}"
    if not terms:
        return said + "."
    given = list(dict.fromkeys(term.strip() for term in terms if term.strip()))
    shown = [
        term if len(term) <= TERM_SHOWN_CHARS else term[: TERM_SHOWN_CHARS - 1] + "…"
        for term in given[:TERMS_SHOWN_ON_SAVE]
    ]
    more = len(given) - len(shown)
    return (
        f"{said}: "
        + " · ".join(f"“{term}”" for term in shown)
        + (f" and {more} more." if more else ".")
    )


@require_GET
@policy_admin
def term_lists(request: HttpRequest) -> HttpResponse:
    """Every protected-term list: its kind, size and last change. Never its terms."""
    found = ProtectedTermList.objects.defer("terms_sealed").order_by("-is_active", "name")
    return render(request, "governance/term_lists.html", {"term_lists": found})


@require_http_methods(["GET", "POST"])
@policy_admin
def term_list_new(request: HttpRequest) -> HttpResponse:
    """Add a list: pasted lines or an uploaded CSV file."""
    form = TermListForm(request.POST or None, request.FILES or None, skip_headings=True)
    if request.method == "POST" and form.is_valid():
        term_list = services.save_term_list(
            term_list=None,
            values=form.values(),
            terms=form.cleaned_data["terms"],
            actor=request.user,
        )
        _say_terms_saved(request, term_list, form)
        return _go(request, _term_list_url(term_list))
    return _page(request, "governance/term_list_form.html", "term-list-form", {"form": form}, form)


@require_http_methods(["GET", "POST"])
@policy_admin
def term_list_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Rename a list or replace all its terms. The terms are never shown."""
    term_list = get_object_or_404(
        ProtectedTermList.objects.defer("terms_sealed"), public_id=public_id
    )
    form = TermListForm(
        request.POST or None, request.FILES or None, instance=term_list, skip_headings=True
    )
    if request.method == "POST" and form.is_valid():
        term_list = services.save_term_list(
            term_list=term_list,
            values=form.values(),
            terms=form.cleaned_data["terms"],
            actor=request.user,
        )
        _say_terms_saved(request, term_list, form)
        return _go(request, _term_list_url(term_list))
    term_list.refresh_from_db(fields=["name", "kind", "term_count", "is_active", "updated_at"])
    ctx = {"form": form, "term_list": term_list, "history": history_of(term_list)}
    return _page(request, "governance/term_list_form.html", "term-list-form", ctx, form)


@require_POST
@policy_admin
def term_list_state(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Switch a list off or on (``active`` = 1/0)."""
    term_list = get_object_or_404(ProtectedTermList, public_id=public_id)
    active = switch_value(request.POST, "active")
    if active is None:
        return refused_switch("active")
    services.save_term_list(
        term_list=term_list, values={"is_active": active}, terms=None, actor=request.user
    )
    messages.success(request, f"“{term_list.name}” {'switched on' if active else 'switched off'}.")
    return _go(request, _term_list_url(term_list))


@require_POST
@policy_admin
def term_list_delete(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Delete a list and its sealed terms."""
    term_list = get_object_or_404(ProtectedTermList, public_id=public_id)
    services.delete_term_list(term_list=term_list, actor=request.user)
    messages.success(request, f"“{term_list.name}” deleted.")
    return _go(request, reverse("governance:term_lists"))
