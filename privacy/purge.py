"""The retention purge: delete what has outlived its category's window, a small batch at a time.

Each batch is its own short transaction that locks only the conversations it
deletes (skipping any a chat request holds at that moment), so chat is never
stalled and a run killed half-way leaves nothing half-deleted: the next run
simply finds the rest still expired.

A run is carried out by the worker that claimed it last (:func:`claim`), as a
data-subject request is (``privacy.execution``): claiming bumps ``attempts``, and a
batch commits its deletions together with the run's counts and heartbeat, only while
the run still holds that number. A second copy of the task (Celery delivers a task
again when it runs past the visibility timeout) finds the run claimed and steps
aside; a run whose heartbeat stopped is taken over and goes on from its counts.
"""

import datetime as dt
import logging
import operator
import time
from dataclasses import dataclass, field
from functools import reduce

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from chat import streams
from chat.models import Conversation, Message
from governance.models import Category
from privacy import policy
from privacy.models import LegalHold, PurgeRun

log = logging.getLogger(__name__)

BATCH_CONVERSATIONS = 500
#: A RUNNING run whose heartbeat is older than this has lost its worker.
STALE_AFTER_SECONDS = 120
#: Workers a run may have: one lost this often is left for the next run to mark interrupted.
MAX_ATTEMPTS = 3
#: A purge of a million messages takes well under this; past it the run stops between two
#: batches, marked failed, and the next run goes on where it stopped. Checked here, not by
#: Celery's soft time limit, which a threads pool (as ``manage.py serve`` runs) lacks.
LIMIT_SECONDS = 3600
#: A PostgreSQL advisory lock ("StewHold"): placing or releasing a legal hold takes it alone;
#: whatever a hold stops (deleting, redacting, renaming a conversation) shares it
#: (:func:`holds_settled`).
HOLDS_LOCK = 0x5374_6577_486F_6C64


class PurgeTooLong(Exception):
    pass


class PurgeBusy(Exception):
    """Another purge is running."""


class PurgeLost(Exception):
    """This worker no longer holds the run: another took it over, or the next run marked it
    interrupted (silent too long), while it was still going."""


@dataclass
class Expired:
    """What a purge would remove now, per category name."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    held: int = 0

    @property
    def conversations(self) -> int:
        return sum(c["conversations"] for c in self.counts.values())

    @property
    def messages(self) -> int:
        return sum(c["messages"] for c in self.counts.values())


def expired_conversations(category: Category, now=None):
    """Conversations of ``category`` past its window and under no legal hold."""
    return not_held(_past_window(category, now or timezone.now()))


def _past_window(category: Category, now):
    """Conversations of ``category`` past its window, held or not.

    A category that stores no content (no window, or prohibited) keeps only the
    metadata of what it receives, and its conversations of metadata alone stay.
    Content stored before it stopped storing any has a window of 0: every
    conversation still holding some (a title, a placeholder mapping, a message's text)
    is past it.
    """
    return Conversation.objects.filter(_past_window_of(category, now))


def _past_any_window(categories, now):
    """Conversations past their category's window, held or not, of any of ``categories``:
    one query where a query per category read the whole message table once each."""
    if not categories:
        return Conversation.objects.none()
    return Conversation.objects.filter(
        reduce(operator.or_, (_past_window_of(category, now) for category in categories))
    )


def _past_window_of(category: Category, now) -> Q:
    """The condition of :func:`_past_window` on a conversation."""
    if category.stores_content:
        return Q(
            category=category,
            last_activity_at__lt=policy.expiry_cutoff(now, category.retention_days),
        )
    return Q(category=category, last_activity_at__lt=now) & (
        ~Q(title_sealed=b"")
        | ~Q(pseudonyms_sealed=b"")
        | Exists(Message.objects.filter(conversation=OuterRef("pk")).exclude(content_sealed=b""))
    )


def held(conversations):
    """Those of ``conversations`` under a legal hold: their own, or their owner's.

    Read from the active holds themselves, not from ``Conversation.legal_hold``, which only
    mirrors them for the pages: a mirror written by two holds' transactions at once can be
    left wrong, and a purge that trusted it deleted what an active hold keeps.
    """
    return conversations.filter(_own_held() | _owner_held())


def not_held(conversations):
    """Those of ``conversations`` under no legal hold, neither their own nor their owner's."""
    return conversations.exclude(_own_held()).exclude(_owner_held())


def holds_settled(*, placing: bool = False) -> None:
    """Inside a transaction: wait until no legal hold is being placed or released
    (``placing``: and let none be deleted, placed or released around this one until it
    commits).

    A hold on a person touches none of their conversations' rows, so the row locks of a
    deletion cannot see one coming: a batch whose statement began while the hold's
    transaction was still open read no hold, and deleted what the hold was placed to
    keep. Taking this lock first, a batch starts after the hold is committed, and its
    statement sees it. (SQLite runs one writer at a time: nothing to do there.)
    """
    if connection.vendor != "postgresql":
        return
    lock = "pg_advisory_xact_lock" if placing else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {lock}(%s)", [HOLDS_LOCK])


def person_held(user_id: int) -> bool:
    """Whether a legal hold on this person is active (it keeps all they own)."""
    return _active_holds_on(user_id).exists()


def people_held(user_ids) -> set[int]:
    """Those of ``user_ids`` under an active legal hold."""
    holds = LegalHold.objects.filter(user_id__in=user_ids, released_at__isnull=True)
    return set(holds.values_list("user_id", flat=True))


def _own_held() -> Exists:
    return Exists(
        LegalHold.objects.filter(conversation_id=OuterRef("pk"), released_at__isnull=True)
    )


def _owner_held() -> Exists:
    return Exists(_active_holds_on(OuterRef("owner_id")))


def _active_holds_on(user):
    """The holds on a person (``user``: an id, or an ``OuterRef`` to one) not yet released."""
    return LegalHold.objects.filter(user_id=user, released_at__isnull=True)


def preview(now=None) -> Expired:
    """The dry run: what the next purge would remove, without removing anything.

    Counted for all categories at once, grouped by category: a count per category read
    the whole message table once each."""
    now = now or timezone.now()
    categories = list(Category.objects.all())
    past = _past_any_window(categories, now)
    expired = not_held(past)
    conversations = dict(
        expired.order_by().values("category").annotate(n=Count("pk")).values_list("category", "n")
    )
    messages = dict(
        Message.objects.filter(conversation__in=expired)
        .order_by()
        .values("conversation__category")
        .annotate(n=Count("pk"))
        .values_list("conversation__category", "n")
    )
    result = Expired()
    for category in categories:
        if conversations.get(category.pk):
            result.counts[category.name] = {
                "conversations": conversations[category.pk],
                "messages": messages.get(category.pk, 0),
            }
    result.held = held(past).count()
    return result


#: A daily purge that has not finished for this long has missed a run.
OVERDUE_AFTER = dt.timedelta(hours=26)


def counted(number: int, noun: str) -> str:
    """``counted(1, "conversation")`` is "1 conversation"; 2 makes "2 conversations"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def left_behind(now=None, *, recent_runs=None) -> tuple[str, PurgeRun | None]:
    """Why content past its window may still be stored, in words for the privacy desk, and
    the run to look at: the last purge failed or was interrupted, or expired content waits
    and no purge has finished for a day (beat not running, the schedule paused). ("", None)
    while the purges keep up. ``recent_runs``: the newest runs, newest first, when the
    caller has read them already."""
    now = now or timezone.now()
    if recent_runs is None:
        recent_runs = PurgeRun.objects.order_by("-started_at")[:1]
    newest = next(iter(recent_runs), None)
    if newest is not None and newest.status in (
        PurgeRun.Status.FAILED,
        PurgeRun.Status.INTERRUPTED,
    ):
        when = timezone.localtime(newest.started_at)
        return (
            f"The last purge, on {when:%-d %b %Y at %H:%M}, {newest.get_status_display().lower()}: "
            "expired content it did not reach is still stored. A failed scheduled run is "
            "tried again within the hour.",
            newest,
        )
    if newest is not None and newest.status == PurgeRun.Status.RUNNING:
        return "", None
    done = PurgeRun.objects.filter(status=PurgeRun.Status.DONE).exclude(finished_at=None)
    last = done.order_by("-finished_at").values_list("finished_at", flat=True).first()
    if last is not None and now - last < OVERDUE_AFTER:
        return "", None
    waiting = not_held(_past_any_window(list(Category.objects.all()), now)).count()
    if not waiting:
        return "", None
    since = f"since {timezone.localtime(last):%-d %b %Y}" if last else "yet"
    return (
        f"{counted(waiting, 'conversation')} {'is' if waiting == 1 else 'are'} past "
        f"{'its' if waiting == 1 else 'their'} retention window, and no purge has finished "
        f"{since}: check that the scheduler (beat) runs and the schedule is not paused, or "
        "start a purge by hand.",
        None,
    )


def start(*, actor=None, after: int | None = None) -> PurgeRun:
    """Open a run for a worker to claim (refused while another is alive; a dead one is
    marked interrupted). ``after``: the failed run this one tries again; refused too once
    any run started after it (the broker hands out copies of a retry while it waits)."""
    _interrupt_stale()
    try:
        with transaction.atomic():
            if after is not None and _followed(after):
                raise PurgeBusy("A run after the failed one has started.")
            return PurgeRun.objects.create(triggered_by=actor)
    except IntegrityError:
        raise PurgeBusy("A purge is already running.") from None


def _followed(purge_id: int) -> bool:
    """Whether a run started after this one. Its row is locked: copies asking at once take
    turns, and the second sees the run the first started."""
    run = PurgeRun.objects.select_for_update().filter(pk=purge_id).first()
    return run is not None and PurgeRun.objects.filter(started_at__gt=run.started_at).exists()


def _stale(now) -> Q:
    return Q(heartbeat_at__lt=now - dt.timedelta(seconds=STALE_AFTER_SECONDS))


def claim(purge_id: int) -> PurgeRun | None:
    """Take up a RUNNING run: one no worker has claimed yet, or one whose worker was lost
    (its heartbeat stale) with attempts left. One conditional write, so of two copies of
    the task only one gets it; None for the other, or if the run ended."""
    now = timezone.now()
    claimable = Q(attempts=0) | (_stale(now) & Q(attempts__lt=MAX_ATTEMPTS))
    claimed = PurgeRun.objects.filter(
        claimable, pk=purge_id, status=PurgeRun.Status.RUNNING
    ).update(attempts=F("attempts") + 1, heartbeat_at=now)
    return PurgeRun.objects.get(pk=purge_id) if claimed else None


def recover() -> int:
    """Beat, every minute: queue again the RUNNING run whose worker was lost (or whose task
    never reached one: the broker was down), for a worker to take it over; how many were
    queued. The claim looks at the heartbeat again, so a run that was only slow stays."""
    from privacy.tasks import purge_expired

    lost = PurgeRun.objects.filter(
        _stale(timezone.now()), status=PurgeRun.Status.RUNNING, attempts__lt=MAX_ATTEMPTS
    )
    queued = 0
    for pk in lost.values_list("pk", flat=True):
        try:
            purge_expired.delay(pk)
        except Exception as exc:  # the broker is down: the next sweep tries again
            log.warning("Purge %s not queued: %s", pk, type(exc).__name__)
            continue
        queued += 1
    return queued


def _interrupt_stale() -> None:
    """Mark the runs whose worker died interrupted, and audit what they had deleted.

    A killed worker writes no event of its own, yet its batches are committed: without
    this, conversations it deleted would be in no audit event. Its counts are the ones its
    last batch committed with. Locked and skipped, so two starts record it once.
    """
    now = timezone.now()
    with transaction.atomic():
        dead = PurgeRun.objects.select_for_update(skip_locked=True).filter(
            _stale(now), status=PurgeRun.Status.RUNNING
        )
        for purge in dead:
            purge.status = PurgeRun.Status.INTERRUPTED
            purge.finished_at = now
            stopped = timezone.localtime(purge.heartbeat_at)  # as the page shows its start
            purge.errors = [
                *purge.errors,
                f"Interrupted: its worker stopped at {stopped:%Y-%m-%d %H:%M:%S %Z} "
                "(no heartbeat since); the next run went on from there",
            ]
            purge.save(update_fields=["status", "finished_at", "errors"])
            _record(purge)


def run(
    purge: PurgeRun,
    *,
    batch_size: int = BATCH_CONVERSATIONS,
    now=None,
    limit_seconds: float = LIMIT_SECONDS,
    actor_label: str = "",
) -> PurgeRun:
    """Delete every expired conversation in batches, then record the run.

    ``purge``: a run this worker claimed (:func:`claim`), or one it opened itself (claimed
    here). One taken over goes on from the counts its row holds.

    1. Count what is expired, for the progress bar (plus what the run deleted before).
    2. Per category, take the next batch of expired ids (in order, past the last
       batch's: one that a chat request or a new hold kept whole does not end the
       category's purge) and delete it in one short transaction (index rows,
       messages, then the conversations with their wrapped data keys).
       Each batch reads the category's window again: one lengthened meanwhile is obeyed.
    3. The batch's transaction adds it to the run's counts and beats the heartbeat, if
       this worker still holds the run; else it rolls back and the worker stops there
       (the run's holder, or the run that marked it interrupted, records it). Record the
       counts, the windows applied, how many expired conversations legal holds kept, and
       any error (``actor_label``: who ran it when no person did, e.g. ``manage.py
       purge``; else "system", beat).
    """
    if not purge.attempts:  # opened by this worker (the shell's, beat's)
        claimed = claim(purge.pk) is not None
        purge.refresh_from_db()
        if not claimed:
            return purge
    now = now or timezone.now()
    deadline = time.monotonic() + limit_seconds
    windows: dict[str, int | None] = {}
    held_back = 0
    try:
        expired_now = preview(now)
        held_back = expired_now.held
        _write(purge, total_conversations=purge.done_conversations + expired_now.conversations)
        for category in Category.objects.all():
            windows[category.name] = _window(category)
            after = 0
            while True:
                expired = expired_conversations(category, now).filter(pk__gt=after)
                ids = list(expired.order_by("pk").values_list("pk", flat=True)[:batch_size])
                if not ids:
                    break
                after = ids[-1]  # a batch's busy or newly held ones wait for the next run
                with transaction.atomic():
                    deleted, messages = _delete_batch(ids, category, now)
                    _beat(purge, category.name, deleted, messages)
                windows[category.name] = _window(category)  # as the batch found it
                if time.monotonic() > deadline:
                    raise PurgeTooLong(
                        f"stopped after {limit_seconds:.0f} s; the next run goes on from here"
                    )
    except PurgeLost:
        return _stepped_aside(purge)
    except Exception as exc:
        if isinstance(exc, PurgeTooLong):
            log.warning("Purge %s", exc)  # expected, and said in the run's errors
        else:
            log.exception("Purge failed")
        status = PurgeRun.Status.FAILED
        errors = [*purge.errors, f"{type(exc).__name__}: {exc}"[:300]]
    else:
        status, errors = PurgeRun.Status.DONE, purge.errors
    purge.held_back = held_back  # not a column: the event keeps it
    try:
        with transaction.atomic():
            _write(purge, status=status, errors=errors, finished_at=timezone.now())
            _record(purge, actor_label=actor_label, held=held_back, windows=windows)
    except PurgeLost:
        return _stepped_aside(purge)
    return purge


def _stepped_aside(purge: PurgeRun) -> PurgeRun:
    """The run as its row says, once this worker lost it: nothing it did since is committed."""
    log.warning("Purge %s went on without this worker, which stops here", purge.public_id)
    purge.refresh_from_db()
    return purge


def _held(purge: PurgeRun):
    """The run's row, while this worker holds it."""
    return PurgeRun.objects.filter(
        pk=purge.pk, status=PurgeRun.Status.RUNNING, attempts=purge.attempts
    )


def _write(purge: PurgeRun, **fields) -> None:
    """Write ``fields`` on the run and beat its heartbeat; PurgeLost if this worker lost it."""
    fields["heartbeat_at"] = timezone.now()
    if not _held(purge).update(**fields):
        raise PurgeLost
    for name, value in fields.items():
        setattr(purge, name, value)


def _window(category: Category) -> int | None:
    """The window a category's content is kept (None: it keeps none)."""
    return category.retention_days if category.stores_content else None


def _record(purge: PurgeRun, *, actor_label: str = "", **more) -> None:
    """The run's audit event: counts, time and how many errors, never a conversation's text
    (``more``: further details)."""
    finished = purge.finished_at or timezone.now()
    record(
        action=AuditEvent.Action.RETENTION_PURGED,
        actor=purge.triggered_by,
        actor_label=actor_label,
        target=purge,
        outcome=AuditEvent.Outcome.SUCCESS
        if purge.status == PurgeRun.Status.DONE
        else AuditEvent.Outcome.FAILURE,
        details={
            "status": purge.status,
            "conversations": purge.done_conversations,
            "messages": purge.deleted_messages,
            "counts": purge.counts,
            "attempts": purge.attempts,
            **more,
            "errors": len(purge.errors),
            "seconds": round((finished - purge.started_at).total_seconds(), 1),
        },
    )


def _delete_batch(ids: list[int], category: Category, now) -> tuple[int, int]:
    """Delete those of ``ids`` still expired and not held, skipping any a chat request holds.

    The category's window is read again, its row locked until the batch commits: a policy
    admin who lengthens it meanwhile either waits for this batch (deleted under the window
    in force until then) or is seen by it. ``category`` is refreshed in place. (NO KEY: chat
    writes naming the category, which take KEY SHARE, do not wait.)
    """
    with transaction.atomic():
        current = Category.objects.select_for_update(no_key=True).get(pk=category.pk)
        category.retention_days, category.blocks_all = current.retention_days, current.blocks_all
        candidates = expired_conversations(category, now).filter(pk__in=ids)
        return shred(candidates, skip_locked=True)


def shred(candidates, *, skip_locked: bool = False) -> tuple[int, int]:
    """Delete ``candidates`` with their messages, index rows and keys; (conversations, messages).

    One short transaction. Raw deletes, because Django's cascade would load
    every message first; the conversation row holds the wrapped data key, so
    once it is gone no copy of the text in the database can be opened. A backup taken
    before holds the wrapped key too, and opens with the master key of that time until
    that key is rotated out (README, "Purges"). An answer still on its way is stopped
    once the delete commits, and its stream dropped.
    """
    with transaction.atomic():
        holds_settled()
        locked = list(
            candidates.select_for_update(skip_locked=skip_locked, of=("self",)).values_list(
                "pk", flat=True
            )
        )
        if not locked:
            return 0, 0
        answering = Message.objects.filter(conversation_id__in=locked).in_flight()
        # An ended answer's stream holds its text in clear a few minutes more (for a page
        # catching up): a conversation purged or erased that soon takes it along.
        ended = Message.objects.filter(
            conversation_id__in=locked,
            finished_at__gte=timezone.now() - dt.timedelta(seconds=streams.ENDED_TTL_SECONDS + 60),
        )
        streams.stop_on_commit(
            list(answering.values_list("public_id", flat=True)),
            ended=list(ended.values_list("public_id", flat=True)),
        )
        marks = ", ".join(["%s"] * len(locked))
        with connection.cursor() as cursor:
            for table in ("chat_subjectmention", "privacy_legalhold"):
                cursor.execute(f"DELETE FROM {table} WHERE conversation_id IN ({marks})", locked)
            cursor.execute(f"DELETE FROM chat_message WHERE conversation_id IN ({marks})", locked)
            messages = cursor.rowcount
            cursor.execute(f"DELETE FROM chat_conversation WHERE id IN ({marks})", locked)
            conversations = cursor.rowcount
    return conversations, messages


def _beat(purge: PurgeRun, category: str, conversations: int, messages: int) -> None:
    """Add a batch to the run's counts, inside the batch's transaction: its deletions and
    their counting commit together, or neither does (PurgeLost: this worker lost the run)."""
    counts = {name: dict(tally) for name, tally in purge.counts.items()}
    tally = counts.setdefault(category, {"conversations": 0, "messages": 0})
    tally["conversations"] += conversations
    tally["messages"] += messages
    _write(
        purge,
        done_conversations=purge.done_conversations + conversations,
        deleted_messages=purge.deleted_messages + messages,
        counts=counts,
    )
