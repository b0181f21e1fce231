"""Policy objects as the REST API shows them: never a credential, never a term."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.forms import MAX_RETENTION_DAYS
from governance.models import (
    Approval,
    Backend,
    Category,
    Clearance,
    DetectionRule,
    HostingClass,
    ProtectedTermList,
)
from governance.policy import MATRIX_ACTIONS


class ApprovalSerializer(serializers.ModelSerializer):
    backend = serializers.UUIDField(source="backend.public_id", read_only=True)
    backend_name = serializers.CharField(source="backend.name", read_only=True)

    class Meta:
        model = Approval
        fields = ["backend", "backend_name", "preference", "approved_at"]
        read_only_fields = fields


class CategorySerializer(serializers.ModelSerializer):
    """A category as the console edits it (the writes are cleaned by its forms, not here)."""

    # Strings, not a choice field: the backends' HostingClassEnum would get a second name.
    allowed_hosting_classes = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text=f"Any of {', '.join(HostingClass.values)}. None: any hosting.",
    )
    allowed_regions = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Region codes, e.g. eu, ch (a comma-separated string is taken too). "
        "None: any region.",
    )
    finding_actions = serializers.DictField(
        child=serializers.ChoiceField([str(action) for action in MATRIX_ACTIONS]),
        required=False,
        help_text="Overrides of the finding matrix: finding type -> action. Written, it replaces "
        "them all, as the console's matrix does; an action equal to the level's default is "
        "dropped. National identifiers take one action together (NATIONAL_ID, or any of them).",
    )
    approvals = ApprovalSerializer(many=True, read_only=True)
    confirm_shorter_retention = serializers.BooleanField(
        write_only=True,
        required=False,
        help_text="true saves a shorter retention window (or none) that makes the next purge "
        "delete conversations the old window keeps; without it, such an edit is a 400 that "
        "counts them.",
    )

    class Meta:
        model = Category
        fields = [*Category.POLICY_FIELDS, "updated_at", "approvals", "confirm_shorter_retention"]
        read_only_fields = ["updated_at"]
        # The bounds the console's form keeps (governance.forms), so the schema says them.
        extra_kwargs = {
            "number": {
                "help_text": "The sensitivity level (1-9). Fixed once created.",
                "min_value": 1,
                "max_value": 9,
            },
            "slug": {"help_text": "Used in addresses. Fixed once created."},
            "retention_days": {"min_value": 0, "max_value": MAX_RETENTION_DAYS},
        }


class BackendSerializer(serializers.ModelSerializer):
    has_credential = serializers.SerializerMethodField()
    notice = serializers.SerializerMethodField(
        help_text="In the answer to an edit that removed the stored key because the kind, the "
        "address or (Bedrock, Vertex AI) the region changed: that, in words. Empty otherwise."
    )
    credential = serializers.CharField(
        write_only=True, required=False, help_text="The API key: sealed, never shown again."
    )
    remove_credential = serializers.BooleanField(
        write_only=True,
        required=False,
        help_text="true deletes the stored key (to use credential_env, or the workers' own "
        "identity).",
    )

    class Meta:
        model = Backend
        fields = [
            "public_id", *Backend.POLICY_FIELDS, "credential", "remove_credential",
            "has_credential", "notice",
            "health_checked_at", "health_latency_ms", "health_error", "updated_at",
        ]  # fmt: skip
        read_only_fields = [f for f in fields if f not in (*Backend.POLICY_FIELDS, "credential")]
        # As the console's form takes them: hosting defaults to the kind's usual one, and
        # the built-in kind needs no model (its packaged one).
        extra_kwargs = {"hosting_class": {"required": False}, "model": {"required": False}}

    def get_has_credential(self, backend: Backend) -> bool:
        return bool(backend.credential_encrypted)

    def get_notice(self, backend: Backend) -> str:
        return getattr(backend, "credential_notice", "")  # set by services.save_backend


class ApprovalWriteSerializer(serializers.Serializer):
    """Approve a backend for a category (refused, with the reasons, if it breaks a requirement).

    The schema of what the console's ApprovalForm takes, which cleans the request.
    """

    category = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.filter(is_active=True)
    )
    backend = serializers.SlugRelatedField(slug_field="public_id", queryset=Backend.objects.all())
    preference = serializers.IntegerField(
        min_value=1,
        max_value=1000,
        default=100,
        help_text="Lower is tried first when several backends qualify.",
    )


class ApprovalPreferenceSerializer(serializers.Serializer):
    """What a PATCH of an approval may change: where its backend stands for the category."""

    preference = serializers.IntegerField(
        min_value=1, max_value=1000, help_text="Lower is tried first when several qualify."
    )


class ApprovalRowSerializer(serializers.ModelSerializer):
    key = serializers.SerializerMethodField()
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    backend = serializers.UUIDField(source="backend.public_id", read_only=True)
    backend_name = serializers.CharField(source="backend.name", read_only=True)
    approved_by = serializers.CharField(
        source="approved_by.email", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Approval
        fields = ["key", "category", "backend", "backend_name", "preference", "approved_by"]
        read_only_fields = fields

    def get_key(self, approval: Approval) -> str:
        return f"{approval.category.slug}:{approval.backend.public_id}"


class ClearanceSerializer(serializers.ModelSerializer):
    key = serializers.SerializerMethodField()
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    # One of the two, the other null.
    group = serializers.CharField(
        source="group.name", read_only=True, default=None, allow_null=True
    )
    user = serializers.UUIDField(
        source="user.public_id", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Clearance
        fields = ["key", "category", "group", "user", "granted_at"]
        read_only_fields = fields

    def get_key(self, clearance: Clearance) -> str:
        party = f"group:{clearance.group.name}" if clearance.group_id else None
        return f"{clearance.category.slug}:{party or f'user:{clearance.user.public_id}'}"


class ClearanceWriteSerializer(serializers.Serializer):
    """Clear a role group or one person for a category (the console form's fields)."""

    category = serializers.SlugField()
    party = serializers.CharField(
        help_text="group:<name> or user:<public id>; or a group's name or a person's email"
    )


class RuleSerializer(serializers.ModelSerializer):
    min_category = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = DetectionRule
        fields = [
            "public_id", "name", "reason", "kind", "pattern", "case_sensitive", "action",
            "min_category", "is_active", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["public_id", "updated_at"]


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
)
class TermsField(serializers.JSONField):
    """Terms as the console's paste box takes them (one per line, or comma-separated), or a
    list of strings (one term each)."""


class TermListSerializer(serializers.ModelSerializer):
    """A protected-term list's name, kind and size: never its terms."""

    terms = TermsField(
        write_only=True,
        required=False,
        help_text="One per line (or comma-separated), or a list of strings. Replaces every "
        "term; sealed, never shown again. Left out of an edit: the terms stay.",
    )

    class Meta:
        model = ProtectedTermList
        fields = ["public_id", "name", "kind", "terms", "term_count", "is_active", "updated_at"]
        read_only_fields = ["public_id", "term_count", "updated_at"]
