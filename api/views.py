"""The user's settings page for personal API tokens: make one (shown once, after a recent
sign-in), revoke one or all; the REST API's answer for an address under /api/ that
names no endpoint; and its docs page."""

from urllib.parse import urlencode
from uuid import UUID

from allauth.account import app_settings as account_settings
from allauth.account.adapter import get_adapter
from allauth.account.decorators import reauthentication_required
from allauth.core.exceptions import ReauthenticationRequired
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.exceptions import NotAuthenticated

from api import services
from api.access import get_token_for_user
from api.forms import TokenForm
from api.models import ApiToken
from governance.roles import Role
from training.services import needs_acknowledgement

#: The new token's name and expiry, kept in the session while its maker confirms it is them.
DRAFT_KEY = "api.token_draft"
NO_WAY_TO_CONFIRM = (
    "Making a token needs you to confirm it is you, and your account has no password and "
    "no second factor to confirm with: sign out and sign in again with single sign-on, then "
    "make the token within five minutes; or set up Two-factor authentication (under your "
    "name); or ask an operator for one (manage.py create_api_token)."
)


def wants_partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.boosted


@require_http_methods(["GET", "POST"])
@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """The user's tokens and the form for a new one; a new token is shown on this answer only.

    Making one asks for a recent sign-in (:func:`_make`). Who must confirm it is them first
    is sent to do so (:func:`_confirm_first`) and comes back to this form as they filled it
    in, to press Create token once more: the token is made by a request they can see.
    """
    draft = request.session.pop(DRAFT_KEY, None) if request.method == "GET" else None
    form = TokenForm(request.POST or None, initial=draft)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = _make(request, form.cleaned_data)
        except ReauthenticationRequired:
            return _confirm_first(request, form)
        form = TokenForm()
    response = _page(
        request,
        form,
        created=created,
        secret=secret,
        draft=draft,
        status=422 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"  # the page may hold a token's only copy
    return response


@reauthentication_required
def _make(request: HttpRequest, data: dict) -> tuple[ApiToken, str]:
    """A new token, once allauth's reauthentication is recent (ACCOUNT_REAUTHENTICATION_TIMEOUT;
    a password typed to sign in counts too, governance.adapters): a session alone, a stolen
    cookie, cannot make a credential that outlives it. Raises ReauthenticationRequired."""
    return services.create_token(
        user=request.user,
        name=data["name"],
        expires_in_days=data["expires_in_days"],
        actor=request.user,
    )


def _confirm_first(request: HttpRequest, form: TokenForm) -> HttpResponse:
    """Send the person to allauth's page to confirm it is them (the password, or the second
    factor; the first way their account has), keeping what they typed for the way back."""
    ways = get_adapter(request).get_reauthentication_methods(request.user)
    if not ways:  # single sign-on without a second factor: nothing to confirm with
        messages.error(request, NO_WAY_TO_CONFIRM)
        return _page(request, form, status=422)  # 422: htmx swaps it, as a form's mistakes
    name = form.cleaned_data["name"]
    request.session[DRAFT_KEY] = {
        "name": name,
        "expires_in_days": form.cleaned_data["expires_in_days"] or 0,
    }
    minutes = account_settings.REAUTHENTICATION_TIMEOUT // 60
    messages.info(
        request,
        f"To make a token, confirm it is you first (Steward asks unless you typed your "
        f"password in the last {minutes} minutes). “{name}” is not made yet: afterwards you "
        "are back on your tokens, the form as you filled it in.",
    )
    url = f"{ways[0]['url']}?{urlencode({REDIRECT_FIELD_NAME: reverse('api:tokens')})}"
    if request.htmx:  # a 302 would bring the sign-in page into the panel
        return HttpResponseClientRedirect(url)
    return redirect(url)


@require_POST
@login_required
def token_revoke(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Revoke one of the user's tokens."""
    token = get_token_for_user(request.user, public_id)
    services.revoke_token(token=token, actor=request.user)
    messages.success(request, f"“{token.name}” ({token.lookup}…) revoked: it no longer works.")
    if wants_partial(request):
        return _page(request, TokenForm(), partial=True)
    return redirect(reverse("api:tokens"))


@require_POST
@login_required
def tokens_revoke_all(request: HttpRequest) -> HttpResponse:
    """Revoke every token of the user that still works (a lost laptop, a leaked script)."""
    count = services.revoke_all_tokens(
        user=request.user,
        actor=request.user,
        reason="Revoked with all the others on the API tokens page.",
    )
    if count:
        plural = "token" if count == 1 else "tokens"
        messages.success(request, f"{count} {plural} revoked: none of them works any more.")
    else:
        messages.info(request, "You had no token that works: nothing to revoke.")
    if wants_partial(request):
        return _page(request, TokenForm(), partial=True)
    return redirect(reverse("api:tokens"))


def _page(
    request: HttpRequest,
    form: TokenForm,
    *,
    created: ApiToken | None = None,
    secret: str | None = None,
    draft: dict | None = None,
    status: int = 200,
    partial: bool = False,
) -> HttpResponse:
    template = "api/tokens.html"
    if partial or wants_partial(request):
        template += "#token-panel"
    tokens = list(ApiToken.objects.filter(user=request.user))
    return render(
        request,
        template,
        {
            "form": form,
            "tokens": tokens,
            # With one, "Revoke all" would only repeat its row's Revoke.
            "several_active": sum(token.status == "active" for token in tokens) > 1,
            "created": created,
            "secret": secret,
            "draft": draft,  # in the panel, not a flash: the swap that makes it takes it away
            "base_url": request.build_absolute_uri("/v1"),
            # The new token is refused at /v1 until then (403 acknowledgement_required):
            # better said beside it than found out from the first request. Only then, so
            # that the list costs what it did.
            "must_acknowledge": created is not None and _must_acknowledge(request.user),
        },
        status=status,
    )


def _must_acknowledge(user) -> bool:
    """Whether the user chats (Staff) but has yet to acknowledge the current policy."""
    return user.has_perm(Role.STAFF.permission) and needs_acknowledgement(user)


@csrf_exempt  # it changes nothing; a refused CSRF check would hide the real answer
def rest_not_found(request: HttpRequest) -> HttpResponse:
    """A JSON 404 for an address under /api/ that names no endpoint (the site's 404 is a page).

    Without its trailing slash, an endpoint's address is a redirect for a read, as
    Django's APPEND_SLASH gives; a write is refused naming the address, since clients
    follow a 301 with a GET, and the script would read the list as its write's answer.
    """
    with_slash = f"{request.path}/"
    if not request.path.endswith("/") and _names_an_endpoint(with_slash):
        if request.method in ("GET", "HEAD"):
            query = request.META.get("QUERY_STRING", "")
            return HttpResponsePermanentRedirect(with_slash + (f"?{query}" if query else ""))
        detail = f"No such endpoint: {request.path}. Did you mean {with_slash} (with the slash)?"
    else:
        detail = f"No such endpoint: {request.path}. The endpoints are listed at /api/docs/."
    return JsonResponse({"detail": detail}, status=404)


def _names_an_endpoint(path: str) -> bool:
    try:
        return resolve(path).func is not rest_not_found
    except Resolver404:
        return False


class ApiDocs(SpectacularSwaggerSplitView):
    """The REST API's browsable docs (Swagger UI), for a person in a browser: signed out,
    they are sent to sign in and brought back, as every other page does, where DRF answered
    a bare 401. A wrong token still gets the 401 that says so; the schema itself
    (``api:schema``) answers programs as before."""

    url_name = "api:schema"

    def handle_exception(self, exc: Exception) -> HttpResponse:
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
