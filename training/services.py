"""Training's writes: drafting and publishing the policy document, acknowledging it,
taking a quiz, editing questions, exporting the report and reminding people.

Each one runs in one transaction with its audit event. :func:`needs_acknowledgement`
is the gate the chat path asks before anything is sent.
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max, Subquery
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from governance.access import role_holders
from governance.models import User
from governance.policy_cache import Version, cached, read_version
from governance.roles import Role
from training.models import Acknowledgement, PolicyDocument, QuizAttempt, QuizQuestion
from training.quiz import QuizItem, pass_mark, score
from training.text import diff_stats

Action = AuditEvent.Action


class TrainingError(Exception):
    """A training request that cannot be done; the message is shown to whoever asked."""


class DraftChanged(TrainingError):
    """The draft is no longer the one the admin saw (saved, published or discarded since)."""


# --- acknowledgement ------------------------------------------------------------------------


@dataclass(frozen=True)
class AckStatus:
    """Where a person stands with the current policy document."""

    #: The version to acknowledge; None while no document is published (nobody is gated).
    current: PolicyDocument | None
    acknowledged: bool
    #: Acknowledged the version before: may chat until ``due`` (the grace period's end).
    due: dt.datetime | None = None

    @property
    def gated(self) -> bool:
        if self.current is None or self.acknowledged:
            return False
        return self.due is None or timezone.now() >= self.due

    @property
    def in_grace(self) -> bool:
        return self.current is not None and not self.acknowledged and not self.gated


def current_document(version: Version | None = None) -> PolicyDocument | None:
    """The newest published version, cached per policy version (read with ``version`` when
    the caller has one): publishing changes the version, so a new document applies to the
    next message everywhere. The instance is shared between threads: read it, never change it.
    """
    return cached("training.current-document", version or read_version(), _read_current)


def _read_current() -> PolicyDocument | None:
    return PolicyDocument.objects.current()


def acknowledgement_status(user: User, version: Version | None = None) -> AckStatus:
    """The current version, and whether ``user`` acknowledged it or is still within grace.

    No query before a first version is published (but reading the policy version,
    unless the caller gives it); after, one for someone who acknowledged the
    current version (the usual case, an index look-up), and a second for someone
    who has not: when the first version they have not acknowledged was published.
    """
    current = current_document(version)
    if current is None:
        return AckStatus(current=None, acknowledged=True)
    mine = Acknowledgement.objects.filter(user_id=user.pk)
    if mine.filter(document_id=current.pk).exists():
        return AckStatus(current=current, acknowledged=True)
    latest = mine.order_by("-document__version").values("document__version")[:1]
    missed_since = (
        PolicyDocument.objects.published()
        .filter(version__gt=Subquery(latest))
        .order_by("version")
        .values_list("published_at", flat=True)
        .first()
    )
    return AckStatus(current=current, acknowledged=False, due=grace_end(missed_since))


def grace_end(missed_since: dt.datetime | None) -> dt.datetime | None:
    """The end of the grace period of someone whose first version not acknowledged was
    published at ``missed_since`` (None: they never acknowledged any, so no grace).

    It runs from that version, not the newest: someone behind stays behind when another
    version comes out, and a quick follow-up does not shorten a period already running.
    """
    if missed_since is None:
        return None
    return missed_since + dt.timedelta(days=settings.STEWARD_ACK_GRACE_DAYS)


def needs_acknowledgement(user: User, version: Version | None = None) -> bool:
    """Whether ``user`` must acknowledge the current policy document before chatting.

    Nobody is gated before a first version is published. Someone who acknowledged
    an earlier version keeps chatting for ``STEWARD_ACK_GRACE_DAYS`` after the first
    version they have not acknowledged was published (:func:`grace_end`); someone who
    never acknowledged any is gated at once.
    """
    if not user.is_authenticated:
        return True
    return acknowledgement_status(user, version).gated


def acknowledge(*, user: User, document: PolicyDocument) -> Acknowledgement:
    """Record that ``user`` read and accepted ``document``, the current version.

    Acknowledging again returns the first record and writes nothing.
    """
    with transaction.atomic():
        current = PolicyDocument.objects.select_for_update().published().order_by("-version")
        current = current.first()
        if current is None or current.pk != document.pk:
            raise TrainingError("This is not the current version of the policy; read that one.")
        existing = Acknowledgement.objects.filter(user=user, document=document).first()
        if existing is not None:
            return existing
        ack = Acknowledgement.objects.create(
            user=user, document=document, acknowledged_at=timezone.now()
        )
        record(
            action=Action.TRAINING_ACKNOWLEDGED,
            actor=user,
            target=document,
            details={"version": document.version},
        )
    return ack


# --- the policy document --------------------------------------------------------------------


def save_draft(
    *, actor: User, title: str, body: str, change_note: str, based_on: str | None = None
) -> PolicyDocument:
    """Create or update the one draft (the next version number).

    ``based_on`` is the :attr:`~PolicyDocument.content_hash` of the draft the edit began
    from ("" if there was none): if the draft changed since (two admins editing at once),
    the save is refused rather than overwriting the other's. None: no check.
    """
    with transaction.atomic():
        draft = PolicyDocument.objects.select_for_update().filter(
            status=PolicyDocument.Status.DRAFT
        )
        draft = draft.first()
        if based_on is not None and (changed := _changed_since(draft, based_on)):
            raise DraftChanged(f"{changed} Your text is kept here: save again to replace it.")
        created = draft is None
        if created:
            latest = PolicyDocument.objects.aggregate(latest=Max("version"))["latest"] or 0
            draft = PolicyDocument(version=latest + 1, created_by=actor)
        draft.title, draft.body, draft.change_note = title, body, change_note
        try:
            with transaction.atomic():
                draft.save()
        except IntegrityError:  # another admin's first save of a new draft came first
            raise DraftChanged(
                "Another admin started a draft while you were writing. Your text is kept "
                "here: save again to replace theirs."
            ) from None
        record(
            action=Action.TRAINING_POLICY_DRAFTED,
            actor=actor,
            target=draft,
            details={"version": draft.version, "created": created, "chars": len(body)},
        )
    return draft


def _changed_since(draft: PolicyDocument | None, seen: str) -> str:
    """Why ``draft`` (the draft now, locked) is not the one whose hash is ``seen`` ("" for
    none); "" if it is."""
    if draft is None:
        return "The draft you opened was published or discarded meanwhile." if seen else ""
    if not seen:
        return f"Another admin started a draft of version {draft.version} meanwhile."
    if draft.content_hash != seen:
        saved = timezone.localtime(draft.updated_at).strftime("%H:%M")
        return f"The draft was changed at {saved}, after you opened it."
    return ""


def discard_draft(*, actor: User, document: PolicyDocument, reviewed: str | None = None) -> None:
    """Throw the draft away (published versions stay for good).

    ``reviewed``: the draft's :attr:`~PolicyDocument.content_hash` as the admin saw it;
    a draft changed since is kept. None: no check.
    """
    with transaction.atomic():
        locked = (
            PolicyDocument.objects.select_for_update()
            .filter(pk=document.pk, status=PolicyDocument.Status.DRAFT)
            .first()
        )
        if locked is None:
            raise TrainingError("Only a draft can be discarded.")
        if reviewed is not None and (changed := _changed_since(locked, reviewed)):
            raise DraftChanged(f"{changed} Look at it again before discarding it.")
        locked.delete()
        record(
            action=Action.TRAINING_POLICY_DRAFTED,
            actor=actor,
            target=document,
            details={"version": document.version, "discarded": True},
        )


def publish(
    *, actor: User, document: PolicyDocument, reviewed: str | None = None
) -> PolicyDocument:
    """Publish the draft: it becomes the version everybody acknowledges.

    Records who and when, the change note, and how many lines changed since
    the previous version. From now on the chat asks each person to
    acknowledge it (after the grace period for those who acknowledged the
    version before). ``reviewed``: the draft's :attr:`~PolicyDocument.content_hash`
    as the admin read it; a draft changed since is not published. None: no check.
    """
    with transaction.atomic():
        locked = PolicyDocument.objects.select_for_update().filter(pk=document.pk).first()
        if locked is None or locked.status != PolicyDocument.Status.DRAFT:
            raise TrainingError("Only a draft can be published.")
        if reviewed is not None and (changed := _changed_since(locked, reviewed)):
            raise DraftChanged(f"{changed} Read it again before publishing it.")
        previous = PolicyDocument.objects.current()
        if not locked.body.strip():
            raise TrainingError("The policy document is empty.")
        if previous is not None and not locked.change_note.strip():
            raise TrainingError(f"Say what changed since version {previous.version}.")
        locked.status = PolicyDocument.Status.PUBLISHED
        locked.published_by = actor
        locked.published_at = timezone.now()
        locked.save(update_fields=["status", "published_by", "published_at", "updated_at"])
        added, removed = diff_stats(previous.body if previous else "", locked.body)
        record(
            action=Action.TRAINING_POLICY_PUBLISHED,
            actor=actor,
            target=locked,
            message=locked.change_note,
            details={
                "version": locked.version,
                "previous_version": previous.version if previous else None,
                "lines_added": added,
                "lines_removed": removed,
            },
        )
    return locked


# --- quizzes --------------------------------------------------------------------------------


def take_quiz(
    *, user: User, number: int, items: list[QuizItem], answers: dict[str, str]
) -> QuizAttempt:
    """Score one go at category ``number``'s quiz, store it and audit it."""
    if not items:
        raise TrainingError("This quiz has no questions yet.")
    right, given = score(items, answers)
    if all(value is None for value in given.values()):
        raise TrainingError("Choose an answer to each question, then send them.")
    with transaction.atomic():
        attempt = QuizAttempt.objects.create(
            user=user,
            category_number=number,
            score=right,
            total=len(items),
            pass_percent=settings.STEWARD_QUIZ_PASS_PERCENT,
            passed=right >= pass_mark(len(items)),
            answers=given,
            taken_at=timezone.now(),
        )
        record(
            action=Action.TRAINING_QUIZ_TAKEN,
            actor=user,
            target=attempt,
            outcome=AuditEvent.Outcome.SUCCESS if attempt.passed else AuditEvent.Outcome.FAILURE,
            details={
                "category_number": number,
                "score": right,
                "total": attempt.total,
                "passed": attempt.passed,
            },
        )
    return attempt


QUESTION_FIELDS = (
    "category_number", "kind", "prompt", "options", "answer", "explanation", "position",
    "is_active",
)  # fmt: skip


def save_question(*, actor: User, question: QuizQuestion | None, values: dict) -> QuizQuestion:
    """Create a question (``question`` None) or change one; audited with before and after."""
    with transaction.atomic():
        before = None if question is None else _question_dict(question)
        question = question or QuizQuestion()
        for name in QUESTION_FIELDS:
            if name in values:
                setattr(question, name, values[name])
        question.save()
        record(
            action=Action.TRAINING_QUESTION_CHANGED,
            actor=actor,
            target=question,
            before=before,
            after=_question_dict(question),
        )
    return question


def delete_question(*, actor: User, question: QuizQuestion) -> None:
    """Delete a question; past attempts keep their scores."""
    with transaction.atomic():
        record(
            action=Action.TRAINING_QUESTION_CHANGED,
            actor=actor,
            target=question,
            before=_question_dict(question),
            after=None,
            details={"deleted": True},
        )
        question.delete()


def _question_dict(question: QuizQuestion) -> dict:
    return {name: getattr(question, name) for name in QUESTION_FIELDS}


# --- the report -----------------------------------------------------------------------------


def staff_members():
    """Active people who may chat (the ones the policy document is for), by email."""
    return role_holders(Role.STAFF)


def record_report_export(*, actor: User, rows: int) -> None:
    """The training report left Steward as CSV: who took it, how many people it named."""
    record(action=Action.TRAINING_REPORT_EXPORTED, actor=actor, details={"rows": rows})


def remind(*, actor: User, document: PolicyDocument, users: list[User], base_url: str) -> int:
    """Email each of ``users`` a reminder to acknowledge ``document``; returns how many went.

    The audit event, written first, names the recipients by public id (no email
    addresses); a mail server that refuses one message does not stop the others.
    """
    if not users:
        return 0
    link = base_url + reverse("training:acknowledge")
    sent = 0
    with transaction.atomic():
        record(
            action=Action.TRAINING_REMINDED,
            actor=actor,
            target=document,
            details={
                "version": document.version,
                "recipients": [str(u.public_id) for u in users],
            },
        )
    for user in users:
        context = {"user": user, "document": document, "link": link, "sender": actor}
        sent += send_mail(
            subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Please acknowledge the policy "
            f"(version {document.version})",
            message=render_to_string("training/email/reminder.txt", context),
            from_email=None,
            recipient_list=[user.email],
            fail_silently=True,
        )
    return sent
