"""Purge runs, legal holds and data-subject requests."""

import datetime as dt
import json
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from privacy import policy
from privacy.business_days import public_holidays

#: How long an access archive is kept after its request completed; a beat job drops it then.
ARCHIVE_KEEP_DAYS = 30
#: Executions a request gets per approval: a run whose worker is lost is taken over until then.
MAX_ATTEMPTS = 3


class PurgeRun(models.Model):
    """One run of the retention purge: when, how far it got, what it removed, what went wrong.

    ``counts`` maps a category's name to ``{"conversations": n, "messages": n}``.
    At most one run is RUNNING at a time (a partial unique index), carried out by
    the worker that claimed it last: claiming bumps ``attempts``, and each batch
    commits its deletions with the counts and a heartbeat only while the run holds
    that number. A run whose worker died stops beating: another worker takes it over
    and goes on from its counts (the beat sweep, ``privacy.purge.recover``), or the
    next run marks it INTERRUPTED and finishes the work, batch by batch.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    #: Workers that claimed the run; 0 while none has (a "Purge now" waiting for one).
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    total_conversations = models.PositiveIntegerField(default=0)
    done_conversations = models.PositiveIntegerField(default=0)
    deleted_messages = models.PositiveBigIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="running"),
                name="privacy_purgerun_one_running",
            )
        ]

    def __str__(self) -> str:
        return f"Purge {timezone.localtime(self.started_at):%Y-%m-%d %H:%M}"

    @property
    def percent(self) -> int:
        if not self.total_conversations:
            return 100 if self.status != self.Status.RUNNING else 0
        return min(100, round(100 * self.done_conversations / self.total_conversations))

    @property
    def duration(self) -> dt.timedelta | None:
        return (self.finished_at - self.started_at) if self.finished_at else None


class LegalHold(models.Model):
    """Keeps a person's conversations, or one conversation, past its retention window.

    Exactly one of ``user`` and ``conversation`` is set. A hold is active until
    released, with four eyes: one privacy officer asks to release it, saying why, and
    another confirms. Placing, asking and releasing record who, when and why.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="legal_holds",
    )
    conversation = models.ForeignKey(
        "chat.Conversation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="legal_holds",
    )
    reason = models.CharField(max_length=500)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    placed_at = models.DateTimeField(default=timezone.now)
    release_asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    release_asked_at = models.DateTimeField(null=True, blank=True)
    release_reminded_on = models.DateField(null=True, blank=True)
    release_reason = models.CharField(max_length=500, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, conversation__isnull=True)
                | models.Q(user__isnull=True, conversation__isnull=False),
                name="privacy_legalhold_one_subject",
            )
        ]
        indexes = [
            models.Index(
                fields=["user"],
                name="privacy_legalhold_active_user",
                condition=models.Q(released_at__isnull=True, user__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"Legal hold {self.public_id}"

    @property
    def active(self) -> bool:
        return self.released_at is None

    @property
    def release_asked(self) -> bool:
        """Whether an officer asked to release it and it waits for a second one."""
        return self.active and self.release_asked_at is not None

    def is_about(self, user) -> bool:
        """Whether it holds ``user``'s content: they may not release it themselves."""
        if self.user_id:
            return self.user_id == user.pk
        return self.conversation.owner_id == user.pk


class SubjectRequestQuerySet(models.QuerySet):
    def listed(self):
        """For lists: without the sealed access archive (megabytes each), with
        ``archive_available`` saying whether there is one."""
        return self.defer("archive_sealed").annotate(
            archive_available=~models.Q(archive_sealed=b"")
        )

    def with_notices(self):
        """With ``told_<topic>``: whether the requester was told each thing they may be owed
        (``privacy.notices.told_topics``)."""
        return self.annotate(
            **{
                f"told_{topic}": models.Exists(
                    RequesterNotice.objects.filter(request=models.OuterRef("pk"), topic=topic)
                )
                for topic in RequesterNotice.Topic.values
            }
        )

    def copies_being_checked(self):
        """The access requests whose copy waits for a privacy officer's check before the
        person may download it: :attr:`SubjectRequest.copy_being_checked`, as a filter."""
        return self.filter(
            kind=SubjectRequest.Kind.ACCESS,
            status=SubjectRequest.Status.COMPLETED,
            subject_user__isnull=False,
            archive_released_at__isnull=True,
            archive_dropped_at__isnull=True,
        )


class SubjectRequest(models.Model):
    """A data-subject request (GDPR/CCPA), from intake to receipt.

    The identifiers the request names are sealed with the master key and
    dropped once the request is closed; what remains is their keyed hashes
    (the same HMAC the subject index holds), so the receipt can be checked
    later without keeping the identifier. The audit trail names the request
    by its ``reference`` only. One contact, where the answer goes, stays sealed
    past closing (``reply_to_sealed``) until the outcome is recorded as told.

    A FAILED request is still open: it is owed to the subject, so it stays on the
    desk and in the reminders until an officer runs it again (``attempts_allowed``
    then grows by ``MAX_ATTEMPTS``). While it executes, the worker that claimed it
    last (``attempts``) beats ``heartbeat_at``; until it completes, ``receipt`` holds
    the partial record of what the attempts did so far.

    An access archive is kept ``ARCHIVE_KEEP_DAYS`` after completion. The subject
    downloads it once it is released: at once if it holds nobody else's messages,
    otherwise when a privacy officer has checked them.

    A rejection takes four eyes too: one officer proposes it (``rejection_proposed_by``,
    ``rejection_proposed_at``, the ground and the reason), the request stays open, and another
    confirms it or withdraws the proposal.
    """

    class Kind(models.TextChoices):
        ACCESS = "access", "Access (a copy of the data)"
        ERASURE = "erasure", "Erasure (be forgotten)"

    class Regime(models.TextChoices):
        GDPR = "gdpr", "GDPR"
        CCPA = "ccpa", "CCPA"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        VERIFIED = "verified", "Identity verified"
        SCOPED = "scoped", "Scoped"
        APPROVED = "approved", "Approved"
        EXECUTING = "executing", "Executing"
        COMPLETED = "completed", "Completed"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"

    class RejectionGround(models.TextChoices):
        """Why the law lets a request be refused: each officer's choice in one line, both
        laws' articles named; the letter says it in plain words under the request's law."""

        UNVERIFIED = (
            "unverified",
            (
                "Identity could not be verified (GDPR Art. 11(2), 12(6); CCPA: not a verifiable "
                "consumer request)"
            ),
        )
        UNFOUNDED = "unfounded", "Manifestly unfounded (GDPR Art. 12(5); CCPA § 1798.145)"
        EXCESSIVE = (
            "excessive",
            (
                "Excessive, in particular repetitive (GDPR Art. 12(5); CCPA § 1798.145): see the "
                "earlier requests"
            ),
        )
        EXEMPTION = (
            "exemption",
            (
                "A legal exemption applies: name it in the reason (GDPR Art. 17(3), 15(4), 23; "
                "CCPA § 1798.105(d), § 1798.145)"
            ),
        )
        NO_DATA = (
            "no_data",
            (
                "No data held: Steward holds none of the person's personal data, or none that the "
                "request is about"
            ),
        )

    OPEN = (
        Status.RECEIVED,
        Status.VERIFIED,
        Status.SCOPED,
        Status.APPROVED,
        Status.EXECUTING,
        Status.FAILED,
    )
    #: Those a rejection may be proposed and confirmed in: not once its execution started.
    REJECTABLE = (Status.RECEIVED, Status.VERIFIED, Status.SCOPED, Status.APPROVED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(max_length=20, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    regime = models.CharField(max_length=10, choices=Regime.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subject_requests",
        help_text="Set when the subject is a staff member (their account data is in scope).",
    )
    identifiers_sealed = models.BinaryField(default=b"", editable=False)
    digests = models.JSONField(
        default=list,
        blank=True,
        help_text="The subject index's keyed hashes (HMAC, hex) of the identifiers the request "
        "names: a flat list, each as privacy.scope.digest_of makes it.",
    )
    received_on = models.DateField()
    due_on = models.DateField()
    extended = models.BooleanField(default=False)
    extended_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.CharField(max_length=500, blank=True)
    note = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verification = models.CharField(max_length=500, blank=True)
    scoped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scoped_at = models.DateTimeField(null=True, blank=True)
    scope = models.JSONField(default=dict, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_reason = models.CharField(
        max_length=500,
        blank=True,
        help_text="Why the request is refused, as the requester is told; while a rejection is "
        "proposed (rejection_proposed_at), the proposal's.",
    )
    rejection_ground = models.CharField(
        max_length=12,
        choices=RejectionGround.choices,
        blank=True,
        help_text="The legal ground of a rejection, or of the one proposed (blank on those "
        "recorded before it was asked).",
    )
    rejection_proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rejection_proposed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    attempts_allowed = models.PositiveSmallIntegerField(default=MAX_ATTEMPTS)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    redaction_counts = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the current attempt at an erasure redacted so far in other people's "
        "conversations (privacy.erasure.REDACTION_COUNTS), stored with each conversation's "
        "redaction: the values are gone, so a take-over counts the lost attempt's work from it.",
    )
    account_names = models.JSONField(
        default=list,
        blank=True,
        help_text="The keyed hashes of the names and addresses the subject's account had "
        "(privacy.erasure.account_names), kept before an erasure blanks them: removing them "
        "from the audit trail goes on from these after a crash. Dropped on completion.",
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    receipt = models.JSONField(default=dict, blank=True)
    receipt_hash = models.CharField(max_length=64, blank=True)
    archive_sealed = models.BinaryField(default=b"", editable=False)
    archive_released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    archive_released_at = models.DateTimeField(null=True, blank=True)
    archive_dropped_at = models.DateTimeField(null=True, blank=True)
    archive_digests = models.JSONField(
        default=list,
        blank=True,
        help_text="The keyed hashes of everyone the subject index finds in what the access "
        "archive holds: an erasure of any of them drops it.",
    )
    reply_to_sealed = models.BinaryField(default=b"", editable=False)
    reminded_on = models.DateField(null=True, blank=True)
    nothing_left_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a completed erasure that withheld something under a legal hold was "
        "found to have left nothing behind: it is not looked at again.",
    )

    objects = SubjectRequestQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "created_at"]
        indexes = [models.Index(fields=["status", "due_on"], name="privacy_request_open")]

    def __str__(self) -> str:
        # The reference only: this string reaches audit events.
        return self.reference

    @property
    def regime_rules(self) -> policy.Regime:
        return policy.REGIMES[self.regime]

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def rejection_proposed(self) -> bool:
        """Whether an officer proposed rejecting it and it waits for a second one (the ground
        and reason proposed are in ``rejection_ground`` and ``rejected_reason`` meanwhile)."""
        return self.rejection_proposed_at is not None and self.status in self.REJECTABLE

    def days_left(self, today: dt.date | None = None) -> int:
        return policy.days_left(self.due_on, today or timezone.localdate())

    @property
    def overdue(self) -> bool:
        return self.is_open and self.days_left() < 0

    def days_overdue(self, today: dt.date) -> int:
        """How many days past its due date it is on ``today`` (0: not past it)."""
        return policy.days_overdue(self.due_on, today)

    def days_copy_waited(self, today: dt.date) -> int:
        """How many days the access copy has waited for an officer's check on ``today``,
        counted from the day it was made (0 on that day); while :attr:`copy_being_checked`."""
        return (today - timezone.localdate(self.completed_at)).days

    @property
    def days_late(self) -> int:
        """How many days after its due date a closed request was answered (0: in time)."""
        if self.completed_at is None or self.is_open:
            return 0
        return max(0, (timezone.localdate(self.completed_at) - self.due_on).days)

    @property
    def copy_being_checked(self) -> bool:
        """Whether the person's access copy is made but waits for a privacy officer to check
        the messages other people wrote in it before they may download it
        (``privacy.archive.release``): to them, the request is not answered yet. The desk and
        the reminder find them with ``SubjectRequest.objects.copies_being_checked()``: the
        same rule, kept beside it."""
        return (
            self.kind == self.Kind.ACCESS
            and self.status == self.Status.COMPLETED
            and self.subject_user_id is not None
            and self.archive_released_at is None
            and self.archive_dropped_at is None
        )

    @property
    def answered_at(self) -> dt.datetime | None:
        """When the person had their answer, as they are told it: when the request was
        completed or rejected, or when their access copy was released to them if it waited
        for an officer's check (None until then). The desk counts from ``completed_at``."""
        if self.is_open or self.copy_being_checked:
            return None
        if self.kind == self.Kind.ACCESS and self.archive_released_at:
            return self.archive_released_at
        return self.completed_at

    @property
    def answer_days_late(self) -> int:
        """How many days after its due date the person had their answer (0: in time), as
        they are told it; while their copy is being checked, how late it is so far."""
        if self.is_open:
            return 0
        answered = self.answered_at
        return self.days_overdue(timezone.localdate(answered) if answered else timezone.localdate())

    def notice_due_on(self, topic: str) -> dt.date | None:
        """The last day to tell the requester ``topic`` (:func:`policy.notice_due_on`)."""
        return policy.notice_due_on(
            topic,
            regime=self.regime_rules,
            received_on=self.received_on,
            due=self.due_on,
            holidays=public_holidays(),
        )

    @property
    def percent(self) -> int:
        if not self.progress_total:
            return 100 if self.status == self.Status.COMPLETED else 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    @property
    def archive_expires_at(self) -> dt.datetime | None:
        if self.kind != self.Kind.ACCESS or not self.completed_at:
            return None
        return self.completed_at + dt.timedelta(days=ARCHIVE_KEEP_DAYS)

    @property
    def archive_withdrawn(self) -> bool:
        """Whether the access archive went before its time: it held data since erased (the
        subject's own, or someone's it quotes; the request's history names the erasure)."""
        expires = self.archive_expires_at
        return bool(self.archive_dropped_at and expires and self.archive_dropped_at < expires)

    def seal_identifiers(self, identifiers: list[tuple[str, str]]) -> None:
        from governance import crypto

        plain = json.dumps(identifiers).encode()
        self.identifiers_sealed = crypto.seal(plain, context=self._context())

    def identifiers(self) -> list[tuple[str, str]]:
        """The identifiers as typed ([kind, value] pairs); empty once the request is closed."""
        from governance import crypto

        blob = bytes(self.identifiers_sealed or b"")
        if not blob:
            return []
        return [
            tuple(pair) for pair in json.loads(crypto.open_sealed(blob, context=self._context()))
        ]

    def _context(self) -> bytes:
        return f"subject-request:{self.public_id}".encode()

    def seal_reply_to(self) -> None:
        """Keep where the answer goes once the identifiers are dropped: the email address the
        request gave (else its phone number), or the account's while it is not erased."""
        from governance import crypto

        given = self.identifiers()
        email = next((value for kind, value in given if kind == "email"), "")
        phone = next((value for kind, value in given if kind == "phone"), "")
        user = self.subject_user
        account = user.email if user is not None and not user.is_erased else ""
        contact = email or account or phone
        self.reply_to_sealed = (
            crypto.seal(contact.encode(), context=self._reply_context()) if contact else b""
        )

    def reply_to(self) -> str:
        """Where the answer goes (sealed from closing until the outcome is told); "" then."""
        from governance import crypto

        blob = bytes(self.reply_to_sealed or b"")
        if not blob:
            return ""
        return crypto.open_sealed(blob, context=self._reply_context()).decode()

    def _reply_context(self) -> bytes:
        return f"subject-request-reply-to:{self.public_id}".encode()


class RequesterNotice(models.Model):
    """That the requester was told something the law says they must be told: that the
    request was received, that its deadline was extended and why, its outcome.

    Each is recorded once, by the officer who told them (how and on which day), or by
    Steward itself when the person filed the request from their own page, where it shows
    them each of these as it happens. Holds nothing about the person.
    """

    class Topic(models.TextChoices):
        RECEIPT = policy.RECEIPT, "The request was received"
        EXTENSION = policy.EXTENSION, "The deadline is extended, and why"
        OUTCOME = policy.OUTCOME, "The outcome"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        LETTER = "letter", "Letter"
        PHONE = "phone", "Phone call"
        IN_PERSON = "in_person", "In person"
        STEWARD = "steward", "On their own page in Steward"

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="notices")
    topic = models.CharField(max_length=10, choices=Topic.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    told_on = models.DateField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["told_on", "recorded_at"]
        constraints = [
            models.UniqueConstraint(fields=["request", "topic"], name="privacy_notice_once")
        ]

    def __str__(self) -> str:
        return f"{self.request.reference}: {self.topic}"

    @property
    def due_on(self) -> dt.date | None:
        return self.request.notice_due_on(self.topic)

    @property
    def late(self) -> bool:
        return self.due_on is not None and self.told_on > self.due_on


class RecipientNotice(models.Model):
    """That a provider who received an erased person's data was asked to erase it too
    (GDPR Art. 19, CCPA § 1798.105(c)): which backend (by the name the receipt gives it), on
    which day, how, and who recorded it. Once per completed erasure and backend
    (``privacy.recipients`` says which are owed one)."""

    request = models.ForeignKey(
        SubjectRequest, on_delete=models.CASCADE, related_name="recipient_notices"
    )
    backend = models.CharField(max_length=80)
    told_on = models.DateField()
    how = models.CharField(max_length=200)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["told_on", "recorded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "backend"], name="privacy_recipientnotice_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.request.reference}: {self.backend}"
