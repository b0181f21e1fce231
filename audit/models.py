"""The audit trail: one append-only row per event, chained by SHA-256."""

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Upper
from django.utils import timezone


class AuditEventQuerySet(models.QuerySet):
    def between(self, first_day: dt.date | None, last_day: dt.date | None) -> "AuditEventQuerySet":
        """Events on or after ``first_day`` and on or before ``last_day`` (local dates).
        Any date will do, the calendar's first and last days included."""
        start = _local_midnight(first_day) if first_day else None
        end = None
        if last_day and last_day < dt.date.max:  # no event is after the calendar's last day
            end = _local_midnight(last_day + dt.timedelta(days=1))
        return self.within(start, end)

    def within(self, start: dt.datetime | None, end: dt.datetime | None) -> "AuditEventQuerySet":
        """Events at or after ``start`` and before ``end`` (None: no bound).

        Sequence numbers grow with time (an event is stamped inside the chain's write
        lock), so two indexed look-ups turn the moments into bounds on the column every
        index ends with.
        """
        events = self
        if start is not None:
            first = first_sequence_at(start)
            events = events.filter(sequence__gte=first) if first is not None else events.none()
        if end is not None:
            beyond = first_sequence_at(end)
            if beyond is not None:
                events = events.filter(sequence__lt=beyond)
        return events

    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only")

    def delete(self):
        raise PermissionError("Audit events are append-only")


def _local_midnight(day: dt.date) -> dt.datetime | None:
    """When local ``day`` begins; None for 1 January of year 1 east of UTC, before which
    nothing happened (the moment is not representable in UTC)."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    try:
        return start.astimezone(dt.UTC)
    except OverflowError:
        return None


def events_since(moment: dt.datetime | None) -> models.QuerySet:
    """The events at or after ``moment`` (None: all), oldest first, by the occurred_at index."""
    events = AuditEvent.objects.order_by("occurred_at")
    return events if moment is None else events.filter(occurred_at__gte=moment)


def events_from(day: dt.date) -> models.QuerySet:
    """The events on or after local ``day``, oldest first."""
    return events_since(_local_midnight(day))


def first_sequence_at(moment: dt.datetime | None) -> int | None:
    return events_since(moment).values_list("sequence", flat=True).first()


class ActionField(models.CharField):
    """A CharField whose choices stay in code: adding an action needs no migration."""

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("choices", None)
        return name, path, args, kwargs


class AuditEvent(models.Model):
    """Something that happened: who, what, to which object, and the outcome.

    Never holds message text: only sizes, counts, finding types, hashes,
    decisions and reasons.

    ``chat.request`` events are what the dashboard and compliance reports
    count. Their ``category`` and ``backend`` columns hold the names, ``outcome``
    is success or blocked, and ``details`` holds ``category_number``,
    ``decision`` (allowed, pseudonymised, escalated, blocked), ``hosting_class``,
    ``region`` and ``findings`` (``{entity type: count}``, a matching rule as ``"rule <name>"``).

    ``hash`` covers the row's canonical content and the previous row's hash,
    so changing, removing or reordering any row breaks every hash after it. For a
    person's values (their name, a sign-in's IP address) it covers their keyed hashes
    (``pseudonyms``): the clear values are removed after STEWARD_AUDIT_PERSONAL_DAYS, or
    when the account is erased (audit.personal), and the row still verifies.
    """

    class Action(models.TextChoices):
        LOGIN = "auth.login", "Signed in"
        LOGIN_FAILED = "auth.login_failed", "Sign-in failed"
        LOGOUT = "auth.logout", "Signed out"
        PASSWORD_CHANGED = "auth.password_changed", "Password changed"
        PASSWORD_RESET = "auth.password_reset", "Password reset"
        PASSWORD_CHOSEN = "auth.password_chosen", "First password chosen"
        MFA_ADDED = "auth.mfa_added", "Two-factor method added"
        MFA_REMOVED = "auth.mfa_removed", "Two-factor method removed"
        IDENTITY_LINKED = "auth.identity_linked", "Single sign-on identity linked"
        IDENTITY_UNLINKED = "auth.identity_unlinked", "Single sign-on identity unlinked"
        USER_INVITED = "user.invited", "User invited"
        USER_SIGNED_UP = "user.signed_up", "Account made by sign-up"
        ADDRESS_CONFIRMED = "auth.address_confirmed", "Email address confirmed"
        USER_ROLES_CHANGED = "user.roles_changed", "Roles changed"
        USER_DEACTIVATED = "user.deactivated", "User deactivated"
        USER_REACTIVATED = "user.reactivated", "User reactivated"
        POLICY_SEEDED = "policy.seeded", "Demo policy seeded"
        POLICY_CHANGED = "policy.changed", "Policy changed"
        BACKEND_TESTED = "policy.backend_tested", "Backend connection tested"
        CHAT_STARTED = "chat.started", "Conversation started"
        CHAT_REQUEST = "chat.request", "Chat request"
        CHAT_RESPONSE = "chat.response", "Chat response"
        CHAT_FAILURE = "chat.failure", "Chat failure"
        CHAT_EXPORTED = "chat.exported", "Conversation exported"
        CHAT_DELETED = "chat.deleted", "Conversation deleted"
        CHAT_RENAMED = "chat.renamed", "Conversation renamed"
        MASTER_KEY_ROTATED = "keys.master_rotated", "Master key rotated"
        AUDIT_EXPORTED = "audit.exported", "Audit trail exported"
        AUDIT_VERIFIED = "audit.verified", "Audit chain verified"
        AUDIT_ALERTED = "audit.alerted", "Auditors told of a failed verification"
        AUDIT_PERSONAL_REMOVED = (
            "audit.personal_removed",
            "Names and addresses removed from old events",
        )
        INDEX_KEY_STAMPED = "privacy.index_key_stamped", "Subject index key taken"
        BREACH_SCOPED = "privacy.breach_scoped", "Breach scope reported"
        AUDIT_CHECKPOINT = "audit.checkpoint", "Audit checkpoint signed"
        REPORT_EXPORTED = "audit.report_exported", "Compliance report exported"
        API_TOKEN_CREATED = "api.token_created", "API token created"
        API_TOKEN_REVOKED = "api.token_revoked", "API token revoked"
        API_TOKEN_REFUSED = "api.token_refused", "API token refused"
        API_REQUEST = "api.request", "API request"
        TRAINING_POLICY_DRAFTED = "training.policy_drafted", "Policy document draft saved"
        TRAINING_POLICY_PUBLISHED = "training.policy_published", "Policy document published"
        TRAINING_ACKNOWLEDGED = "training.acknowledged", "Policy document acknowledged"
        TRAINING_QUIZ_TAKEN = "training.quiz_taken", "Training quiz taken"
        TRAINING_QUESTION_CHANGED = "training.question_changed", "Quiz question changed"
        TRAINING_REPORT_EXPORTED = "training.report_exported", "Training report exported"
        TRAINING_REMINDED = "training.reminded", "Acknowledgement reminder sent"
        RETENTION_PURGED = "retention.purged", "Retention purge run"
        RETENTION_SCHEDULE_CHANGED = "retention.schedule_changed", "Purge schedule changed"
        HOLD_PLACED = "retention.hold_placed", "Legal hold placed"
        HOLD_RELEASE_ASKED = "retention.hold_release_asked", "Legal hold release asked"
        HOLD_RELEASE_WITHDRAWN = "retention.hold_release_withdrawn", "Legal hold release withdrawn"
        HOLD_RELEASED = "retention.hold_released", "Legal hold released"
        DSR_RECEIVED = "dsr.received", "Data-subject request received"
        DSR_VERIFIED = "dsr.verified", "Data-subject identity verified"
        DSR_SCOPED = "dsr.scoped", "Data-subject request scoped"
        DSR_APPROVED = "dsr.approved", "Data-subject request approved"
        DSR_RETRIED = "dsr.retried", "Data-subject request run again"
        DSR_RELEASED = "dsr.archive_released", "Data-subject archive released to the person"
        DSR_REJECTED = "dsr.rejected", "Data-subject request rejected"
        DSR_EXTENDED = "dsr.extended", "Data-subject request extended"
        DSR_EXECUTED = "dsr.executed", "Data-subject request executed"
        DSR_FAILED = "dsr.failed", "Data-subject request failed"
        DSR_DOWNLOADED = "dsr.downloaded", "Data-subject archive or receipt downloaded"
        DSR_REMINDED = "dsr.reminded", "Data-subject deadline reminder sent"
        DSR_TOLD = "dsr.told", "Data-subject requester told"
        DSR_RECIPIENT_TOLD = "dsr.recipient_told", "Recipient of erased data asked to erase it"
        DSR_ARCHIVE_WITHDRAWN = (
            "dsr.archive_withdrawn",
            "Data-subject archive withdrawn: it held data since erased (a new request rebuilds it)",
        )
        DSR_REPLY_TO_DROPPED = (
            "dsr.reply_to_dropped",
            "Data-subject reply-to address dropped: the outcome was told",
        )
        DSR_ARCHIVE_WITHHELD = (
            "dsr.archive_withheld",
            "Names withheld from a data-subject archive before release",
        )
        DSR_FOLLOW_UP_REFUSED = (
            "dsr.follow_up_refused",
            "Follow-up erasure refused: an identifier the first named was missing",
        )
        DSR_REJECTION_PROPOSED = (
            "dsr.rejection_proposed",
            "Data-subject request's rejection proposed, for a second officer to confirm",
        )
        DSR_REJECTION_WITHDRAWN = (
            "dsr.rejection_withdrawn",
            "Data-subject request's proposed rejection withdrawn",
        )

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        BLOCKED = "blocked", "Blocked"

    sequence = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    action = ActionField(max_length=40, choices=Action.choices)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.SUCCESS)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=80, blank=True)
    backend = models.CharField(max_length=80, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    message = models.CharField(max_length=500, blank=True)
    #: The keyed hash of each personal value, by path: see audit.chain.PSEUDONYMS.
    pseudonyms = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        # The auditor's filters pair with the sequence, so PostgreSQL walks one index
        # backwards and stops after a page. Category and backend are matched whatever
        # their case (the filter's iexact is UPPER(...)); a common one is found at once
        # along the primary key, but a rare or retired one walked all of it (0.5 s at a
        # million events), and the category's number is read from the details.
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_event_target"),
            models.Index(fields=["action", "sequence"], name="audit_event_action"),
            models.Index(fields=["actor", "sequence"], name="audit_event_actor"),
            models.Index(fields=["outcome", "sequence"], name="audit_event_outcome"),
            models.Index(Upper("backend"), "sequence", name="audit_event_backend"),
            models.Index(Upper("category"), "sequence", name="audit_event_category"),
            models.Index(
                KeyTransform("category_number", "details"),
                "sequence",
                name="audit_event_category_no",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionError("Audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only")


class AuditCheckpointQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit checkpoints are append-only")

    def delete(self):
        raise PermissionError("Audit checkpoints are append-only")


class AuditCheckpoint(models.Model):
    """A signed statement of the chain's head at one moment.

    Exported and kept elsewhere, checkpoints prove later that no event up to
    their sequence was changed, removed or appended out of order, even by
    someone who can rewrite the whole table and recompute every hash. Append-only
    like the events (PostgreSQL's trigger too: migration 0007).
    """

    sequence = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    key_id = models.CharField(max_length=16, help_text="Fingerprint of the signing key.")
    signature = models.CharField(max_length=100, help_text="Ed25519, URL-safe base64.")

    objects = AuditCheckpointQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence", "-created_at"]
        # The newest is on every auditor's page; a year of hourly checkpoints is 8,760 rows.
        indexes = [models.Index(fields=["sequence", "created_at"], name="audit_checkpoint_order")]

    def __str__(self) -> str:
        return f"checkpoint at #{self.sequence}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionError("Audit checkpoints are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit checkpoints are append-only")

    def payload(self) -> dict:
        return {
            "sequence": self.sequence,
            "head_hash": self.head_hash,
            "created_at": self.created_at.isoformat(timespec="microseconds"),
            "key_id": self.key_id,
        }
