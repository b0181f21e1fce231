"""Pages for anyone signed in: asking about their own data, and how Steward processes it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audit.personal import retention_in_words
from governance.roles import roles_of
from privacy import services, transparency
from privacy.forms import OwnDataForm
from privacy.models import SubjectRequest
from privacy.services import PrivacyError
from privacy.views.common import _go, _request_lines

#: The state a person reads while their copy waits for an officer's check (its last step).
BEING_CHECKED = "Being checked before you can download it"
#: A request's steps as the person it is about reads them (the desk's are
#: privacy.views.subject_requests.STEPS); their request's status badge says the same.
STEPS_FOR_THE_PERSON = [
    (SubjectRequest.Status.RECEIVED, "Received"),
    (SubjectRequest.Status.VERIFIED, "Identity checked"),
    (SubjectRequest.Status.SCOPED, "Data found"),
    (SubjectRequest.Status.APPROVED, "Approved"),
    (SubjectRequest.Status.EXECUTING, "Being carried out"),
    (SubjectRequest.Status.COMPLETED, "Done"),
]
#: How a request asked for from the person's own account was checked, as they read it.
SIGNED_IN = "You signed in to your own account."


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
    in_the_persons_words(own)
    return render(
        request, "privacy/mine.html", {"own_requests": own, "regimes": OwnDataForm.REGIMES}
    )


def in_the_persons_words(requests) -> None:
    """Give each of the person's own requests its status as their steps name it
    (``status_words``) and how their identity was checked (``identity_words``), in words
    addressed to them."""
    step_words = dict(STEPS_FOR_THE_PERSON)
    for listed in requests:
        listed.status_words = step_words.get(listed.status) or listed.get_status_display()
        asked_signed_in = _asked_from_the_account(listed)
        listed.identity_words = SIGNED_IN if asked_signed_in else listed.verification


def _asked_from_the_account(subject_request: SubjectRequest) -> bool:
    """Asked for by the person themselves, signed in (services.request_own_data): that was the
    identity check, and no officer made it."""
    return (
        subject_request.subject_user_id is not None
        and subject_request.created_by_id == subject_request.subject_user_id
        and subject_request.verified_at is not None
        and subject_request.verified_by_id is None
    )


def progress_for_the_person(
    subject_request: SubjectRequest, steps: list[tuple[str, str]], done_steps: list[str]
) -> dict:
    """The request page's steps as the person it is about reads them (``steps`` and
    ``done_steps`` as the page has them): while their copy is being checked, its last step is
    that, and not done; they cannot download it yet."""
    named = {"step_words": dict(steps)}  # the request's facts name the steps it went through
    if not subject_request.copy_being_checked:
        return {"steps": steps, "done_steps": done_steps, **named}
    last, _ = steps[-1]
    return {
        "steps": [*steps[:-1], (last, BEING_CHECKED)],
        "done_steps": [code for code in done_steps if code != last],
        **named,
    }


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
            "audit_retention": retention_in_words(),
            "has_role": bool(roles_of(request.user)),
        },
    )
