from rest_framework import serializers

from audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.UUIDField(source="actor.public_id", read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "sequence", "occurred_at", "actor", "actor_label", "request_id", "action", "outcome",
            "target_type", "target_id", "target_repr", "category", "backend", "before", "after",
            "details", "message", "prev_hash", "hash",
        ]  # fmt: skip
        read_only_fields = fields
