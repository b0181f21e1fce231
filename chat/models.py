"""Conversations and their messages, stored encrypted with a per-conversation key."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from chat import sealing
from chat.querysets import ConversationQuerySet, MessageQuerySet

#: The most of a failed answer's explanation kept.
ERROR_CHARS = 500


class Conversation(models.Model):
    """A thread of messages in one data category, readable by its owner only.

    Its title, messages and pseudonym mapping are encrypted with its own data
    key, which is stored wrapped by the master key: deleting the row (or just
    the wrapped key) leaves every copy of the text unreadable.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    category = models.ForeignKey(
        "governance.Category", on_delete=models.PROTECT, related_name="conversations"
    )
    data_key_wrapped = models.BinaryField(editable=False)
    title_sealed = models.BinaryField(default=b"", editable=False)
    pseudonyms_sealed = models.BinaryField(default=b"", editable=False)
    legal_hold = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-last_activity_at"]
        indexes = [
            models.Index(fields=["owner", "-last_activity_at"], name="chat_conversation_recent"),
        ]

    def __str__(self) -> str:
        # Never the title: this string reaches audit events and logs.
        return f"Conversation {self.public_id}"

    @property
    def key(self) -> sealing.DataKey:
        """The opened data key (cached on the instance)."""
        if not hasattr(self, "_key"):
            self._key = sealing.DataKey.unwrap(bytes(self.data_key_wrapped), self.public_id)
        return self._key

    def init_key(self) -> None:
        """Give a new conversation its data key (before the first save)."""
        self._key = sealing.DataKey.generate()
        self.data_key_wrapped = self._key.wrap(self.public_id)

    @property
    def title(self) -> str:
        return self.key.open_text(self.title_sealed, f"title:{self.public_id}")

    @title.setter
    def title(self, value: str) -> None:
        self.title_sealed = self.key.seal_text(value, f"title:{self.public_id}")

    def pseudonyms(self) -> dict:
        """The placeholder mapping (see :mod:`chat.pseudonyms`); empty when none yet."""
        return self.key.open_json(self.pseudonyms_sealed, f"pseudonyms:{self.public_id}") or {}

    def set_pseudonyms(self, mapping: dict) -> None:
        self.pseudonyms_sealed = self.key.seal_json(mapping, f"pseudonyms:{self.public_id}")


class Message(models.Model):
    """One turn: a user's message, or the answer a backend gave (or is giving) to it.

    A user message keeps the text as written and, separately, the text that
    was sent (placeholders in place of what was pseudonymised). A blocked
    message keeps no text at all, only what was decided and why. An answer
    is written QUEUED (the row is the outbox that drives the enqueue: pushed
    after the commit, with a queued mark in Redis the sweeper looks for), or is
    PENDING while the broker cannot take it (and after a Retry, until pushed)
    → STREAMING → DONE, FAILED or CANCELLED, and is stored as the model wrote
    it, placeholders included; the author sees them restored.
    """

    class Role(models.TextChoices):
        USER = "user", "You"
        ASSISTANT = "assistant", "Model"

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        BLOCKED = "blocked", "Blocked"
        PENDING = "pending", "Waiting for the queue"
        QUEUED = "queued", "Queued"
        STREAMING = "streaming", "Answering"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Stopped"

    #: An answer in one of these states is still on its way.
    IN_FLIGHT = (Status.PENDING, Status.QUEUED, Status.STREAMING)
    #: The ``error_kind`` of an answer whose request was longer than its backend's context.
    TOO_LONG = "too_long"
    #: The ``error_kind`` of an answer its chosen backend may no longer give (switched off, or
    #: the policy changed while it waited): a Retry governs the question anew.
    CHANGED = "changed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    reply_to = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="answer"
    )
    content_sealed = models.BinaryField(default=b"", editable=False)
    sent_sealed = models.BinaryField(default=b"", editable=False)
    chars = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # What the policy decided (user messages) and how the answer went (answers).
    category_number = models.PositiveSmallIntegerField()
    decision = models.CharField(max_length=15, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    findings = models.JSONField(default=dict, blank=True, help_text="entity type -> count")
    replaced = models.JSONField(default=dict, blank=True, help_text="entity type -> count")
    parts = models.JSONField(
        default=list,
        blank=True,
        help_text="a request's turns (the API's): [role, length] of each in the text sent",
    )
    sampling = models.JSONField(
        default=dict, blank=True, help_text="answers: temperature, top_p, max_tokens asked for"
    )
    backend = models.ForeignKey(
        "governance.Backend", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    backend_name = models.CharField(max_length=80, blank=True)
    attempt = models.PositiveSmallIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(
        max_length=20,
        blank=True,
        help_text="answers: why the backend stopped (stop, length: its length limit, "
        "content_filter: its own filter)",
    )
    #: Why an answer failed, for its author; sealed like the text, since a backend's words
    #: may quote what it was sent.
    error_sealed = models.BinaryField(default=b"", editable=False)
    error_kind = models.CharField(max_length=20, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="chat_message_thread"),
            models.Index(
                fields=["status", "enqueued_at"],
                name="chat_message_in_flight",
                condition=models.Q(status__in=["pending", "queued", "streaming"]),
            ),
        ]
        constraints = [
            # What services._locked(idle=True) checks, kept by the database too, whatever
            # path writes: one answer on its way per conversation.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(status__in=["pending", "queued", "streaming"]),
                name="chat_one_answer_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.public_id}"

    @property
    def in_flight(self) -> bool:
        return self.status in self.IN_FLIGHT

    @property
    def retry_may_help(self) -> bool:
        """Whether asking again may answer it: stopped, or failed other than for a message
        too long for its model (sent again as it is, it fails the same way)."""
        if self.status == self.Status.CANCELLED:
            return True
        return self.status == self.Status.FAILED and self.error_kind != self.TOO_LONG

    @property
    def content(self) -> str:
        return self.conversation.key.open_text(self.content_sealed, self._context("content"))

    @content.setter
    def content(self, text: str) -> None:
        self.content_sealed = self.conversation.key.seal_text(text, self._context("content"))
        self.chars = len(text)

    @property
    def sent_text(self) -> str:
        """What the backend was given: the content with placeholders for what was replaced."""
        if not self.sent_sealed:
            return self.content
        return self.conversation.key.open_text(self.sent_sealed, self._context("sent"))

    @sent_text.setter
    def sent_text(self, text: str) -> None:
        self.sent_sealed = self.conversation.key.seal_text(text, self._context("sent"))

    @property
    def error(self) -> str:
        if not self.error_sealed:
            return ""
        return self.conversation.key.open_text(self.error_sealed, self._context("error"))

    @error.setter
    def error(self, text: str) -> None:
        text = text[:ERROR_CHARS]
        self.error_sealed = (
            self.conversation.key.seal_text(text, self._context("error")) if text else b""
        )

    def _context(self, part: str) -> str:
        return sealing_context(self.public_id, part)


def sealing_context(public_id, part: str) -> str:
    """What a message's ``part`` (``content``, ``sent``, ``error``) is sealed with besides its
    conversation's key: text moved to another message does not open."""
    return f"message-{part}:{public_id}"


class SubjectMention(models.Model):
    """An identifier found in a message or a conversation's title, as a keyed hash:
    data-subject requests look here.

    One indexed look-up finds every conversation and message that mentions a
    person, without decrypting or scanning anything. A row without a message is
    the title's (a title the owner typed; one taken from the first message is
    covered by that message's rows).
    """

    digest = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=30)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["digest", "message"], name="chat_subjectmention_once_per_message"
            ),
            models.UniqueConstraint(
                fields=["digest", "conversation"],
                condition=models.Q(message__isnull=True),
                name="chat_subjectmention_once_per_title",
            ),
        ]

    def __str__(self) -> str:
        where = f"message {self.message_id}" if self.message_id else "the title"
        return f"{self.kind} mention in {where}"


class SubjectIndexKey(models.Model):
    """Which key the subject index was built with, as a fingerprint (never the key itself).

    Under another key every digest written before matches nobody's look-up, and a
    data-subject request finds no one, without any error: :mod:`chat.index_key` compares.
    """

    fingerprint = models.CharField(max_length=64)
    stamped_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Subject index key {self.fingerprint[:8]}…"
