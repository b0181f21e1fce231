"""Policy objects as the REST API shows them: never a credential, never a term."""

from rest_framework import serializers

from governance.models import Approval, Backend, Category


class ApprovalSerializer(serializers.ModelSerializer):
    backend = serializers.UUIDField(source="backend.public_id", read_only=True)
    backend_name = serializers.CharField(source="backend.name", read_only=True)

    class Meta:
        model = Approval
        fields = ["backend", "backend_name", "preference", "approved_at"]
        read_only_fields = fields


class CategorySerializer(serializers.ModelSerializer):
    approvals = ApprovalSerializer(many=True, read_only=True)

    class Meta:
        model = Category
        fields = [*Category.POLICY_FIELDS, "updated_at", "approvals"]
        read_only_fields = fields


class BackendSerializer(serializers.ModelSerializer):
    has_credential = serializers.SerializerMethodField()

    class Meta:
        model = Backend
        fields = [
            "public_id", *Backend.POLICY_FIELDS, "has_credential", "health_checked_at",
            "health_latency_ms", "health_error", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_has_credential(self, backend: Backend) -> bool:
        return bool(backend.credential_encrypted)
