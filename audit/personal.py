"""Names and IP addresses in the trail are kept for a time, not forever (GDPR Art. 5(1)(e)).

An event's personal values stay in clear where the pages and exports read them, but its
hash covers their keyed hashes (audit.chain.PSEUDONYMS). Here they are replaced by a
removal marker: every day for events older than STEWARD_AUDIT_PERSONAL_DAYS, and at once
for an erased account's. The events stay, with the keyed hashes: an investigator can still
ask "was this alice@example.com?" by hashing the value. Events written before the second
format hash their clear values, which therefore stay.
"""

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import lazy

from audit import chain
from audit.models import AuditEvent, first_sequence_at
from audit.services import pseudonym, record

#: What an erased account's values are replaced by.
ERASED = "[removed: account erased]"
#: The columns a removal may change (PostgreSQL refuses a change to any other).
CHANGED = ("actor_label", "target_repr", "before", "after", "details")
BATCH = 1000


def after_days(days: int) -> str:
    """The marker of a value removed when its event was ``days`` old."""
    return f"[removed after {days} day{'' if days == 1 else 's'}]"


def remove_old_values(*, now: dt.datetime | None = None, batch_size: int = BATCH):
    """Remove the personal values of events older than STEWARD_AUDIT_PERSONAL_DAYS (0: keep
    them), and record the run with its counts; None when there was nothing to look at.

    1. Look at the events after the one the last run ended at (its event says), up to the
       first one younger than the limit: a daily run takes a day's events, no long walk.
    2. In batches of ``batch_size``, each its own transaction (no long lock on the trail),
       replace every value still in clear by the marker.
    3. Record one event: how many events and values, and where the run ended. Never a name.
    """
    days = settings.STEWARD_AUDIT_PERSONAL_DAYS
    if not days:
        return None
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    start = _last_run_ended()
    end = first_sequence_at(cutoff)
    if end is None:  # every event is older than the limit
        newest = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True)
        end = (newest.first() or 0) + 1
    if end - 1 <= start:
        return None
    events = AuditEvent.objects.filter(sequence__gt=start, sequence__lt=end)
    removed_events, removed_values = _remove(events, _every_one, after_days(days), batch_size)
    return record(
        action=AuditEvent.Action.AUDIT_PERSONAL_REMOVED,
        actor_label="system",
        details={
            "days": days,
            "events": removed_events,
            "values": removed_values,
            "through": end - 1,
        },
        message=f"names and addresses removed from {removed_events} events over {days} days old",
    )


def _every_one(row: dict[str, Any]) -> Iterable[str]:
    return row[chain.PSEUDONYMS]


def _last_run_ended() -> int:
    details = (
        AuditEvent.objects.filter(action=AuditEvent.Action.AUDIT_PERSONAL_REMOVED)
        .order_by("-sequence")
        .values_list("details", flat=True)
        .first()
    )
    return details.get("through", 0) if isinstance(details, dict) else 0


def keyed_names(values: Iterable[str]) -> list[str]:
    """The keyed hashes the trail's ``pseudonyms`` hold ``values`` (a person's names and
    addresses) by: what :func:`forget_person` matches once the clear values are gone."""
    return sorted({pseudonym(value) for value in values if value and value.strip()})


def forget_person(
    user,
    *,
    names: Collection[str],
    batch_size: int = BATCH,
    after_batch: Callable[[], None] = lambda: None,
) -> int:
    """Remove what the trail holds in clear of ``user``, whose account is erased: their name
    as actor, their sign-in addresses, their name as a target, their clearances' email
    address, the name in their quiz attempts, and any other personal value of those events
    whose keyed hash is one of ``names`` (:func:`keyed_names` of the names and addresses the
    account had) and that is not another account's label (a namesake's). Returns how many
    events changed. Their events stay, with the keyed hashes; events before the second
    format keep their clear values (their hash covers them).

    Nothing here reads the account's name or address: it runs after the erasure blanked
    them, outside its transaction (and the legal holds lock), in batches of
    ``batch_size``, each its own short transaction, calling ``after_batch`` after each (a
    run's heartbeat). A value once removed is not looked at again: a second run changes
    nothing, and a run stopped half-way is finished by the next.
    """
    public_id = str(user.public_id)
    account = user._meta.label_lower
    their_names = frozenset(names)
    clearances = Q(target_type="governance.clearance") & (
        Q(before__user=public_id) | Q(after__user=public_id)
    )
    events = AuditEvent.objects.filter(
        Q(actor=user) | Q(target_type=account, target_id=public_id) | clearances
    )

    def theirs(row: dict[str, Any]) -> Iterable[str]:
        by_them = row["actor_id"] == user.pk
        about_them = row["target_type"] == account and row["target_id"] == public_id
        for path, keyed in row[chain.PSEUDONYMS].items():
            if by_them and path in ("actor_label", "details.ip"):
                yield path
            elif path == "details.ip" and about_them:  # a failed sign-in: no actor
                yield path
            elif path == "target_repr" and (about_them or _clearance_of(row, public_id)):
                yield path
            elif path == "target_repr" and by_them and row["target_type"] in TAKEN_BY_ACTOR:
                yield path  # "Max Member: quiz 2, 3/4": theirs, their name not whole
            elif path.endswith(".user_email") and _clearance_of(row, public_id, path):
                yield path
            elif keyed in their_names and not _names_another_account(row, path, account):
                yield path  # their name or address, whole (not a name that holds theirs)

    return _remove(events, theirs, ERASED, batch_size, after_batch)[0]


#: Targets whose label names the person who acted on them, always: a quiz attempt's taker.
TAKEN_BY_ACTOR = frozenset({"training.quizattempt"})


def _names_another_account(row: dict[str, Any], path: str, account: str) -> bool:
    """Whether the value at ``path`` is another account's label, which may read as the erased
    person's name (a namesake's): the actor's, or the target's when it is an account. Called
    for an event neither by the erased person nor about their account."""
    if path == "actor_label":
        return row["actor_id"] is not None
    return path == "target_repr" and row["target_type"] == account


def _clearance_of(row: dict[str, Any], public_id: str, path: str = "") -> bool:
    """Whether ``row`` is a clearance event about the person ``public_id``: on the side
    ``path`` names ("before.user_email"), or on either. A clearance they gave someone else,
    as its actor, is that person's."""
    if row["target_type"] != "governance.clearance":
        return False
    sides = [path.partition(".")[0]] if path else ["before", "after"]
    return any(isinstance(row[side], dict) and row[side].get("user") == public_id for side in sides)


def _remove(
    events,
    paths: Callable[[dict[str, Any]], Iterable[str]],
    marker: str,
    batch_size: int,
    after_batch: Callable[[], None] = lambda: None,
) -> tuple[int, int]:
    """Replace by ``marker`` the values of ``events`` at the ``paths`` each row names (among
    its pseudonymised ones), batch by batch, calling ``after_batch`` after each. Returns how
    many events and values changed."""
    rows = (
        events.filter(pseudonyms__isnull=False)
        .order_by("sequence")
        .values("sequence", "actor_id", "target_type", "target_id", chain.PSEUDONYMS, *CHANGED)
    )
    changed_events = changed_values = 0
    batch = list(rows[:batch_size])
    while batch:
        updates = []
        for row in batch:
            removed = [
                path for path in paths(row) if not chain.is_removed(chain.value_at(row, path))
            ]
            if removed:
                updates.append(_with_markers(row, removed, marker))
                changed_values += len(removed)
        _write(updates)
        changed_events += len(updates)
        after_batch()
        batch = list(rows.filter(sequence__gt=batch[-1]["sequence"])[:batch_size])
    return changed_events, changed_values


def _with_markers(row: dict[str, Any], paths: list[str], marker: str) -> dict[str, Any]:
    changed = {name: row[name] for name in CHANGED} | {"sequence": row["sequence"]}
    for path in paths:
        column, _, key = path.partition(".")
        if key:
            changed[column] = {**changed[column], key: marker}
        else:
            changed[column] = marker
    return changed


def _write(updates: list[dict[str, Any]]) -> None:
    """Set the changed columns of each row, in one transaction: the only UPDATE the trail's
    guard lets through (the model refuses every save of an event)."""
    if not updates:
        return
    fields = [AuditEvent._meta.get_field(name) for name in CHANGED]
    assignments = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in CHANGED)
    table = AuditEvent._meta.db_table
    params = [
        [field.get_db_prep_save(row[field.name], connection) for field in fields]
        + [row["sequence"]]
        for row in updates
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE sequence = %s", params)


#: Where the first second-format event's time is remembered once found (it never changes).
FIRST_KEY = "audit:first-pseudonymised"


def first_pseudonymised() -> dt.datetime | None:
    """When the trail's first event of the second format was written (None: none yet)."""
    first = cache.get(FIRST_KEY)
    if first is None:
        first = (
            AuditEvent.objects.filter(pseudonyms__isnull=False)
            .order_by("sequence")
            .values_list("occurred_at", flat=True)
            .first()
        )
        if first is not None:
            cache.set(FIRST_KEY, first, timeout=None)
    return first


def _retention_in_words() -> str:
    days = settings.STEWARD_AUDIT_PERSONAL_DAYS
    kept = "Without a time limit for the events: they are never deleted."
    if not days:
        return f"{kept} Names and IP addresses in them too: STEWARD_AUDIT_PERSONAL_DAYS is 0."
    since = first_pseudonymised()
    if since:
        events = f"events since {timezone.localtime(since).strftime('%-d %B %Y')}"
    else:
        events = "events recorded from now on"
    return (
        f"{kept} Names and IP addresses in {events}: kept {days} days, and removed at once "
        f"when the account is erased; before {'it' if since else 'this version'}: without a "
        "time limit."
    )


#: The audit trail's retention, in words, as the records page shows it (read when shown).
retention_in_words = lazy(_retention_in_words, str)
