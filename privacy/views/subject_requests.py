"""Data-subject requests: intake, a request's page and its workflow steps."""

import json
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_text_list
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.models import AuditEvent
from config.asked_here import asked_here
from governance.views.common import site_address
from privacy import (
    access,
    approval_mail,
    archive,
    execution,
    notices,
    policy,
    recipients,
    services,
)
from privacy.forms import (
    ExtendForm,
    FinishForm,
    IntakeForm,
    RecipientNoticeForm,
    RejectForm,
    TellForm,
    VerifyForm,
    WithholdForm,
)
from privacy.models import ARCHIVE_KEEP_DAYS, SubjectRequest
from privacy.services import FieldRefused, PrivacyError
from privacy.views import own_data
from privacy.views.common import (
    _form_page,
    _go,
    _polling,
    _posted_moment,
    _request_lines,
    officer,
)

#: While a request is in these, its page polls its progress card.
RUNNING = (SubjectRequest.Status.APPROVED, SubjectRequest.Status.EXECUTING)


@require_http_methods(["GET", "POST"])
@officer
def request_new(request: HttpRequest) -> HttpResponse:
    form = IntakeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.receive_request(actor=request.user, **form.request_fields)
        except PrivacyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"{created.reference} recorded; due {created.due_on:%-d %B %Y}.",
                extra_tags="announce",
            )
            return _go(request, reverse("privacy:request", args=[created.public_id]))
    return _form_page(request, "privacy/request_new.html", "intake-form", {"form": form})


@require_GET
@login_required
def request_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    subject_request = access.get_request_for_user(request.user, public_id)
    ctx = _request_context(request, subject_request)
    template = "privacy/request_detail.html"
    if not _polling(request, "request-progress"):
        return render(request, template, ctx)
    response = render(request, template + "#request-progress", ctx)
    if subject_request.status not in RUNNING:
        # The run ended: the receipt and archive buttons are outside the polled card, so the
        # page loads again, and the message that says so takes the focus (it is read out).
        _say_run_ended(request, subject_request)
        response["HX-Refresh"] = "true"
    return response


def _say_run_ended(request: HttpRequest, subject_request: SubjectRequest) -> None:
    reference = subject_request.reference
    if subject_request.status == SubjectRequest.Status.COMPLETED:
        erasure = subject_request.kind == SubjectRequest.Kind.ERASURE
        done = "erasure is complete" if erasure else "archive is ready"
        messages.success(request, f"{reference}: the {done}.", extra_tags="announce")
    else:
        messages.error(
            request,
            f"{reference}: the execution stopped ({subject_request.get_status_display()}). "
            "Where it stands says why.",
            extra_tags="announce",
        )


STEPS = [
    (SubjectRequest.Status.RECEIVED, "Received"),
    (SubjectRequest.Status.VERIFIED, "Identity verified"),
    (SubjectRequest.Status.SCOPED, "Scoped"),
    (SubjectRequest.Status.APPROVED, "Approved"),
    (SubjectRequest.Status.EXECUTING, "Executing"),
    (SubjectRequest.Status.COMPLETED, "Completed"),
]
# The same steps, as the person the request is about reads them: own_data.STEPS_FOR_THE_PERSON.


def _done_steps(subject_request: SubjectRequest) -> list[str]:
    codes = [code for code, _ in STEPS]
    if subject_request.status == SubjectRequest.Status.COMPLETED:
        return codes
    if subject_request.status in codes:
        return codes[: codes.index(subject_request.status)]
    reached = [subject_request.verified_at, subject_request.scoped_at, subject_request.approved_at]
    return codes[: 1 + sum(1 for moment in reached if moment)]


def _not_owed_with_forms(found, bound) -> list:
    """Each recipient owed no notice, with a form to record that it was told all the same
    (None for the organisation's own servers)."""
    if found is None:
        return []
    pairs = RecipientNoticeForm.for_each(found.tellable_anyway, bound, ids="anyway")
    forms = {row.backend: form for row, form in pairs}
    return [(row, forms.get(row.backend)) for row in found.not_owed]


def _request_context(request, subject_request: SubjectRequest, **forms) -> dict:
    """What the request's page shows. An officer the request is about reads it as the person
    does (``officer_view`` off): they are told none of the desk's working on it, neither a
    proposed rejection nor the trail of its steps, the identifiers, the note, the scope, what
    the requester was told, an execution's error; only that another officer handles it."""
    _request_lines([subject_request], today=timezone.localdate())
    officer = access.is_officer(request.user)
    is_subject = access.is_about(subject_request, request.user)
    officer_view = officer and not is_subject
    told = list(subject_request.notices.select_related("recorded_by")) if officer_view else []
    owed = notices.owed(subject_request, {n.topic for n in told}) if officer_view else []
    erasure_recipients = recipients.of_erasure(subject_request) if officer_view else None
    # Two officers, the request about one and scoped (or its rejection proposed) by the
    # other: nobody may take it further. Asked only of one waiting for such a step.
    stuck = ""
    if officer_view and (
        subject_request.rejection_proposed or subject_request.status == SubjectRequest.Status.SCOPED
    ):
        stuck = approval_mail.step_nobody_may_take([subject_request])[subject_request.pk]
    left_behind = services.left_behind(subject_request) if officer_view else None
    if not officer_view:
        own_data.in_the_persons_words([subject_request])
    return {
        "nobody_may_approve": stuck == approval_mail.APPROVE,
        "nobody_may_confirm": stuck == approval_mail.CONFIRM,
        "erasure_recipients": erasure_recipients,
        "recipients_to_tell": RecipientNoticeForm.for_each(
            erasure_recipients.to_tell if erasure_recipients else [], forms.get("recipient_form")
        ),
        "recipients_not_owed": _not_owed_with_forms(
            erasure_recipients, forms.get("recipient_form")
        ),
        "recipients_recorded_since": recipients.recorded_since() if erasure_recipients else None,
        "told": told,
        "owed": owed,
        "predates_records": officer_view and notices.predates_records(subject_request),
        "records_since": notices.recorded_since(),
        "tell_form": (forms.get("tell_form") or TellForm()).offer(owed),
        "req": subject_request,
        **(
            {"steps": STEPS, "done_steps": _done_steps(subject_request)}
            if officer_view
            else own_data.progress_for_the_person(
                subject_request, own_data.STEPS_FOR_THE_PERSON, _done_steps(subject_request)
            )
        ),
        "officer": officer,
        "is_subject": is_subject,
        "officer_view": officer_view,
        "archive_downloadable": archive.download_refusal(subject_request, request.user) is None,
        "copy_check": forms.get("copy_check") or _copy_check(request, subject_request),
        "keep_days": ARCHIVE_KEEP_DAYS,
        "identifiers": subject_request.identifiers() if officer_view else [],
        "verify_form": forms.get("verify_form") or VerifyForm(),
        "reject_form": forms.get("reject_form") or RejectForm(),
        # The evidence beside the reject form, for a claim of excess above all.
        "earlier_requests": services.earlier_requests(subject_request)
        if officer_view and subject_request.is_open
        else [],
        "finish_form": forms.get("finish_form") or FinishForm(),
        "left_behind": left_behind,
        "first_named": _named_in_words(subject_request) if left_behind and left_behind.free else "",
        "extend_form": forms.get("extend_form") or ExtendForm(),
        "extension_refusal": policy.extension_refusal(
            due=subject_request.due_on,
            today=timezone.localdate(),
            extended=subject_request.extended,
        ),
        "stalled_since": execution.stalled_since(subject_request),
        "receipt_json": json.dumps(subject_request.receipt, indent=2)
        if subject_request.receipt and officer_view
        else "",
        "events": AuditEvent.objects.filter(
            target_type="privacy.subjectrequest", target_id=str(subject_request.public_id)
        ).order_by("sequence")
        if officer_view
        else AuditEvent.objects.none(),
    }


def _named_in_words(subject_request: SubjectRequest) -> str:
    """How many identifiers of each kind ``subject_request`` was received with, in words ("1
    email address and 1 name"), never what they were; "" if the trail no longer says."""
    named = services._identifiers_named(subject_request)
    kinds = [kind for kind in services.IDENTIFIER_WORDS if named[kind]]
    return get_text_list([services._counted(kind, named[kind]) for kind in kinds], "and")


def _step(
    request: HttpRequest, public_id: UUID, run, form_class=None, form_name="", *, section=""
) -> HttpResponse:
    """One workflow step: validate, call the service, and show the request again.

    Refused input (the form's, or a value the service refused: :class:`FieldRefused`) comes
    back beside its field, kept as typed (422); a step the request's state refuses is said in
    a message. The page opens again at ``section`` (the form's card), which the form's action
    does not name: a page at a #fragment would not focus its refused field."""
    subject_request = access.get_request_for_user(request.user, public_id)
    form = form_class(request.POST) if form_class else None
    if form is not None and not form.is_valid():
        return _refused(request, subject_request, form, form_name)
    try:
        run(subject_request, form.cleaned_data if form else {})
    except FieldRefused as exc:
        if not hasattr(form, "refuse"):
            messages.error(request, str(exc))
        else:
            form.refuse(exc.field, str(exc))
            return _refused(request, subject_request, form, form_name)
    except PrivacyError as exc:
        messages.error(request, str(exc))
    page = reverse("privacy:request", args=[subject_request.public_id])
    return _go(request, f"{page}#{section}" if section else page)


def _refused(request, subject_request, form, form_name: str) -> HttpResponse:
    ctx = _request_context(request, subject_request, **{form_name: form})
    return render(request, "privacy/request_detail.html", ctx, status=422)


@require_POST
@officer
def request_verify(request: HttpRequest, public_id: UUID) -> HttpResponse:
    def verify(subject_request: SubjectRequest, data: dict) -> None:
        services.verify_identity(request=subject_request, actor=request.user, method=data["method"])
        messages.success(
            request,
            f"{subject_request.reference}: identity verified. Scope the request next.",
            extra_tags="announce",
        )

    return _step(request, public_id, verify, VerifyForm, "verify_form")


@require_POST
@officer
def request_scope(request: HttpRequest, public_id: UUID) -> HttpResponse:
    def scope(subject_request: SubjectRequest, data: dict) -> None:
        services.scope_request(
            request=subject_request, actor=request.user, base_url=site_address(request)
        )
        messages.success(
            request,
            f"{subject_request.reference} scoped: a second privacy officer approves it next.",
            extra_tags="announce",
        )

    return _step(request, public_id, scope)


@require_POST
@officer
def request_approve(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _step(
        request, public_id, lambda r, d: services.approve_request(request=r, actor=request.user)
    )


@require_POST
@officer
def request_reject(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The first officer proposes rejecting the request, on a ground and with a reason."""

    def propose(subject_request: SubjectRequest, data: dict) -> None:
        services.propose_rejection(
            request=subject_request,
            actor=request.user,
            ground=data["ground"],
            reason=data["reason"],
        )
        messages.success(
            request,
            f"Rejection of {subject_request.reference} proposed: the request stays open until "
            "another privacy officer confirms it.",
            extra_tags="announce",
        )

    return _step(request, public_id, propose, RejectForm, "reject_form", section="rejection")


@require_POST
@officer
def request_reject_confirm(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """A second officer confirms the proposal they read (its ``proposed_at``): the request
    closes unanswered."""

    def confirm(subject_request: SubjectRequest, data: dict) -> None:
        services.confirm_rejection(
            request=subject_request,
            actor=request.user,
            proposed_at=_posted_moment(request, "proposed_at"),
        )
        messages.success(
            request,
            f"{subject_request.reference} rejected: tell the requester (the letter says why).",
            extra_tags="announce",
        )

    return _step(request, public_id, confirm)


@require_POST
@officer
def request_reject_withdraw(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The proposer, or an officer who disagrees, takes the proposed rejection back."""

    def withdraw(subject_request: SubjectRequest, data: dict) -> None:
        services.withdraw_rejection(request=subject_request, actor=request.user)
        messages.success(
            request,
            f"Rejection of {subject_request.reference} withdrawn: the request goes on.",
            extra_tags="announce",
        )

    return _step(request, public_id, withdraw)


@require_POST
@officer
def request_extend(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _step(
        request,
        public_id,
        lambda r, d: services.extend_request(request=r, actor=request.user, reason=d["reason"]),
        ExtendForm,
        "extend_form",
    )


@require_POST
@officer
def request_tell(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Record that the requester was told something they are owed."""

    def tell(subject_request: SubjectRequest, data: dict) -> None:
        notice = notices.record_notice(request=subject_request, actor=request.user, **data)
        messages.success(
            request,
            f"Recorded: told by {notice.get_channel_display().lower()} on "
            f"{notice.told_on.day} {notice.told_on:%B %Y}: {notice.get_topic_display().lower()}.",
        )

    return _step(request, public_id, tell, TellForm, "tell_form", section="telling")


@require_POST
@officer
def request_recipient_told(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Record that a provider who received the erased data was asked to erase it too."""

    def tell(subject_request: SubjectRequest, data: dict) -> None:
        notice = recipients.record_notice(request=subject_request, actor=request.user, **data)
        messages.success(
            request,
            f"Recorded: {notice.backend} was asked to erase the data on "
            f"{notice.told_on.day} {notice.told_on:%B %Y}.",
        )

    return _step(
        request, public_id, tell, RecipientNoticeForm, "recipient_form", section="recipients-told"
    )


@require_POST
@officer
def request_release(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Release the access archive to the person, once its mentions are checked."""
    return _step(request, public_id, lambda r, d: archive.release(request=r, actor=request.user))


@require_http_methods(["GET", "POST"])
@officer
@asked_here(
    "show the messages by other people that this request's access archive holds",
    button="Read the mentions",
)
def request_check_copy(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Check an access archive before release. GET shows the mentions it holds (other
    people's messages), what it withholds marked, the reading recorded; POST withholds the
    names given (:func:`privacy.archive.withhold`).

    A POST that withheld answers with the page itself rather than a redirect: it says how
    many each name replaced, naming them, and the names are kept nowhere (not even the
    session) to say it from after a redirect. Posted again, it replaces none: each is already
    withheld. The box the page opens at is described by those counts, so a screen reader
    reads them out. Refused names come back beside their field as typed (422). The reading
    is recorded once per visit (the GET), not again as the page comes back."""
    subject_request = access.get_request_for_user(request.user, public_id)
    if refusal := archive.check_refusal(subject_request, request.user):
        messages.error(request, refusal)
        return _go(request, reverse("privacy:request", args=[subject_request.public_id]))
    if request.method == "GET":
        return _copy_check_page(request, subject_request)
    form = WithholdForm(request.POST)
    if not form.is_valid():
        return _copy_check_page(request, subject_request, form=form, status=422)
    try:
        replaced = archive.withhold(
            request=subject_request, actor=request.user, terms=form.cleaned_data["terms"]
        )
    except FieldRefused as exc:
        form.refuse(exc.field, str(exc))
        return _copy_check_page(request, subject_request, form=form, status=422)
    except PrivacyError as exc:
        messages.error(request, str(exc))
        return _go(request, reverse("privacy:request", args=[subject_request.public_id]))
    subject_request.refresh_from_db(fields=["archive_sealed"])  # as withheld
    fresh = WithholdForm()
    box = fresh.fields["terms"].widget.attrs
    box["autofocus"] = True  # the page opens at the box, described by the counts first
    box["aria-describedby"] = f"{WITHHELD_COUNTS} {fresh['terms'].auto_id}_helptext"
    return _copy_check_page(request, subject_request, form=fresh, replaced=replaced)


#: The id of the list of how many each name replaced, which describes the box after a POST.
WITHHELD_COUNTS = "withhold-counts"


def _copy_check_page(request, subject_request, *, status: int = 200, **shown) -> HttpResponse:
    """The request page with the archive's mentions listed (its link to them is then
    ``#copy-mentions`` alone: followed from here, nothing is loaded or recorded again)."""
    mentions = archive.mentions_to_check(
        subject_request, reader=request.user, recorded=request.method == "GET"
    )
    check = _copy_check(request, subject_request, mentions=mentions, **shown)
    ctx = _request_context(request, subject_request, copy_check=check)
    return render(request, "privacy/request_detail.html", ctx, status=status)


def _copy_check(request, subject_request: SubjectRequest, form=None, **shown) -> dict | None:
    """What the page shows an officer checking an access archive before release: the form
    to withhold names, how many were withheld so far, and ``shown`` (the mentions read, and
    a POST's counts per name); None when there is nothing to check."""
    if (
        subject_request.kind != SubjectRequest.Kind.ACCESS
        or not access.is_officer(request.user)
        or not subject_request.receipt.get("counts", {}).get("mentions")
        or archive.check_refusal(subject_request, request.user)
    ):
        return None
    return {
        "form": form or WithholdForm(),
        "earlier": archive.withholdings(subject_request),
        **shown,
    }


@require_POST
@officer
def request_retry(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Run a failed request again."""
    return _step(request, public_id, lambda r, d: execution.retry(request=r, actor=request.user))


@require_POST
@officer
def request_finish(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Record a follow-up erasure of what a completed one withheld under a hold since released.
    An identifier refused (malformed, or one the first named left out) comes back beside its
    field, the others as typed (422)."""
    subject_request = access.get_request_for_user(request.user, public_id)
    form = FinishForm(request.POST)
    if not form.is_valid():
        return _refused(request, subject_request, form, "finish_form")
    try:
        follow_up = services.finish_erasure(
            request=subject_request, actor=request.user, identifiers=form.identifiers
        )
    except FieldRefused as exc:
        form.refuse(exc.field, str(exc))
        return _refused(request, subject_request, form, "finish_form")
    except PrivacyError as exc:
        messages.error(request, str(exc))
        return _go(request, reverse("privacy:request", args=[subject_request.public_id]))
    messages.success(
        request, f"{follow_up.reference} recorded: scope it, then a second officer approves it."
    )
    return _go(request, reverse("privacy:request", args=[follow_up.public_id]))
