"""The user's settings page for personal API tokens: make one (shown once), revoke one; and
the REST API's answer for an address under /api/ that names no endpoint."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from api import services
from api.access import get_token_for_user
from api.forms import TokenForm
from api.models import ApiToken


def wants_partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.boosted


@require_http_methods(["GET", "POST"])
@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """The user's tokens and the form for a new one; a new token is shown on this answer only."""
    form = TokenForm(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        created, secret = services.create_token(
            user=request.user,
            name=form.cleaned_data["name"],
            expires_in_days=form.cleaned_data["expires_in_days"],
            actor=request.user,
        )
        form = TokenForm()
    template = "api/tokens.html"
    if wants_partial(request):
        template += "#token-panel"
    response = render(
        request,
        template,
        {
            "form": form,
            "tokens": ApiToken.objects.filter(user=request.user),
            "created": created,
            "secret": secret,
            "base_url": request.build_absolute_uri("/v1"),
        },
        status=422 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"  # the page may hold a token's only copy
    return response


@require_POST
@login_required
def token_revoke(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Revoke one of the user's tokens."""
    token = get_token_for_user(request.user, public_id)
    services.revoke_token(token=token, actor=request.user)
    messages.success(request, f"“{token.name}” ({token.lookup}…) revoked: it no longer works.")
    if wants_partial(request):
        return render(
            request,
            "api/tokens.html#token-panel",
            {"form": TokenForm(), "tokens": ApiToken.objects.filter(user=request.user)},
        )
    return redirect(reverse("api:tokens"))


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
