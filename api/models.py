"""Personal API tokens: shown once, stored as a prefix to find them and a hash to check them."""

import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

#: Every token starts with this, so secret scanners (ours included) recognise one.
TOKEN_PREFIX = "stw_"
#: The part of a token stored in clear: the prefix and 8 random characters.
LOOKUP_CHARS = len(TOKEN_PREFIX) + 8


def digest(raw: str) -> str:
    """The stored form of a token. It is 256 random bits: a fast hash is enough."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> "ApiTokenQuerySet":
        """Neither revoked nor expired."""
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A personal token for the API: it acts as its owner, with the owner's roles.

    The token itself is shown once, when it is made; only its first characters
    (to find it, and to show which one it is) and its SHA-256 are kept.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    lookup = models.CharField(max_length=LOOKUP_CHARS, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="api_apitoken_user_recent")]

    def __str__(self) -> str:
        # Never the token: this string reaches audit events and logs.
        return f"API token {self.lookup}…"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expired else "active"
