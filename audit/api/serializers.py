from rest_framework import serializers

from audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.UUIDField(source="actor.public_id", read_only=True, allow_null=True)
    # What the hash covers (actor is the account's public id): without it no row re-verifies.
    actor_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "sequence", "occurred_at", "actor", "actor_id", "actor_label", "request_id", "action",
            "outcome", "target_type", "target_id", "target_repr", "category", "backend", "before",
            "after", "details", "message", "pseudonyms", "prev_hash", "hash",
        ]  # fmt: skip
        read_only_fields = fields
