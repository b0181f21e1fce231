"""Running an approved request in the background: erasure or access, then the receipt.

A request is run by the worker that claimed it last. Claiming bumps ``attempts``,
and every write of the run after it (progress, archive, receipt, failure) is
conditional on that number: a worker whose request was taken over stops at its
next progress report instead of writing over its successor's work. Each progress
report beats ``heartbeat_at``; :func:`recover` (beat) takes over a run whose
heartbeat stopped, and queues again an approved request no worker started.

Until a request completes, its ``receipt`` is a partial record (``"partial": true``):
what the current attempt started from, and what each earlier attempt did before it
failed or its worker was lost. Erasing and building the archive are safe to run
again: what is erased stays erased and is not found twice, and the archive is
built whole each time. An erased account's names and addresses leave the audit trail
after the account's erasure committed, found by their keyed hashes, which the request keeps
from before the account was blanked (``account_names``): a later attempt finishes what a
stopped one began. An erasure's receipt adds up the counts of its attempts. What an
attempt redacted in other people's conversations cannot be found afterwards (the values
are gone): each redaction commits with the attempt's counts on the row
(``redaction_counts``), as a purge's batch does, and a take-over counts the lost attempt's
work from them.
"""

import datetime as dt
import logging

from django.db import models, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit import personal
from audit.models import AuditEvent
from audit.services import record
from chat.models import Conversation, Message, SubjectMention
from governance.models import User
from privacy import archive, erasure, notices, policy, scope
from privacy.models import MAX_ATTEMPTS, SubjectRequest
from privacy.services import PrivacyError, receipt_hash, record_step, refuse_the_subject

log = logging.getLogger(__name__)
S = SubjectRequest.Status

#: A run whose heartbeat is older than this has lost its worker. Progress beats it after
#: every conversation (every batch of 500 of the subject's own, as the purge does).
STALE_AFTER = dt.timedelta(minutes=5)
#: An approved request that no worker started in this time lost its task: queued again.
REQUEUE_AFTER = dt.timedelta(minutes=3)
#: Erasure counts that say how things stand at the end, not what an attempt did: the last
#: attempt's value is the receipt's. Every other number adds up over the attempts.
STANDING = ("withheld_conversations", "account_withheld")
PARTIAL_NOTE = (
    "Partial record: the request has not completed. Each attempt's counts are what it did "
    "before it stopped; for one that stopped inside the erasure, what it redacted as it went, "
    "and its subject's own conversations and messages found gone since it started."
)
#: What the partial record keeps of an attempt that ended.
ENTRY = ("attempt", "outcome", "error", "stopped_at", "counts", "progress_done", "progress_total")


class Superseded(Exception):
    """The run no longer holds the request: another worker took it over."""


def execute(request_id: int) -> bool:
    """Carry out an approved request; False if another worker has it or it is not approved.

    1. Claim it: APPROVED → EXECUTING, or take over an EXECUTING one whose heartbeat is
       stale while it has attempts left (recording what the lost attempt did). Either is
       a conditional write on one row.
    2. Write the partial record, then erase or build the archive, reporting progress
       (and beating the heartbeat) on the row.
    3. Write the receipt and its hash, drop the sealed identifiers (and the account's keyed
       names), record the event.
    A failure marks the request FAILED with the reason and the counts reached so far, in
    the partial record and in the event; the identifiers stay, for a retry.
    """
    attempt = _claim(request_id)
    if attempt is None:
        return False
    request = SubjectRequest.objects.select_related(
        "subject_user", "verified_by", "scoped_by", "approved_by"
    )
    run = _Run(request.get(pk=request_id), attempt)
    try:
        run.start()
        _complete(run, _carry_out(run))
    except Superseded:
        log.warning("%s was taken over by another worker", run.request.reference)
    except Exception as exc:
        log.exception("Executing %s failed", run.request.reference)
        run.fail(type(exc).__name__)
    return True


def _lost(now: dt.datetime) -> Q:
    return Q(status=S.EXECUTING) & (
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - STALE_AFTER)
    )


def _locked_lost(request_id: int, now: dt.datetime, **attempts) -> SubjectRequest | None:
    """The request, locked, if its run lost its worker and its ``attempts`` match."""
    lost = SubjectRequest.objects.select_for_update().filter(_lost(now), pk=request_id)
    return lost.filter(**attempts).first()


def _claim(request_id: int) -> int | None:
    """The attempt number this worker now holds the request under; None if it may not run it."""
    now = timezone.now()
    claimed = SubjectRequest.objects.filter(pk=request_id, status=S.APPROVED).update(
        status=S.EXECUTING,
        started_at=Coalesce("started_at", Value(now, output_field=models.DateTimeField())),
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        progress_done=0,
        redaction_counts={},
    )
    if claimed:
        return SubjectRequest.objects.values_list("attempts", flat=True).get(pk=request_id)
    with transaction.atomic():
        request = _locked_lost(request_id, now, attempts__lt=F("attempts_allowed"))
        if request is None:
            return None
        partial = _closed(request, outcome="lost", error="WorkerLost")
        request.receipt = partial
        request.attempts += 1
        request.heartbeat_at = now
        request.progress_done = 0
        request.redaction_counts = {}
        request.save(
            update_fields=[
                "receipt",
                "attempts",
                "heartbeat_at",
                "progress_done",
                "redaction_counts",
            ]
        )
        _record_stop(request, partial, resumed=True)
    return request.attempts


class _Run:
    """One attempt at a request: the attempt number it holds it under, and what it did."""

    def __init__(self, request: SubjectRequest, attempt: int) -> None:
        self.request = request
        self.attempt = attempt
        self.partial: dict = {}
        #: Exact counts, once the erasure or the archive returned them.
        self.counts: dict | None = None

    def _held(self):
        return SubjectRequest.objects.filter(
            pk=self.request.pk, status=S.EXECUTING, attempts=self.attempt
        )

    def write(self, **fields) -> None:
        """Update the request and beat the heartbeat; Superseded if it was taken over."""
        if not self._held().update(heartbeat_at=timezone.now(), **fields):
            raise Superseded

    def progress(self, done: int, erased: erasure.Erased | None = None) -> None:
        """Report how far the run got. An erasure's report stores what it redacted so far too:
        after a redaction, inside the redaction's transaction (both commit, or neither)."""
        if erased is None:
            self.write(progress_done=done)
        else:
            self.write(progress_done=done, redaction_counts=erased.redactions())

    def keep_account_names(self, user) -> None:
        """Keep on the request the keyed hashes of the names and addresses of the subject's
        account, before the erasure blanks them: the audit trail's are removed by them, by
        this attempt or, should it stop, by the next (those an earlier attempt kept stay)."""
        names = sorted(set(self.request.account_names) | set(erasure.account_names(user)))
        self.write(account_names=names)
        self.request.account_names = names

    def start(self) -> None:
        """Write where this attempt starts from, before it changes anything."""
        request, previous = self.request, self.request.receipt
        self.partial = {
            "partial": True,
            "note": PARTIAL_NOTE,
            "attempt": self.attempt,
            # Who received the data is read before erasure removes the index rows it starts
            # from: by the first attempt, and kept for the later ones.
            "recipients": previous["recipients"]
            if "recipients" in previous
            else scope.recipients(
                digests=request.digests,
                subject_user_id=request.subject_user_id,
                literals=[value for _, value in request.identifiers()],
            ),
            "baseline": _standing(request),
            "earlier_attempts": _history(previous),
        }
        fields = {}
        if request.kind == SubjectRequest.Kind.ERASURE:
            # Stored from the start, at nought: only an attempt begun before they were stored
            # has its redactions measured from what is gone (_gone_since).
            fields["redaction_counts"] = erasure.Erased().redactions()
        self.write(receipt=self.partial, **fields)

    def fail(self, error: str) -> None:
        """Mark the request FAILED with what this attempt did, if it still holds it."""
        with transaction.atomic():
            request = SubjectRequest.objects.get(pk=self.request.pk)
            partial = _closed(request, outcome="failed", error=error, counts=self.counts)
            failed = self._held().update(
                status=S.FAILED,
                error=f"{error}: the execution stopped."[:500],
                receipt=partial,
                archive_sealed=b"",
                archive_digests=[],
            )
            if failed:
                _record_stop(request, partial)


def _carry_out(run: _Run) -> dict:
    """Erase, or build the archive; the counts for the receipt."""
    request = run.request
    mentioned = (
        SubjectMention.objects.filter(digest__in=request.digests)
        .values("conversation_id")
        .distinct()
        .count()
    )
    owned = (
        Conversation.objects.filter(owner=request.subject_user).count()
        if request.subject_user_id
        else 0
    )
    run.write(progress_total=mentioned + owned)
    if request.kind == SubjectRequest.Kind.ERASURE:
        literals = [value for _, value in request.identifiers()]
        result = erasure.erase(
            digests=request.digests,
            literals=literals,
            subject_user=request.subject_user,
            progress=run.progress,
            reference=request.reference,
        )
        run.counts = result.as_dict()  # kept, should erasing the account fail
        if request.subject_user_id:
            user = request.subject_user
            run.keep_account_names(user)
            result.account = erasure.erase_account(user)
            result.account_withheld = not result.account
            run.counts = result.as_dict()
            if result.account:
                # After the account's erasure committed, outside its holds lock, a batch at a
                # time (each beats the heartbeat), by the names kept: the account's are gone.
                personal.forget_person(user, names=request.account_names, after_batch=run.write)
        return run.counts
    # Whom the copy holds, read before it is built (an erasure may remove index rows
    # meanwhile) and after (rows added meanwhile): an erasure of any of them drops it.
    started = timezone.now()
    within = archive.digests_within(request)
    blob, counts = archive.build(
        request, recipients=run.partial["recipients"], progress=run.progress
    )
    request.archive_digests = sorted(within | archive.digests_within(request))
    run.counts = counts
    run.write(archive_sealed=blob, archive_digests=request.archive_digests)
    erasure.withdraw_if_erased_meanwhile(request, since=started)
    return counts


def _complete(run: _Run, counts: dict) -> None:
    request = run.request
    earlier = run.partial["earlier_attempts"]
    if request.kind == SubjectRequest.Kind.ERASURE:
        counts = _added_up(counts, earlier)
    now = timezone.now()
    receipt = {
        "reference": request.reference,
        "kind": request.kind,
        "regime": request.regime,
        "received_on": request.received_on.isoformat(),
        "due_on": request.due_on.isoformat(),
        "verified_at": request.verified_at.isoformat() if request.verified_at else None,
        # Nobody for a request from the account page: signing in verified the person.
        "identity": {"verified_by": _who(request.verified_by), "method": request.verification},
        "scoped_by": _who(request.scoped_by),
        "approved_by": _who(request.approved_by),
        "started_at": request.started_at.isoformat() if request.started_at else None,
        "completed_at": now.isoformat(),
        "subject_digests": request.digests,
        "counts": counts,
        "recipients": run.partial["recipients"],
    }
    if request.extended:
        # One extension at most, so the original due date is the regime's from the receipt.
        original = policy.due_on(request.regime_rules, request.received_on)
        receipt["extended"] = {
            "original_due_on": original.isoformat(),
            "reason": request.extension_reason,
        }
    if earlier:
        receipt["earlier_attempts"] = earlier
    digest = receipt_hash(receipt)
    fields = {}
    # Who received the subject's data (backends, calls, how many in clear: no personal data),
    # so that an auditor can tell from the trail alone whom the request had to reach.
    details = {
        "kind": request.kind,
        "receipt_hash": digest,
        "counts": counts,
        "recipients": receipt["recipients"],
    }
    if request.kind == SubjectRequest.Kind.ACCESS:
        # Other people's messages wait for an officer's check; the subject's own data does not.
        released = not counts["mentions"]
        fields["archive_released_at"] = now if released else None
        details["archive_released"] = released
    # Where the answer goes, until it is told (the account's email may be erased by now, but
    # the identifiers hold the one it had).
    request.seal_reply_to()
    with transaction.atomic():
        run.write(
            status=S.COMPLETED,
            completed_at=now,
            receipt=receipt,
            receipt_hash=digest,
            identifiers_sealed=b"",
            account_names=[],
            reply_to_sealed=request.reply_to_sealed,
            note="",  # free text, which may name the person as the identifiers do
            **fields,
        )
        record(action=AuditEvent.Action.DSR_EXECUTED, target=request, details=details)
        if details.get("archive_released"):
            # Their copy is on their page. An erasure's outcome is not: it closes the account.
            notices.told_in_steward(request, notices.Topic.OUTCOME)


def _who(user) -> str | None:
    return user.display_name if user else None


# --- the partial record ------------------------------------------------------------------


def _standing(request: SubjectRequest) -> dict:
    """What an erasure still reaches, counted: the subject's own conversations and their
    messages, and other people's conversations that mention them (their index rows go once
    redacted). Nothing for access."""
    if request.kind != SubjectRequest.Kind.ERASURE:
        return {}
    mentions = SubjectMention.objects.filter(digest__in=request.digests)
    own = own_messages = 0
    if request.subject_user_id:
        own = Conversation.objects.filter(owner_id=request.subject_user_id).count()
        own_messages = Message.objects.filter(
            conversation__owner_id=request.subject_user_id
        ).count()
        mentions = mentions.exclude(conversation__owner_id=request.subject_user_id)
    return {
        "own_conversations": own,
        "own_messages": own_messages,
        "mentioned_conversations": mentions.values("conversation_id").distinct().count(),
    }


def _gone_since(request: SubjectRequest, baseline: dict | None) -> dict:
    """What an erasure did since ``baseline``, measured from what is gone. Its count of other
    people's conversations (those whose index rows went) stands only for an attempt begun
    before redactions were stored as they went: ``redaction_counts`` replace it."""
    if not baseline:
        return {}
    now = _standing(request)
    gone = {
        "own_conversations": max(0, baseline["own_conversations"] - now["own_conversations"]),
        "redacted_conversations": max(
            0, baseline["mentioned_conversations"] - now["mentioned_conversations"]
        ),
    }
    if "own_messages" in baseline:  # not in a baseline written before it was counted
        gone["own_messages"] = max(0, baseline["own_messages"] - now["own_messages"])
    return gone


def _history(partial: dict) -> list[dict]:
    """The entries of the attempts a partial record tells of, its own included if it ended."""
    if not partial.get("partial"):
        return []
    earlier = list(partial.get("earlier_attempts", []))
    if partial.get("outcome"):
        earlier.append({name: partial[name] for name in ENTRY if name in partial})
    return earlier


def _closed(
    request: SubjectRequest, *, outcome: str, error: str, counts: dict | None = None
) -> dict:
    """The partial record of the request's current attempt, ended: how and after what.
    Without exact ``counts`` (the attempt stopped inside the erasure, or its worker was
    lost), they are what it stored of its redactions as it went, and what it shredded
    measured from its baseline."""
    partial = request.receipt
    if not (partial.get("partial") and partial.get("attempt") == request.attempts):
        # The attempt stopped before it wrote its record.
        partial = {
            "partial": True,
            "note": PARTIAL_NOTE,
            "attempt": request.attempts,
            "earlier_attempts": _history(partial),
        }
    return {
        **partial,
        "outcome": outcome,
        "error": error,
        "stopped_at": timezone.now().isoformat(),
        "counts": counts
        if counts is not None
        else {**_gone_since(request, partial.get("baseline")), **request.redaction_counts},
        "progress_done": request.progress_done,
        "progress_total": request.progress_total,
    }


def _added_up(counts: dict, earlier: list[dict]) -> dict:
    """An erasure's counts over all its attempts: numbers add up (a yes stays yes), except
    the STANDING ones, which are the last attempt's."""
    total = dict(counts)
    for entry in earlier:
        for name, value in entry.get("counts", {}).items():
            if name in STANDING or name not in total:
                continue
            total[name] = (total[name] or value) if isinstance(value, bool) else total[name] + value
    return total


def _record_stop(request: SubjectRequest, partial: dict, **flags) -> None:
    record(
        action=AuditEvent.Action.DSR_FAILED,
        target=request,
        outcome=AuditEvent.Outcome.FAILURE,
        details={
            "kind": request.kind,
            **{name: partial[name] for name in ENTRY if name != "stopped_at"},
            **flags,
        },
    )


# --- recovery ----------------------------------------------------------------------------


def recover() -> dict[str, int]:
    """Beat, every minute: queue again what was never started; take over or fail what was lost.

    1. An APPROVED request that no worker started ``REQUEUE_AFTER`` after its approval
       (or after the sweep last queued it) is queued again: the task sent after the
       approval is lost if the broker was down at that moment.
    2. An EXECUTING request whose heartbeat is older than ``STALE_AFTER`` lost its worker.
       With attempts left, it is queued again, and the task takes it over (its claim looks
       at the heartbeat again, so a run that was only slow is left alone)...
    3. ...without, it is FAILED, with the reason and what the attempts did, for an officer
       to run again.
    """
    now = timezone.now()
    done = {"requeued": 0, "resumed": 0, "failed": 0}
    forgotten = (
        SubjectRequest.objects.filter(status=S.APPROVED)
        .annotate(queued_at=Coalesce("heartbeat_at", "approved_at"))
        .filter(queued_at__lt=now - REQUEUE_AFTER)
    )
    for pk in forgotten.values_list("pk", flat=True):
        # heartbeat_at of an APPROVED request: when it was last queued.
        if SubjectRequest.objects.filter(pk=pk, status=S.APPROVED).update(heartbeat_at=now):
            done["requeued"] += _queue(pk)
    lost = SubjectRequest.objects.filter(_lost(now))
    for pk, attempts, allowed in lost.values_list("pk", "attempts", "attempts_allowed"):
        if attempts < allowed:
            done["resumed"] += _queue(pk)
        else:
            done["failed"] += _give_up(pk, now)
    return done


def stalled_since(request: SubjectRequest) -> dt.datetime | None:
    """When an approved or executing request was last seen moving, if that is long enough
    ago that its run looks lost (the sweep queues it again, or takes it over); else None.
    An approved request's ``heartbeat_at`` is when it was last queued."""
    if request.status == S.APPROVED:
        since, limit = request.heartbeat_at or request.approved_at, REQUEUE_AFTER
    elif request.status == S.EXECUTING:
        since, limit = request.heartbeat_at, STALE_AFTER
    else:
        return None
    return since if since and since < timezone.now() - limit else None


def _queue(request_id: int) -> bool:
    from privacy.tasks import execute_request

    try:
        execute_request.delay(request_id)
    except Exception as exc:  # the broker is down: the next sweep tries again
        log.warning("request %s not queued: %s", request_id, type(exc).__name__)
        return False
    return True


def _give_up(request_id: int, now: dt.datetime) -> bool:
    with transaction.atomic():
        request = _locked_lost(request_id, now, attempts__gte=F("attempts_allowed"))
        if request is None:
            return False
        partial = _closed(request, outcome="lost", error="WorkerLost")
        times = request.attempts
        request.status = S.FAILED
        request.error = (
            f"The execution stopped {times} time{'s' if times != 1 else ''} without "
            "finishing: its worker was lost (stopped, restarted or out of memory)."
        )
        request.receipt = partial
        request.archive_sealed = b""
        request.archive_digests = []
        request.save(
            update_fields=["status", "error", "receipt", "archive_sealed", "archive_digests"]
        )
        _record_stop(request, partial, gave_up=True)
    return True


def retry(*, request: SubjectRequest, actor: User) -> SubjectRequest:
    """Run a FAILED request again (a privacy officer's "Run again"), with MAX_ATTEMPTS more
    attempts. It was approved, with four eyes, for what it has still to do; the partial
    record keeps what the earlier attempts did."""
    from privacy.tasks import execute_request

    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != S.FAILED:
            raise PrivacyError("Only a failed request can be run again.")
        refuse_the_subject(request, actor)
        request.status = S.APPROVED
        request.error = ""
        request.heartbeat_at = timezone.now()  # queued now: the sweep waits before queueing again
        request.attempts_allowed = request.attempts + MAX_ATTEMPTS
        request.progress_done = 0
        request.save(
            update_fields=["status", "error", "heartbeat_at", "attempts_allowed", "progress_done"]
        )
        record_step(
            request,
            actor,
            AuditEvent.Action.DSR_RETRIED,
            {"attempts": request.attempts},
        )
        pk = request.pk
        transaction.on_commit(lambda: execute_request.delay(pk))
    return request
