"""Data-subject requests, legal holds and purge runs as the REST API shows them.

Never the identifiers a request names: only its reference, dates, state and counts.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from privacy import access, notices
from privacy.forms import RejectForm
from privacy.models import LegalHold, PurgeRun, RecipientNotice, RequesterNotice, SubjectRequest


def _name(user) -> str | None:
    return user.display_name if user else None


class NoticeSerializer(serializers.ModelSerializer):
    """That the requester was told something, how and when (``privacy.notices``)."""

    recorded_by = serializers.SerializerMethodField()
    due_on = serializers.DateField(read_only=True, allow_null=True)
    late = serializers.BooleanField(read_only=True)

    class Meta:
        model = RequesterNotice
        fields = ["topic", "channel", "told_on", "due_on", "late", "recorded_by", "recorded_at"]
        read_only_fields = fields

    def get_recorded_by(self, notice: RequesterNotice) -> str | None:
        return _name(notice.recorded_by)


class RecipientNoticeSerializer(serializers.ModelSerializer):
    """That a provider who received the erased data was asked to erase it, how and when
    (``privacy.recipients``)."""

    recorded_by = serializers.SerializerMethodField()

    class Meta:
        model = RecipientNotice
        fields = ["backend", "told_on", "how", "recorded_by", "recorded_at"]
        read_only_fields = fields

    def get_recorded_by(self, notice: RecipientNotice) -> str | None:
        return _name(notice.recorded_by)


class OwedSerializer(serializers.Serializer):
    topic = serializers.CharField()
    due_on = serializers.DateField(allow_null=True)
    overdue = serializers.BooleanField()


#: What an officer a request is about does not read of it, as on its page: the person is not
#: told who proposed rejecting it, nor when, nor the desk's working (what the scope counted, an
#: execution's error). Null whether or not there is one: an empty value would say there is none.
HIDDEN_FROM_THE_SUBJECT = ("rejection_proposed_by", "rejection_proposed_at", "scope", "error")
#: Nor, until it is rejected (the outcome, which they are told), a proposal's ground and reason.
PROPOSED_TO_THE_OTHERS = ("rejection_ground", "rejected_reason")


class SubjectRequestSerializer(serializers.ModelSerializer):
    """A request; to an officer it is about (:func:`privacy.access.is_about`), as the person
    reads it (:data:`HIDDEN_FROM_THE_SUBJECT`)."""

    days_left = serializers.SerializerMethodField()
    notices = NoticeSerializer(many=True, read_only=True)
    still_to_tell = serializers.SerializerMethodField()
    recipient_notices = RecipientNoticeSerializer(many=True, read_only=True)
    overdue = serializers.BooleanField(read_only=True)
    subject_is_staff = serializers.SerializerMethodField()
    verified_by = serializers.SerializerMethodField()
    scoped_by = serializers.SerializerMethodField()
    approved_by = serializers.SerializerMethodField()
    archive_available = serializers.BooleanField(read_only=True)
    # Blank on a request neither rejected nor with a rejection proposed (rejection_proposed_at
    # set while it is open), or rejected before a ground was asked for.
    rejection_ground = serializers.ChoiceField(
        choices=SubjectRequest.RejectionGround.choices, allow_blank=True, read_only=True
    )
    rejection_proposed_by = serializers.SerializerMethodField()
    archive_released_by = serializers.SerializerMethodField()
    archive_expires_at = serializers.DateTimeField(read_only=True, allow_null=True)
    days_late = serializers.IntegerField(
        read_only=True,
        help_text="How many days after its due date the request was closed (0: in time). To "
        "the person it is about, answer_days_late: what they are told.",
    )
    copy_being_checked = serializers.BooleanField(
        read_only=True,
        help_text="The person's access copy is made but waits for an officer's check before "
        "they may download it: to them, the request is not answered yet.",
    )
    answered_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the person had their answer: when the request was closed, or when "
        "their access copy was released to them if it waited for a check (null until then). "
        "To the person it is about, completed_at is this.",
    )
    answer_days_late = serializers.IntegerField(
        read_only=True,
        help_text="How many days after its due date the person had their answer (0: in time); "
        "while their copy is being checked, how late it is so far.",
    )

    class Meta:
        model = SubjectRequest
        fields = [
            "public_id", "reference", "kind", "regime", "status", "subject_is_staff",
            "received_on", "due_on", "days_left", "overdue", "extended", "extension_reason",
            "verification", "verified_by", "verified_at", "scope", "scoped_by", "scoped_at",
            "approved_by", "approved_at", "rejection_ground", "rejected_reason",
            "rejection_proposed_by", "rejection_proposed_at",
            "progress_done", "progress_total",
            "started_at", "heartbeat_at", "attempts", "attempts_allowed", "completed_at",
            "days_late", "copy_being_checked", "answered_at", "answer_days_late", "error",
            "receipt", "receipt_hash", "archive_available", "archive_released_by",
            "archive_released_at", "archive_expires_at", "archive_dropped_at", "notices",
            "still_to_tell", "recipient_notices",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, subject_request: SubjectRequest) -> dict:
        data = super().to_representation(subject_request)
        request = self.context.get("request")
        if request is not None and access.is_about(subject_request, request.user):
            data.update(dict.fromkeys(HIDDEN_FROM_THE_SUBJECT))
            if subject_request.status != SubjectRequest.Status.REJECTED:
                data.update(dict.fromkeys(PROPOSED_TO_THE_OTHERS))
            if not subject_request.receipt_hash:  # until it completes, the partial record
                data["receipt"] = None
            # As the pages tell them: answered when they could have the answer (a copy waiting
            # for an officer's check is not), and late or in time from then.
            data["completed_at"] = data["answered_at"]
            data["days_late"] = data["answer_days_late"]
            data["overdue"] = subject_request.overdue or (
                subject_request.copy_being_checked and subject_request.days_left() < 0
            )
        return data

    def get_days_left(self, request: SubjectRequest) -> int:
        return request.days_left()

    @extend_schema_field(OwedSerializer(many=True))
    def get_still_to_tell(self, request: SubjectRequest) -> list[dict]:
        told = {notice.topic for notice in request.notices.all()}
        return OwedSerializer(notices.owed(request, told), many=True).data

    def get_subject_is_staff(self, request: SubjectRequest) -> bool:
        return request.subject_user_id is not None

    def get_verified_by(self, request: SubjectRequest) -> str | None:
        return _name(request.verified_by)

    def get_scoped_by(self, request: SubjectRequest) -> str | None:
        return _name(request.scoped_by)

    def get_approved_by(self, request: SubjectRequest) -> str | None:
        return _name(request.approved_by)

    def get_rejection_proposed_by(self, request: SubjectRequest) -> str | None:
        return _name(request.rejection_proposed_by)

    def get_archive_released_by(self, request: SubjectRequest) -> str | None:
        return _name(request.archive_released_by)


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
)
class IdentifierValuesField(serializers.Field):
    """The identifiers of one kind a request names: a list, or one per line as the page's box
    takes them. Passed on as the box's text, which the intake form cleans line by line."""

    default_error_messages = {
        "invalid": "Give a list of strings, one identifier each, or a string of them one per line.",
        "empty": "Item {number} of the list is empty: leave it out, or give the identifier.",
    }

    def to_internal_value(self, data) -> str:
        if isinstance(data, str):
            return data
        if not isinstance(data, list) or not all(isinstance(value, str) for value in data):
            self.fail("invalid")
        if blank := next((n for n, value in enumerate(data, start=1) if not value.strip()), 0):
            self.fail("empty", number=blank)
        return "\n".join(data)

    def to_representation(self, value):
        return value


class IntakeSerializer(serializers.Serializer):
    """What the intake form takes; cleaned by that same form (privacy.forms.IntakeForm)."""

    kind = serializers.ChoiceField(choices=SubjectRequest.Kind.choices)
    regime = serializers.ChoiceField(choices=SubjectRequest.Regime.choices)
    received_on = serializers.DateField()
    email = IdentifierValuesField(required=False)
    phone = IdentifierValuesField(required=False)
    name = IdentifierValuesField(required=False)
    other = IdentifierValuesField(required=False)
    staff_member = serializers.BooleanField(required=False, default=False)
    note = serializers.CharField(required=False, allow_blank=True)


class FinishSerializer(serializers.Serializer):
    """What the page's finish form takes (privacy.forms.FinishForm), cleaned by that form: the
    identifiers to erase in the text, given again (those typed for the first erasure were
    dropped when it closed). Every one the first named, save those of a kept staff account."""

    email = IdentifierValuesField(required=False)
    phone = IdentifierValuesField(required=False)
    name = IdentifierValuesField(required=False)
    other = IdentifierValuesField(required=False)


class MethodSerializer(serializers.Serializer):
    method = serializers.CharField(max_length=500)


class TellSerializer(serializers.Serializer):
    """Cleaned by the page's form (privacy.forms.TellForm): what, how, which day."""

    topic = serializers.ChoiceField(choices=RequesterNotice.Topic.choices)
    channel = serializers.CharField()
    told_on = serializers.DateField()


class RecipientToldSerializer(serializers.Serializer):
    """Cleaned by the page's form (privacy.forms.RecipientNoticeForm): which backend, which
    day, how."""

    backend = serializers.CharField()
    told_on = serializers.DateField()
    how = serializers.CharField(required=False, allow_blank=True)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


GROUNDS = SubjectRequest.RejectionGround
NO_GROUND = f"{RejectForm.NO_GROUND} One of: {', '.join(GROUNDS.values)}."


class RejectSerializer(ReasonSerializer):
    """As the page's reject form: the ground in law, one of its codes, and the reason."""

    ground = serializers.ChoiceField(
        choices=GROUNDS.choices,
        help_text="The ground in law: " + "; ".join(f"{g.value}: {g.label}" for g in GROUNDS),
        error_messages=dict.fromkeys(("required", "invalid_choice", "null", "blank"), NO_GROUND),
    )


class ConfirmRejectionSerializer(serializers.Serializer):
    rejection_proposed_at = serializers.DateTimeField(
        help_text="The request's rejection_proposed_at as you read it: the proposal you confirm."
    )


class WithholdSerializer(serializers.Serializer):
    terms = serializers.JSONField(
        help_text="Other people's names to withhold from the access copy before release: a "
        "list, or one per line as the page's box takes them."
    )


class WithheldNameSerializer(serializers.Serializer):
    name = serializers.CharField()
    replaced = serializers.IntegerField(help_text="How many it replaced (0: not found).")
    kept_as_theirs = serializers.IntegerField(
        help_text="How many it left, as part of the person's own name (Dr Alice Example)."
    )


class WithheldSerializer(serializers.Serializer):
    withheld = WithheldNameSerializer(many=True)


class ConfirmReleaseSerializer(serializers.Serializer):
    release_asked_at = serializers.DateTimeField(
        help_text="The hold's release_asked_at as you read it: the ask you confirm."
    )


HIDDEN_FROM_THE_HELD = (
    "reason", "release_reason", "release_asked_by", "release_asked_at", "released_by"
)  # fmt: skip


class LegalHoldSerializer(serializers.ModelSerializer):
    person = serializers.SerializerMethodField()
    conversation = serializers.UUIDField(
        source="conversation.public_id", read_only=True, default=None, allow_null=True
    )
    placed_by = serializers.SerializerMethodField()
    release_asked_by = serializers.SerializerMethodField()
    released_by = serializers.SerializerMethodField()

    class Meta:
        model = LegalHold
        fields = [
            "public_id", "person", "conversation", "reason", "placed_by", "placed_at",
            "release_asked_by", "release_asked_at", "release_reason",
            "released_by", "released_at",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, hold: LegalHold) -> dict:
        data = super().to_representation(hold)
        request = self.context.get("request")
        if request is not None and hold.is_about(request.user):
            # As on the holds page: a hold's reasons may tell the officer it is about what
            # they are suspected of, and who asked for or confirmed its release who is
            # looking into it.
            for hidden in HIDDEN_FROM_THE_HELD:
                data[hidden] = None
        return data

    def get_person(self, hold: LegalHold) -> str | None:
        return hold.user.email if hold.user else None

    def get_placed_by(self, hold: LegalHold) -> str | None:
        return _name(hold.placed_by)

    def get_release_asked_by(self, hold: LegalHold) -> str | None:
        return _name(hold.release_asked_by)

    def get_released_by(self, hold: LegalHold) -> str | None:
        return _name(hold.released_by)


class HoldWriteSerializer(serializers.Serializer):
    person = serializers.EmailField(required=False, allow_blank=True)
    conversation = serializers.UUIDField(required=False, allow_null=True)
    reason = serializers.CharField(max_length=500)


class PurgeRunSerializer(serializers.ModelSerializer):
    triggered_by = serializers.SerializerMethodField()
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = PurgeRun
        fields = [
            "public_id", "status", "triggered_by", "started_at", "finished_at",
            "total_conversations", "done_conversations", "deleted_messages", "percent",
            "counts", "errors",
        ]  # fmt: skip
        read_only_fields = fields

    def get_triggered_by(self, run: PurgeRun) -> str | None:
        return _name(run.triggered_by)


class ExpiredCountSerializer(serializers.Serializer):
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField()


class PurgePreviewSerializer(serializers.Serializer):
    """What the next purge would remove: by category name, in all, and what holds keep."""

    counts = serializers.DictField(child=ExpiredCountSerializer(), help_text="By category name.")
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField()
    held = serializers.IntegerField(help_text="Conversations past their window a hold keeps.")
