"""Accounts and roles: invite, change roles, deactivate."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from audit.models import AuditEvent
from governance.access import get_user_for_admin, role_required
from governance.forms import ROLE_HELP, InviteForm, RolesForm, switch_value
from governance.models import ERASED_DOMAIN, Category, User
from governance.roles import Role, roles_of
from governance.services import (
    PolicyError,
    invitation_failure,
    invite_user,
    resend_invitation,
    set_active,
    set_roles,
)
from governance.services.accounts import unconfirmed_sign_up, unconfirmed_sign_ups
from governance.views.common import pager_query, site_address, wants_partial
from governance.views.console import refused_switch

#: Rows of the people list per page, as on the training report.
PEOPLE_PER_PAGE = 100


@require_http_methods(["GET", "POST"])
@role_required(Role.POLICY_ADMIN)
def users(request: HttpRequest) -> HttpResponse:
    """Everyone with an account (a page at a time, found by name or email), their roles,
    and the invitation form.

    The filter's htmx requests get the list alone; an invitation's, the whole panel, with
    the list as it was filtered (the form posts to the page's own query string).
    """
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        invited = invite_user(
            email=form.cleaned_data["email"],
            full_name=form.cleaned_data["full_name"],
            roles=form.cleaned_data["roles"],
            actor=request.user,
            base_url=site_address(request),
        )
        _tell_invitation(
            request,
            invited,
            sent=f"Invitation sent to {invited.email}.",
            failed="Account created; the invitation email could not be sent",
        )
        if not wants_partial(request):
            return redirect(request.get_full_path())
        form = InviteForm()
    query = request.GET.get("q", "").strip()
    # An erased account keeps a row for the records that name it; nobody to manage.
    erased = Q(email__endswith=f"@{ERASED_DOMAIN}")
    people = User.objects.exclude(erased).prefetch_related("groups").order_by("-is_active", "email")
    if query:
        people = people.filter(Q(email__icontains=query) | Q(full_name__icontains=query))
    page = Paginator(people, PEOPLE_PER_PAGE).get_page(request.GET.get("page"))
    template = "governance/users.html"
    if wants_partial(request):
        template += "#users-panel" if request.method == "POST" else "#people-list"
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            "query": query,
            "pager_query": pager_query(q=query),
            "unconfirmed": unconfirmed_sign_ups(page.object_list),
            "accounts": User.objects.exclude(erased).count() if query else page.paginator.count,
            "erased": User.objects.filter(erased).count(),
            "role_help": ROLE_HELP,
            "every_role": Role.labels,  # a superuser's, who holds them without the groups
        },
        status=422 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.POLICY_ADMIN)
def user_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """One account: change roles, deactivate or reactivate, send the invitation again."""
    person = get_user_for_admin(request.user, public_id)
    form = RolesForm(initial={"roles": roles_of(person) if person.is_active else []})
    if request.method == "POST":
        try:
            if "active" in request.POST:
                if (active := switch_value(request.POST, "active")) is None:
                    return refused_switch("active")
                set_active(user=person, active=active, actor=request.user)
                messages.success(request, _activity_said(person))
                return _back_to(request, person)
            if "invite" in request.POST:
                resend_invitation(user=person, actor=request.user, base_url=site_address(request))
                _tell_invitation(
                    request,
                    person,
                    sent=f"Invitation sent again to {person.email}.",
                    failed="The invitation email could not be sent",
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
    # Sign-ins and sign-outs, one per working day, buried what changed: the trail has them.
    history = AuditEvent.objects.filter(
        Q(target_type="governance.user", target_id=str(person.public_id))
    ).exclude(action__in=[AuditEvent.Action.LOGIN, AuditEvent.Action.LOGOUT])[:20]
    return render(
        request,
        "governance/user_detail.html",
        {
            "person": person,
            "form": form,
            "role_help": ROLE_HELP,
            "history": history,
            "person_roles": roles_of(person),
            # One's own roles: give up, or take Staff; no other (services.set_roles refuses).
            "only_give_up": person.pk == request.user.pk,
            "access": _access_of(person),
            "unconfirmed": unconfirmed_sign_up(person),
        },
        status=422 if form.errors else 200,
    )


def _activity_said(person: User) -> str:
    """What (de)activating ``person`` did, for the person who clicked."""
    if person.is_active:
        return f"{person.email} is active again: they sign in afresh."
    ended = person.sessions_ended
    revoked = person.api_tokens_revoked
    return (
        f"{person.email} is now deactivated: {ended} session{pluralize(ended)} ended, "
        f"{revoked} API token{pluralize(revoked)} revoked."
    )


def _access_of(person: User) -> dict:
    """What the account may do and where it stands: its categories, second factor, the
    policy document and its API tokens (what an admin asks before changing its roles)."""
    from allauth.mfa.models import Authenticator

    from api.models import ApiToken
    from training.services import acknowledgement_status

    return {
        "categories": list(Category.objects.cleared_for(person).order_by("number")),
        "second_factor": Authenticator.objects.filter(user=person).exists(),
        "policy": acknowledgement_status(person),
        "tokens": ApiToken.objects.filter(user=person).usable().count(),
    }


@require_GET
@login_required
def own_email(request: HttpRequest) -> HttpResponse:
    """The sign-in address, read-only: allauth's page let anyone add any address (none is
    verified: they come from invitations or the company's sign-in) and make it primary,
    where audit filters and data-subject requests find people by it."""
    return render(request, "account/email.html")


def _tell_invitation(request: HttpRequest, person: User, *, sent: str, failed: str) -> None:
    """Say whether the invitation email went (it is sent once the account is committed)."""
    reason = invitation_failure(person)
    if reason:
        messages.error(request, f"{failed}: {reason}")
    else:
        messages.success(request, sent)


def _back_to(request: HttpRequest, person: User) -> HttpResponse:
    url = reverse("governance:user", kwargs={"public_id": person.public_id})
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
