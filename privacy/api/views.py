"""The privacy desk over REST, for privacy officers: the same services, checks and audit.

Four eyes hold here as on the pages: the person who scoped a request cannot
approve it, nor the person who proposed its rejection confirm it (403), and the
person an access archive is about cannot release it to themselves (400). Archives
are downloaded from the pages only, where the subject's download waits for that
release.
"""

from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from api.parsers import refuse_unknown_fields
from api.permissions import RecordsTokenUse, role_permission
from governance.roles import Role
from governance.views.common import site_address
from privacy import archive, execution, notices, purge, recipients, services
from privacy.api.serializers import (
    ConfirmRejectionSerializer,
    ConfirmReleaseSerializer,
    FinishSerializer,
    HoldWriteSerializer,
    IntakeSerializer,
    LegalHoldSerializer,
    MethodSerializer,
    PurgePreviewSerializer,
    PurgeRunSerializer,
    ReasonSerializer,
    RecipientToldSerializer,
    RejectSerializer,
    SubjectRequestSerializer,
    TellSerializer,
    WithheldSerializer,
    WithholdSerializer,
)
from privacy.forms import (
    FinishForm,
    HoldForm,
    IntakeForm,
    RecipientNoticeForm,
    TellForm,
    WithholdForm,
)
from privacy.models import (
    LegalHold,
    PurgeRun,
    RecipientNotice,
    RequesterNotice,
    SubjectRequest,
)
from privacy.services import FieldRefused, FourEyesError, PrivacyError

PrivacyOfficer = role_permission(Role.PRIVACY_OFFICER)


def _form_errors(form) -> dict:
    return {
        ("non_field_errors" if name == "__all__" else name): errors
        for name, errors in form.errors.items()
    }


def _given(serializer_class, request) -> dict:
    """The body, cleaned by ``serializer_class``; a field it does not know is a 400 too."""
    refuse_unknown_fields(request.data, serializer_class().fields)
    given = serializer_class(data=request.data)
    given.is_valid(raise_exception=True)
    return given.validated_data


def _call(step):
    """Run a service step: a four-eyes refusal is 403, any other refusal 400 with the reason,
    beside the field it refused when it names one (as the pages show it)."""
    try:
        return step()
    except FourEyesError as exc:
        raise PermissionDenied(str(exc)) from None
    except FieldRefused as exc:
        field = "non_field_errors" if exc.field == NON_FIELD_ERRORS else exc.field
        raise ValidationError({field: [str(exc)]}) from None
    except PrivacyError as exc:
        raise ValidationError({"non_field_errors": [str(exc)]}) from None


class SubjectRequestViewSet(
    RecordsTokenUse, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Data-subject requests, by due date; record one, then move it through its steps."""

    permission_classes = [PrivacyOfficer]
    serializer_class = SubjectRequestSerializer
    lookup_field = "public_id"
    queryset = (
        SubjectRequest.objects.listed()
        .select_related(
            "verified_by",
            "scoped_by",
            "approved_by",
            "rejection_proposed_by",
            "archive_released_by",
        )
        .prefetch_related(
            Prefetch("notices", RequesterNotice.objects.select_related("recorded_by")),
            Prefetch("recipient_notices", RecipientNotice.objects.select_related("recorded_by")),
        )
    )

    def _respond(self, subject_request: SubjectRequest, code=status.HTTP_200_OK) -> Response:
        subject_request = self.get_queryset().get(pk=subject_request.pk)
        return Response(self.get_serializer(subject_request).data, status=code)

    @extend_schema(request=IntakeSerializer, responses={201: SubjectRequestSerializer})
    def create(self, request, *args, **kwargs) -> Response:
        given = _given(IntakeSerializer, request)
        form = IntakeForm(data={k: v for k, v in given.items() if v not in ("", None, False)})
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        created = _call(lambda: services.receive_request(actor=request.user, **form.request_fields))
        return self._respond(created, status.HTTP_201_CREATED)

    @extend_schema(request=MethodSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request, public_id=None) -> Response:
        method = _given(MethodSerializer, request)["method"]
        subject_request = self.get_object()
        return self._respond(
            _call(
                lambda: services.verify_identity(
                    request=subject_request, actor=request.user, method=method
                )
            )
        )

    @extend_schema(request=None, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def scope(self, request, public_id=None) -> Response:
        subject_request = self.get_object()
        return self._respond(
            _call(
                lambda: services.scope_request(
                    request=subject_request, actor=request.user, base_url=site_address(request)
                )
            )
        )

    @extend_schema(request=None, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, public_id=None) -> Response:
        subject_request = self.get_object()
        return self._respond(
            _call(lambda: services.approve_request(request=subject_request, actor=request.user))
        )

    @extend_schema(request=RejectSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, public_id=None) -> Response:
        """Propose refusing the request on a legal ground (``ground``), with the reason it is
        told: it stays open until another officer confirms (``reject/confirm/``)."""
        given = _given(RejectSerializer, request)
        subject_request = self.get_object()
        return self._respond(
            _call(
                lambda: services.propose_rejection(
                    request=subject_request, actor=request.user, **given
                )
            )
        )

    @extend_schema(request=ConfirmRejectionSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"], url_path="reject/confirm")
    def confirm_rejection(self, request, public_id=None) -> Response:
        """A second officer confirms the proposal they read (its ``rejection_proposed_at``):
        the request is rejected. A proposal withdrawn and made again since is refused."""
        proposed_at = _given(ConfirmRejectionSerializer, request)["rejection_proposed_at"]
        subject_request = self.get_object()
        return self._respond(
            _call(
                lambda: services.confirm_rejection(
                    request=subject_request, actor=request.user, proposed_at=proposed_at
                )
            )
        )

    @extend_schema(request=None, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"], url_path="reject/withdraw")
    def withdraw_rejection(self, request, public_id=None) -> Response:
        """Take a proposed rejection back: the request goes on."""
        subject_request = self.get_object()
        return self._respond(
            _call(lambda: services.withdraw_rejection(request=subject_request, actor=request.user))
        )

    @extend_schema(request=ReasonSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def extend(self, request, public_id=None) -> Response:
        return self._with_reason(request, services.extend_request)

    @extend_schema(request=TellSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def told(self, request, public_id=None) -> Response:
        """Record that the requester was told something they are owed: ``receipt``,
        ``extension`` or ``outcome``, by ``email``, ``letter``, ``phone`` or ``in_person``."""
        subject_request = self.get_object()
        form = TellForm(data=_given(TellSerializer, request))
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        _call(
            lambda: notices.record_notice(
                request=subject_request, actor=request.user, **form.cleaned_data
            )
        )
        return self._respond(subject_request)

    @extend_schema(request=RecipientToldSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"], url_path="recipients-told")
    def recipients_told(self, request, public_id=None) -> Response:
        """Record that a provider who received a completed erasure's data was asked to erase
        it too (GDPR Art. 19, CCPA § 1798.105(c)): ``backend`` (as the receipt names it),
        ``told_on``, ``how``."""
        subject_request = self.get_object()
        form = RecipientNoticeForm(data=_given(RecipientToldSerializer, request))
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        _call(
            lambda: recipients.record_notice(
                request=subject_request, actor=request.user, **form.cleaned_data
            )
        )
        return self._respond(subject_request)

    @extend_schema(request=None, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request, public_id=None) -> Response:
        """Release the access archive to the person, once its mentions are checked."""
        subject_request = self.get_object()
        return self._respond(
            _call(lambda: archive.release(request=subject_request, actor=request.user))
        )

    @extend_schema(request=WithholdSerializer, responses=WithheldSerializer)
    @action(detail=True, methods=["post"])
    def withhold(self, request, public_id=None) -> Response:
        """Before release, withhold other people's names the detector missed in the copy's
        mentions (as the request page does): each name with how many it replaced. Refused
        names answer 400 under ``terms``, as the page's form says them."""
        terms = _given(WithholdSerializer, request)["terms"]
        if isinstance(terms, list) and all(isinstance(term, str) for term in terms):
            terms = "\n".join(terms)
        form = WithholdForm(data={"terms": terms if isinstance(terms, str) else ""})
        if not form.is_valid():
            raise ValidationError({"terms": form.errors["terms"]})
        subject_request = self.get_object()
        replaced = _call(
            lambda: archive.withhold(
                request=subject_request, actor=request.user, terms=form.cleaned_data["terms"]
            )
        )
        return Response(
            {
                "withheld": [
                    {"name": term, "replaced": n, "kept_as_theirs": theirs}
                    for term, n, theirs in replaced
                ]
            }
        )

    @extend_schema(request=None, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, public_id=None) -> Response:
        """Run a failed request again."""
        subject_request = self.get_object()
        return self._respond(
            _call(lambda: execution.retry(request=subject_request, actor=request.user))
        )

    @extend_schema(request=FinishSerializer, responses={201: SubjectRequestSerializer})
    @action(detail=True, methods=["post"])
    def finish(self, request, public_id=None) -> Response:
        """Record a follow-up erasure of what this completed erasure withheld under a legal
        hold since released, as its page does; answers the new request (201), verified, to
        scope and approve. Give every identifier the first named (a kind missing is refused
        beside its field, with how many); refused while nothing it left is free to erase, or
        while an open erasure already reaches the same person."""
        subject_request = self.get_object()
        given = _given(FinishSerializer, request)
        form = FinishForm(data={kind: text for kind, text in given.items() if text})
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        follow_up = _call(
            lambda: services.finish_erasure(
                request=subject_request, actor=request.user, identifiers=form.identifiers
            )
        )
        return self._respond(follow_up, status.HTTP_201_CREATED)

    def _with_reason(self, request, step) -> Response:
        reason = _given(ReasonSerializer, request)["reason"]
        subject_request = self.get_object()
        return self._respond(
            _call(lambda: step(request=subject_request, actor=request.user, reason=reason))
        )


class LegalHoldViewSet(RecordsTokenUse, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Legal holds on a person or one conversation: place one; release one with four eyes
    (one officer asks, saying why, another confirms; either may withdraw the ask)."""

    permission_classes = [PrivacyOfficer]
    serializer_class = LegalHoldSerializer
    lookup_field = "public_id"
    queryset = LegalHold.objects.select_related(
        "user", "conversation", "placed_by", "release_asked_by", "released_by"
    )

    @extend_schema(request=HoldWriteSerializer, responses={201: LegalHoldSerializer})
    def create(self, request, *args, **kwargs) -> Response:
        form = HoldForm(data={k: v for k, v in _given(HoldWriteSerializer, request).items() if v})
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        data = form.cleaned_data
        hold = _call(
            lambda: services.place_hold(
                actor=request.user,
                reason=data["reason"],
                user=data["user"],
                conversation=data["conversation_obj"],
            )
        )
        return Response(LegalHoldSerializer(hold).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses=LegalHoldSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request, public_id=None) -> Response:
        """Ask to release the hold, saying why: it stays until another officer confirms."""
        reason = _given(ReasonSerializer, request)["reason"]
        hold = self.get_object()
        asked = _call(lambda: services.ask_release(hold=hold, actor=request.user, reason=reason))
        return Response(self.get_serializer(asked).data)

    @extend_schema(request=ConfirmReleaseSerializer, responses=LegalHoldSerializer)
    @action(detail=True, methods=["post"], url_path="release/confirm")
    def confirm_release(self, request, public_id=None) -> Response:
        """A second officer confirms the ask they read (its ``release_asked_at``): the hold
        ends. An ask withdrawn and made again since is refused."""
        asked_at = _given(ConfirmReleaseSerializer, request)["release_asked_at"]
        hold = self.get_object()
        released = _call(
            lambda: services.release_hold(hold=hold, actor=request.user, asked_at=asked_at)
        )
        return Response(self.get_serializer(released).data)

    @extend_schema(request=None, responses=LegalHoldSerializer)
    @action(detail=True, methods=["post"], url_path="release/withdraw")
    def withdraw_release(self, request, public_id=None) -> Response:
        """Take an ask to release back: the hold stays."""
        hold = self.get_object()
        kept = _call(lambda: services.withdraw_release(hold=hold, actor=request.user))
        return Response(self.get_serializer(kept).data)


class PurgeRunViewSet(RecordsTokenUse, viewsets.ReadOnlyModelViewSet):
    """Purge runs, newest first; start one, or preview what the next would remove."""

    permission_classes = [PrivacyOfficer]
    serializer_class = PurgeRunSerializer
    lookup_field = "public_id"
    queryset = PurgeRun.objects.select_related("triggered_by")

    @extend_schema(request=None, responses={202: PurgeRunSerializer})
    @action(detail=False, methods=["post"])
    def start(self, request) -> Response:
        with transaction.atomic():
            run = _call(lambda: services.start_purge(actor=request.user))
        return Response(PurgeRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=PurgePreviewSerializer)
    @action(detail=False, methods=["get"])
    def preview(self, request) -> Response:
        expired = purge.preview()
        return Response(
            {
                "counts": expired.counts,
                "conversations": expired.conversations,
                "messages": expired.messages,
                "held": expired.held,
            }
        )
