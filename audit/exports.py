"""Streaming exports of the trail: constant memory whatever the number of events."""

import csv
import json
import re
from collections.abc import AsyncIterator, Iterator
from itertools import islice
from typing import Any

from django.db.models import QuerySet

from audit.models import AuditEvent
from config.connections import in_database_thread

COLUMNS = (
    "sequence", "occurred_at", "actor_id", "actor_label", "request_id", "action", "outcome",
    "target_type", "target_id", "target_repr", "category", "backend", "before", "after",
    "details", "message", "pseudonyms", "prev_hash", "hash",
)  # fmt: skip
BATCH = 2000


def iter_rows(events: QuerySet[AuditEvent]) -> Iterator[dict[str, Any]]:
    """Filtered events as dicts, oldest first, fetched in keyset batches (from the lowest
    sequence present: a row slipped in below #1 is exported like the list shows it)."""
    rest = events.order_by("sequence").values(*COLUMNS)
    batch = list(rest[:BATCH])
    while batch:
        yield from batch
        batch = list(rest.filter(sequence__gt=batch[-1]["sequence"])[:BATCH])


async def streamed(lines: Iterator[str]) -> AsyncIterator[str]:
    """``lines`` as an ASGI server sends them: a batch at a time, each read and written on a
    database thread. Given a sync iterator, Django under ASGI would read it whole, in
    memory, before sending the first byte."""
    take = in_database_thread(lambda: "".join(islice(lines, BATCH)))
    while chunk := await take():
        yield chunk


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class _Line:
    """A write-only file for csv.writer that hands back what it was given."""

    def write(self, value: str) -> str:
        return value


#: Starts every CSV Steward's audit writes: without it, Excel reads UTF-8 as its local code page.
BOM = "\ufeff"


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield BOM + writer.writerow(COLUMNS)
    for row in iter_rows(events):
        yield writer.writerow([defuse(_text(row[name])) for name in COLUMNS])


def jsonl_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    for row in iter_rows(events):
        yield json.dumps(row, default=_text, ensure_ascii=False) + "\n"


#: A formula sign where a spreadsheet may start a cell inside this one: after a ';', a tab or
#: a line break (and any spaces).
SPLIT_FORMULA = re.compile(r"(?<=[;\t\r\n])( *)(?=[=+\-@])")


def defuse(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text.

    A leading =, +, -, @ (after any spaces, which a spreadsheet may trim), tab or carriage
    return would make it run the cell as a formula, so such a cell gets a leading apostrophe.
    Excel where ';' is the list separator, and a tab-separated import, also start a cell at
    each ';' and tab, and a row at each line break: the writer's quotes, put around cells for
    their commas, do not start such a field, so they do not protect it. An apostrophe goes
    before a sign that follows one of those ("a;=1+1" is written "a;'=1+1"; a line of a
    multi-line cell that begins "- " gets one too). A ',' needs none: the writer quotes any
    cell holding one, so JSON's "[0, -1]" is kept as it is. Steward's own numbers are never
    negative, so the leading '-' rule changes none of them.
    docs/audit-verification.md says how to undo this.
    """
    cell = SPLIT_FORMULA.sub(r"\1'", str(cell))  # str(): a lazy text (the records' retention)
    if cell.lstrip(" ")[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell
