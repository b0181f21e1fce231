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


def progress_for_the_person(
    subject_request: SubjectRequest, steps: list[tuple[str, str]], done_steps: list[str]
) -> dict:
    """The request page's steps as the person it is about reads them (``steps`` and
    ``done_steps`` as the page has them): while their copy is being checked, its last step is
    that, and not done; they cannot download it yet."""
    if not subject_request.copy_being_checked:
        return {"steps": steps, "done_steps": done_steps}
    last, _ = steps[-1]
    return {
        "steps": [*steps[:-1], (last, BEING_CHECKED)],
        "done_steps": [code for code in done_steps if code != last],
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
