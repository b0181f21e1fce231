"""The dashboard (one section per role) and the liveness probe."""

import datetime as dt
import time
from typing import TYPE_CHECKING

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit.models import AuditEvent
from governance.models import Backend, Category, User
from governance.roles import Role, roles_of
from governance.tasks import HEARTBEAT_CACHE_KEY

if TYPE_CHECKING:
    from training.services import AckStatus

#: How many of a staff member's conversations the dashboard lists (the chat page has all).
NEWEST_CONVERSATIONS = 5
#: How far back the dashboard looks for the backends' real answers: the trail's newest events
#: (a key range of the primary key: cheap however long the trail).
RECENT_EVENTS = 5000


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: one section per role the user holds."""
    roles = roles_of(request.user)
    ctx: dict = {"roles": roles}
    if Role.STAFF in roles:
        ctx["my_categories"] = Category.objects.cleared_for(request.user).sendable()
        ctx["my_conversations"] = _newest_conversations(request.user)
        ctx["to_acknowledge"] = _policy_to_acknowledge(request.user)
    if Role.POLICY_ADMIN in roles:
        ctx["policy"] = _policy_summary()
    if Role.PRIVACY_OFFICER in roles:
        ctx["retention"] = Category.objects.filter(is_active=True)
        ctx["privacy"] = _privacy_summary(request.user)
    if Role.AUDITOR in roles:
        ctx["audit"] = _audit_summary()
    return render(request, "governance/home.html", ctx)


def _newest_conversations(user: User) -> dict:
    from chat.access import conversations_listed_for

    listed = conversations_listed_for(user)
    return {"newest": list(listed[:NEWEST_CONVERSATIONS]), "count": listed.count()}


def _policy_to_acknowledge(user: User) -> "AckStatus | None":
    """The policy version ``user`` still has to acknowledge, as the chat gate sees it (an
    ``AckStatus``: its ``due`` is the grace period's end, None when no grace applies), or
    None. The gate's own reading: the policy version, then one index look-up for someone
    who acknowledged, two for someone still to."""
    from training.services import acknowledgement_status

    status = acknowledgement_status(user)
    if status.current is None or status.acknowledged:
        return None
    return status


def _policy_summary() -> dict:
    today = timezone.localdate()
    backends = list(Backend.objects.annotate(category_count=Count("approvals")))
    lately = _answers_lately()
    for backend in backends:
        backend.badge = backend_badge(backend, lately.get(backend.name))
    return {
        "category_count": Category.objects.filter(is_active=True).count(),
        "backends": backends,
        "ready_backends": sum(1 for b in backends if b.enabled and not b.key_missing),
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


def _answers_lately() -> dict[str, tuple[bool, dt.datetime]]:
    """For each backend named in the trail's newest events: whether its last real answer
    came (or the backend failed it), and when. Failures that are Steward's own are left out."""
    from audit.reports import STEWARD_FAILURE_KINDS

    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    if head is None:
        return {}
    events = (
        AuditEvent.objects.filter(
            sequence__gt=head - RECENT_EVENTS,
            action__in=(AuditEvent.Action.CHAT_RESPONSE, AuditEvent.Action.CHAT_FAILURE),
        )
        .exclude(backend="")
        .order_by("sequence")
        .values_list("backend", "action", "occurred_at", "details")
    )
    lately = {}
    for backend, action, occurred_at, details in events:
        details = details or {}
        if action == AuditEvent.Action.CHAT_FAILURE and (
            details.get("stage") != "backend" or details.get("kind") in STEWARD_FAILURE_KINDS
        ):
            continue
        lately[backend] = (action == AuditEvent.Action.CHAT_RESPONSE, occurred_at)
    return lately


def backend_badge(backend: Backend, lately: tuple[bool, dt.datetime] | None) -> dict:
    """The dashboard's word for a backend: from its settings, then from whichever is newer of
    its last real answer and its last "Test connection"."""
    if not backend.enabled:
        return {"label": "disabled", "tone": "muted", "title": ""}
    if backend.key_missing:
        return {
            "label": "no key",
            "tone": "warn",
            "title": f"{backend.credential_env} is not set on this server",
        }
    tested = backend.health_checked_at
    if lately is not None and (tested is None or lately[1] > tested):
        answered, at = lately
        when = timezone.localtime(at).strftime("%d %b %Y, %H:%M")
        if answered:
            return {"label": "answering", "tone": "ok", "title": f"Last answer {when}"}
        return {"label": "failing", "tone": "danger", "title": f"Its last answer failed, {when}"}
    if backend.health_error:
        return {"label": "unhealthy", "tone": "danger", "title": backend.health_error}
    if tested is not None:
        return {"label": "healthy", "tone": "ok", "title": "Test connection passed"}
    return {
        "label": "not tested",
        "tone": "muted",
        "title": "No answer lately: Test connection on its page checks it",
    }


def _privacy_summary(user: User) -> dict:
    from privacy.access import yours_to_approve, yours_to_confirm
    from privacy.models import LegalHold, SubjectRequest

    today = timezone.localdate()
    open_requests = SubjectRequest.objects.filter(status__in=SubjectRequest.OPEN)
    # The desk's rules (privacy.access), over the few rows they can be true of.
    scoped = (
        SubjectRequest.objects.filter(status=SubjectRequest.Status.SCOPED)
        .exclude(scoped_by=user)
        .only("status", "scoped_by", "subject_user", "digests")
    )
    asked = (
        LegalHold.objects.filter(released_at__isnull=True, release_asked_at__isnull=False)
        .exclude(release_asked_by=user)
        .select_related("conversation")
        .only("user", "released_at", "release_asked_at", "release_asked_by", "conversation__owner")
    )
    return {
        "open": open_requests.count(),
        "due_soon": open_requests.filter(due_on__lte=today + dt.timedelta(days=7)).count(),
        "overdue": open_requests.filter(due_on__lt=today).count(),
        "to_approve": sum(yours_to_approve(request, user) for request in scoped),
        "to_confirm": sum(yours_to_confirm(hold, user) for hold in asked),
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
    response = JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )
    # A 503 here is the answer, not Steward's error: django.request logged each at ERROR,
    # a line per probe (156 while serve waited on a Redis that was down). The access log
    # still has each one.
    response._has_been_logged = True
    return response
