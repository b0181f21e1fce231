"""Legal holds: placing one, and its release, asked by one privacy officer and confirmed
by another."""

from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from privacy import access, services
from privacy.forms import HoldForm, ReasonForm
from privacy.models import LegalHold
from privacy.services import PrivacyError
from privacy.views.common import _form_page, _go, _posted_moment, officer

RELEASED_PER_PAGE = 50


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
            hold=hold, actor=request.user, asked_at=_posted_moment(request, "asked_at")
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
