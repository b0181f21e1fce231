"""``manage.py pii_scan``: the scanner's public contract, JSON Lines in and out.

Reads ``{"id": ..., "text": ...}`` per line on standard input and writes
``{"id": ..., "entities": [{"type", "start", "end", "score"}]}`` per line on
standard output. Offsets count Unicode code points of ``text``, end exclusive.
"""

import csv
import json
import sys
from pathlib import Path

import phonenumbers
from django.core.management.base import BaseCommand, CommandError

from governance.scanning import DEFAULT_PHONE_REGIONS, ProtectedTerms, scan


class Command(BaseCommand):
    help = (
        'Scan JSON Lines {"id": ..., "text": ...} from standard input for personal data and '
        'secrets; write {"id": ..., "entities": [...]} per line to standard output.'
    )
    # call_command(..., stdin=...) for tests and for callers that pipe in-process.
    stealth_options = ("stdin",)

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--region",
            action="append",
            dest="regions",
            metavar="CC",
            help="region whose national phone formats to read (repeatable; default: "
            + ", ".join(DEFAULT_PHONE_REGIONS)
            + ")",
        )
        parser.add_argument(
            "--terms",
            type=Path,
            metavar="CSV",
            help="protected terms to match, one 'term,kind' row per line (kind: client, "
            "codename, staff, ...)",
        )

    def handle(self, *args, regions, terms, **options) -> None:
        stdin = options.get("stdin") or sys.stdin
        protected = _load_terms(terms) if terms else None
        phone_regions = tuple(r.upper() for r in regions) if regions else DEFAULT_PHONE_REGIONS
        unknown = sorted(set(phone_regions) - phonenumbers.SUPPORTED_REGIONS)
        if unknown:  # read as no region at all: its numbers would silently go unfound
            raise CommandError(
                f"Unknown region {', '.join(unknown)}: give a two-letter country code (GB, DE, …)."
            )
        failed = total = 0
        for number, line in enumerate(stdin, start=1):
            if not line.strip():
                continue
            total += 1
            try:
                record_id, text = _parse(line)
            except ValueError as error:
                # The message names the line and the problem, never the line's content.
                self.stderr.write(f"line {number}: {error}")
                failed += 1
                continue
            result = scan(text, protected_terms=protected, phone_regions=phone_regions)
            entities = [finding.as_dict() for finding in result.findings]
            self.stdout.write(json.dumps({"id": record_id, "entities": entities}))
        if failed:
            raise CommandError(f"{failed} of {total} lines could not be scanned")


def _parse(line: str) -> tuple[object, str]:
    """The ``id`` and ``text`` of one input line, or ``ValueError`` saying what is wrong."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object with 'id' and 'text'")
    if "id" not in record:
        raise ValueError("missing 'id'")
    if not isinstance(record.get("text"), str):
        raise ValueError("'text' must be a string")
    return record["id"], record["text"]


def _load_terms(path: Path) -> ProtectedTerms:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row and row[0].strip()]
    except OSError as error:
        raise CommandError(f"cannot read terms file: {error.strerror}") from None
    return ProtectedTerms((row[0], row[1] if len(row) > 1 else "term") for row in rows)
