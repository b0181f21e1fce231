"""The compliance report's downloads say when: when each exception happened (the page
shows it beside the event) and when the file was drawn (a period that takes in today has
more requests to come), in ISO 8601 as the trail's export writes times."""

import csv
import datetime as dt
import io
import json

from django.utils import timezone

from tests.asked_here import asked
from tests.factories import make_chat_event


def _rows(client, fmt: str) -> dict:
    response = client.get(asked(client, f"/audit/report/?format={fmt}"))
    if fmt == "json":
        rows = json.loads(response.content)
    else:
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    return {(row["section"], row["key"]): row for row in rows}


def test_it_dates_each_exception(client, reader):
    leak = make_chat_event(category="Confidential", number=3, backend="OpenAI",
                           hosting="external_api")  # fmt: skip
    client.force_login(reader)
    when = timezone.localtime(leak.occurred_at).isoformat(timespec="seconds")
    for fmt in ("csv", "json"):
        row = _rows(client, fmt)["confidential_off_premise", f"event #{leak.sequence}"]
        assert row["label"] == f"Exception: event #{leak.sequence}, {when}"
        assert row["value"] == "Confidential → OpenAI"


def test_it_says_when_it_was_generated(client, reader):
    make_chat_event()
    client.force_login(reader)
    before = timezone.now().replace(microsecond=0)
    for fmt in ("csv", "json"):
        row = _rows(client, fmt)["period", "generated_at"]
        generated = dt.datetime.fromisoformat(row["value"])
        assert row["label"] == "Generated at"
        assert generated.tzinfo is not None and before <= generated <= timezone.now()
