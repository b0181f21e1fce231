"""Training: the policy document's versions, who acknowledged which, and the quizzes."""

import hashlib
import json
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class PolicyDocumentQuerySet(models.QuerySet):
    def published(self) -> "PolicyDocumentQuerySet":
        return self.filter(status=PolicyDocument.Status.PUBLISHED)

    def current(self) -> "PolicyDocument | None":
        """The newest published version, or None before the first is published."""
        return self.published().order_by("-version").first()

    def published_before(self, version: int) -> "PolicyDocumentQuerySet":
        """The published versions older than ``version``, newest first."""
        return self.published().filter(version__lt=version).order_by("-version")

    def draft(self) -> "PolicyDocument | None":
        return self.filter(status=PolicyDocument.Status.DRAFT).first()


class PolicyDocument(models.Model):
    """One version of the policy document (Markdown written by policy admins).

    At most one draft exists at a time. Publishing it stamps who, when and the
    change note, and makes it the version everybody must acknowledge; a
    published version is never edited again, the next one is a new row.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=120, default="Using language models at work")
    body = models.TextField(help_text="Markdown.")
    change_note = models.CharField(
        max_length=300, blank=True, help_text="What changed, for the people who acknowledge it."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    objects = PolicyDocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="draft"),
                name="training_policydocument_one_draft",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(published_at__isnull=False),
                name="training_policydocument_published_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"policy document v{self.version}"

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    @property
    def content_hash(self) -> str:
        """A fingerprint of what the document says. The editor's forms carry the draft's, so
        that saving, publishing or discarding acts only on the text the admin saw."""
        content = json.dumps([self.title, self.body, self.change_note])
        return hashlib.sha256(content.encode()).hexdigest()


class Acknowledgement(models.Model):
    """A person confirmed they read one published version of the policy document."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="acknowledgements"
    )
    document = models.ForeignKey(
        PolicyDocument, on_delete=models.PROTECT, related_name="acknowledgements"
    )
    acknowledged_at = models.DateTimeField()

    class Meta:
        ordering = ["-acknowledged_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "document"], name="training_acknowledgement_once_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} acknowledged v{self.document.version}"


class QuizQuestion(models.Model):
    """A self-check question in one category's quiz.

    Questions belong to a category *number* (its sensitivity level), not to a
    row, so the default set ships with the app before any category exists.
    A "which category?" question offers the live categories as its options
    and its answer is a category number; a choice question has its own
    options and its answer is an option's index.
    """

    class Kind(models.TextChoices):
        WHICH_CATEGORY = "which_category", "Which category?"
        CHOICE = "choice", "Multiple choice"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    category_number = models.PositiveSmallIntegerField(help_text="The quiz it belongs to.")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.WHICH_CATEGORY)
    prompt = models.CharField(max_length=300)
    options = models.JSONField(default=list, blank=True, help_text="Choice questions only.")
    answer = models.PositiveSmallIntegerField(
        help_text="A category number, or the index of the right option."
    )
    explanation = models.CharField(max_length=400, blank=True, help_text="Shown after answering.")
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category_number", "position", "id"]

    def __str__(self) -> str:
        return self.prompt


class QuizAttempt(models.Model):
    """One go at a category's quiz: the score, whether it passed, and what was answered."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_attempts"
    )
    category_number = models.PositiveSmallIntegerField()
    score = models.PositiveSmallIntegerField()
    total = models.PositiveSmallIntegerField()
    pass_percent = models.PositiveSmallIntegerField()
    passed = models.BooleanField()
    #: question public id -> the answer given (a category number or an option index).
    answers = models.JSONField(default=dict)
    taken_at = models.DateTimeField()

    class Meta:
        ordering = ["-taken_at"]
        indexes = [
            models.Index(fields=["category_number", "user"], name="training_attempt_cat_user")
        ]

    def __str__(self) -> str:
        return f"{self.user}: quiz {self.category_number}, {self.score}/{self.total}"
