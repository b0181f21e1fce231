"""The user's settings page for personal API tokens: make one (shown once), revoke one."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
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
    messages.success(request, f"“{token.name}” revoked: it no longer works.")
    if wants_partial(request):
        return render(
            request,
            "api/tokens.html#token-panel",
            {"form": TokenForm(), "tokens": ApiToken.objects.filter(user=request.user)},
        )
    return redirect(reverse("api:tokens"))
