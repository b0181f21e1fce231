import datetime as dt
import time
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from audit.models import AuditEvent
from governance.access import get_user_for_admin, role_required
from governance.forms import ROLE_HELP, InviteForm, RolesForm, SimulatorForm
from governance.models import Approval, Backend, Category, Clearance, User
from governance.roles import Role, roles_of
from governance.services import PolicyError, invite_user, set_active, set_roles
from governance.simulation import simulate
from governance.tasks import HEARTBEAT_CACHE_KEY


def wants_partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.boosted


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: one section per role the user holds."""
    roles = roles_of(request.user)
    ctx: dict = {"roles": roles}
    if Role.STAFF in roles:
        ctx["my_categories"] = Category.objects.cleared_for(request.user)
    if Role.POLICY_ADMIN in roles:
        ctx["policy"] = _policy_summary()
    if Role.PRIVACY_OFFICER in roles:
        ctx["retention"] = Category.objects.filter(is_active=True)
    if Role.AUDITOR in roles:
        ctx["audit"] = _audit_summary()
    return render(request, "governance/home.html", ctx)


def _policy_summary() -> dict:
    today = timezone.localdate()
    backends = list(Backend.objects.annotate(category_count=Count("approvals")))
    return {
        "category_count": Category.objects.filter(is_active=True).count(),
        "backends": backends,
        "enabled_backends": sum(1 for b in backends if b.enabled),
        "active_users": User.objects.filter(is_active=True).count(),
        "pending_invitations": User.objects.filter(is_active=True, last_login=None).count(),
        "dpa_warnings": [
            b
            for b in backends
            if b.dpa_expires_on and b.dpa_expires_on <= today + dt.timedelta(days=30)
        ],
        "today": today,
        "heartbeat_age": _heartbeat_age(),
    }


def _heartbeat_age() -> float | None:
    """Seconds since a worker last ran beat's heartbeat; None if never seen or Redis is down."""
    try:
        last = cache.get(HEARTBEAT_CACHE_KEY)
    except Exception:
        return None
    return None if last is None else max(0.0, time.time() - last)


def _audit_summary() -> dict:
    since = timezone.now() - dt.timedelta(hours=24)
    recent = AuditEvent.objects.filter(occurred_at__gte=since)
    return {
        "events_24h": recent.count(),
        "failed_logins_24h": recent.filter(action=AuditEvent.Action.LOGIN_FAILED).count(),
        "latest": AuditEvent.objects.select_related(None)[:6],
        "head": AuditEvent.objects.values("sequence", "hash").first(),
    }


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: database and Redis reachable. Reveals nothing else."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "error"
    try:
        cache.get("healthz")
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "error"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )


@require_GET
@role_required(Role.POLICY_ADMIN)
def policy(request: HttpRequest) -> HttpResponse:
    """The policy console's overview: categories and their routing, backends and attributes."""
    categories = Category.objects.prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("backend")),
        Prefetch("clearances", queryset=Clearance.objects.select_related("group", "user")),
    )
    backends = Backend.objects.all()
    return render(
        request,
        "governance/policy.html",
        {"categories": categories, "backends": backends, "today": timezone.localdate()},
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.POLICY_ADMIN)
def users(request: HttpRequest) -> HttpResponse:
    """Everyone with an account, their roles, and the invitation form."""
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        invited = invite_user(
            email=form.cleaned_data["email"],
            full_name=form.cleaned_data["full_name"],
            roles=form.cleaned_data["roles"],
            actor=request.user,
            base_url=request.build_absolute_uri("/").rstrip("/"),
        )
        messages.success(request, f"Invitation sent to {invited.email}.")
        if not wants_partial(request):
            return redirect("governance:users")
        form = InviteForm()
    people = User.objects.prefetch_related("groups").order_by("-is_active", "email")
    template = "governance/users.html"
    if wants_partial(request):
        template += "#users-panel"
    return render(
        request,
        template,
        {"form": form, "people": people, "role_help": ROLE_HELP},
        status=422 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.POLICY_ADMIN)
def user_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """One account: change roles, deactivate or reactivate."""
    person = get_user_for_admin(request.user, public_id)
    form = RolesForm(initial={"roles": roles_of(person) if person.is_active else []})
    if request.method == "POST":
        try:
            if "active" in request.POST:
                set_active(user=person, active=request.POST["active"] == "1", actor=request.user)
                messages.success(
                    request,
                    f"{person.email} is now {'active' if person.is_active else 'deactivated'}.",
                )
                return _back_to(request, person)
            form = RolesForm(request.POST)
            if form.is_valid():
                set_roles(user=person, roles=form.cleaned_data["roles"], actor=request.user)
                messages.success(request, f"Roles of {person.email} saved.")
                return _back_to(request, person)
        except PolicyError as exc:
            messages.error(request, str(exc))
            return _back_to(request, person)
    history = AuditEvent.objects.filter(
        Q(target_type="governance.user", target_id=str(person.public_id))
    )[:20]
    return render(
        request,
        "governance/user_detail.html",
        {
            "person": person,
            "form": form,
            "role_help": ROLE_HELP,
            "history": history,
            "person_roles": roles_of(person),
        },
        status=422 if form.errors else 200,
    )


def _back_to(request: HttpRequest, person: User) -> HttpResponse:
    url = reverse("governance:user", kwargs={"public_id": person.public_id})
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_http_methods(["GET", "POST"])
@role_required(Role.POLICY_ADMIN)
def simulator(request: HttpRequest) -> HttpResponse:
    """Paste text, pick a sender and a category: see the findings and the exact decision.

    Nothing is sent, stored or logged: the text lives only in this request.
    """
    categories = Category.objects.filter(is_active=True)
    form = SimulatorForm(
        request.POST or None, categories=categories, initial={"user": request.user.public_id}
    )
    result = None
    if request.method == "POST" and form.is_valid():
        result = simulate(
            user=form.cleaned_data["user"],
            chosen=form.cleaned_data["category"],
            text=form.cleaned_data["text"],
        )
    template = "governance/simulator.html"
    if wants_partial(request):
        template += "#simulator"
    return render(
        request,
        template,
        {"form": form, "result": result},
        status=422 if form.errors else 200,
    )


@require_GET
@role_required(Role.PRIVACY_OFFICER)
def privacy(request: HttpRequest) -> HttpResponse:
    """The privacy officer's desk: retention windows now; requests and purges as they land."""
    return render(
        request, "governance/privacy.html", {"categories": Category.objects.filter(is_active=True)}
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = str(exception) if exception and str(exception) else ""
    return render(request, "403.html", {"reason": reason}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors here: the database may be what failed.
    from django.template.loader import get_template

    return HttpResponse(get_template("500.html").render({}), status=500)
