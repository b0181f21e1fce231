"""Telling the requester: what they are owed, by when, and the record that they were told.

The law asks that the requester be told that their request was received (the CCPA within
10 business days), that its deadline was extended and why (within the first period), and
its outcome (by the due date). Officers record each once, with how and when; a request the
person filed from their own page is told there, by Steward, as it happens. Where to send the
outcome (``SubjectRequest.reply_to``) is kept past closing until it is told, then dropped.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from audit.models import AuditEvent
from privacy import policy
from privacy.models import RequesterNotice, SubjectRequest
from privacy.services import FieldRefused, PrivacyError, record_step, refuse_the_subject

Topic = RequesterNotice.Topic


@dataclass(frozen=True)
class Owed:
    """Something the requester must still be told, and the last day to tell them."""

    topic: str
    label: str
    due_on: dt.date | None

    @property
    def overdue(self) -> bool:
        return self.due_on is not None and self.due_on < timezone.localdate()


def self_filed(request: SubjectRequest) -> bool:
    """Filed by the person from their own page, where Steward shows them each step."""
    return request.subject_user_id is not None and request.created_by_id == request.subject_user_id


def applied_on(migration: str) -> dt.datetime | None:
    """When this installation applied privacy's ``migration`` (what it began to record);
    kept once found: a process that asked before ``migrate`` asks again."""
    if migration not in _applied:
        applied = (
            MigrationRecorder.Migration.objects.filter(app="privacy", name=migration)
            .values_list("applied", flat=True)
            .first()
        )
        if applied is None:
            return None
        _applied[migration] = applied
    return _applied[migration]


_applied: dict[str, dt.datetime] = {}


def recorded_since() -> dt.datetime | None:
    """When this installation began to record what requesters were told: the migration that
    added the record. What a request owed before then has no such record, and is not asked."""
    return applied_on("0005_requester_notice")


def _moment(request: SubjectRequest, topic: str) -> dt.datetime | None:
    """When ``topic`` came to be owed: the request recorded, extended, closed."""
    if topic == Topic.RECEIPT:
        return request.created_at
    if topic == Topic.EXTENSION:
        return request.extended_at or request.created_at
    return request.completed_at


def before_records(request: SubjectRequest, topic: str) -> bool:
    """Whether ``topic`` was owed before Steward recorded what requesters were told."""
    since, moment = recorded_since(), _moment(request, topic)
    return since is not None and moment is not None and moment < since


def owed(request: SubjectRequest, told: set[str]) -> list[Owed]:
    """What the requester is owed and has not been told yet (``told``: the topics recorded),
    in order; not what was owed before Steward recorded it."""
    return [
        Owed(topic, Topic(topic).label, request.notice_due_on(topic))
        for topic in policy.notices_owed(extended=request.extended, closed=not request.is_open)
        if topic not in told and not before_records(request, topic)
    ]


def predates_records(request: SubjectRequest) -> bool:
    """Whether something this request owed came before the record began (its page says so)."""
    topics = policy.notices_owed(extended=request.extended, closed=not request.is_open)
    return any(before_records(request, topic) for topic in topics)


def told_topics(request: SubjectRequest) -> set[str]:
    """The topics recorded, from ``SubjectRequest.objects.with_notices()``'s flags."""
    return {topic for topic in Topic.values if getattr(request, f"told_{topic}")}


def record_notice(
    *, request: SubjectRequest, actor, topic: str, channel: str, told_on: dt.date
) -> RequesterNotice:
    """Record that an officer told the requester ``topic`` by ``channel`` on ``told_on``."""
    if channel == RequesterNotice.Channel.STEWARD:
        raise PrivacyError(
            "Steward records what it shows the person itself: choose how you told them."
        )
    if told_on > timezone.localdate():
        raise FieldRefused("told_on", "The day they were told cannot be in the future.")
    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        refuse_the_subject(request, actor)
        _refuse_unowed(request, topic)
        _refuse_before_it_was(request, topic, told_on)
        notice = _save(request, topic, channel, told_on, actor)
        record_step(request, actor, AuditEvent.Action.DSR_TOLD, _details(notice))
        _drop_reply_to(request, topic, actor)
    return notice


def told_in_steward(request: SubjectRequest, topic: str) -> None:
    """Inside the caller's transaction: a self-filed request's person sees ``topic`` on their
    own page now, so that is recorded as telling them (once)."""
    if not self_filed(request) or request.notices.filter(topic=topic).exists():
        return
    notice = _save(request, topic, RequesterNotice.Channel.STEWARD, timezone.localdate(), None)
    record_step(request, None, AuditEvent.Action.DSR_TOLD, _details(notice))
    _drop_reply_to(request, topic, None)


def _drop_reply_to(request: SubjectRequest, topic: str, actor) -> None:
    """Once the outcome is told, the contact kept to tell it is not needed: it goes, and the
    request's history says so."""
    if topic != Topic.OUTCOME:
        return
    kept = SubjectRequest.objects.filter(pk=request.pk).exclude(reply_to_sealed=b"")
    if kept.update(reply_to_sealed=b""):
        request.reply_to_sealed = b""
        record_step(request, actor, AuditEvent.Action.DSR_REPLY_TO_DROPPED, {})


def _refuse_unowed(request: SubjectRequest, topic: str) -> None:
    if topic == Topic.EXTENSION and not request.extended:
        raise PrivacyError("This request was not extended: there is no extension to tell.")
    if topic == Topic.OUTCOME and request.is_open:
        raise PrivacyError(
            "The request has no outcome yet: tell the requester once it is completed or rejected."
        )
    if earlier := request.notices.filter(topic=topic).first():
        raise PrivacyError(
            f"That they were told this is already recorded: {earlier.get_channel_display()}, "
            f"{earlier.told_on.day} {earlier.told_on:%B %Y}."
        )


def _refuse_before_it_was(request: SubjectRequest, topic: str, told_on: dt.date) -> None:
    """Nobody is told of a receipt, extension or outcome before it happened (a day earlier
    would make a late telling look on time)."""
    if topic == Topic.RECEIPT:
        happened, what = request.received_on, "the request was received"
    elif topic == Topic.EXTENSION and request.extended_at:
        happened, what = timezone.localdate(request.extended_at), "it was extended"
    elif topic == Topic.OUTCOME:
        happened, what = timezone.localdate(request.completed_at), "it was decided"
    else:
        return
    if told_on < happened:
        raise FieldRefused(
            "told_on",
            f"They cannot have been told before {what} ({happened.day} {happened:%B %Y}).",
        )


def _save(request, topic, channel, told_on, actor) -> RequesterNotice:
    return RequesterNotice.objects.create(
        request=request, topic=topic, channel=channel, told_on=told_on, recorded_by=actor
    )


def _details(notice: RequesterNotice) -> dict:
    due_on = notice.due_on
    return {
        "topic": notice.topic,
        "channel": notice.channel,
        "told_on": notice.told_on.isoformat(),
        "due_on": due_on.isoformat() if due_on else None,
        "late": notice.late,
    }
