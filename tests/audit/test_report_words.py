import csv
import io
import json

from tests.asked_here import asked
from tests.factories import make_chat_event


def _csv_rows(client) -> list[dict]:
    body = client.get(asked(client, "/audit/report/?format=csv")).content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def test_it_labels_each_download_row_in_the_pages_words_beside_its_codes(client, reader):
    """The CSV said PROTECTED_TERM, on_prem and closed_before_telling_was_recorded where the
    page says "Protected term" and "On-premise"; the codes stay, for programs."""
    make_chat_event(backend="Local Ollama", hosting="on_prem", findings={"PROTECTED_TERM": 1})
    make_chat_event(decision="blocked", findings={"SECRET": 2})
    client.force_login(reader)

    rows = _csv_rows(client)

    assert list(rows[0]) == ["section", "key", "label", "value"]
    labels = {(row["section"], row["key"]): row["label"] for row in rows}
    assert labels["findings_allowed", "PROTECTED_TERM"] == (
        "Times found in allowed requests: Protected term"
    )
    assert labels["findings_blocked", "SECRET"] == (
        "Times found in blocked requests: Secret or credential"
    )
    assert labels["routing", "Public → Local Ollama (on_prem, eu)"] == (
        "Sent from Public to Local Ollama (On-premise, eu)"
    )
    assert labels["subject_requests", "closed_before_telling_was_recorded"] == (
        "Data-subject requests closed before Steward recorded what requesters were told"
    )
    assert labels["decisions", "blocked"] == "Requests blocked"


def test_the_json_download_has_the_same_labels(client, reader):
    make_chat_event(findings={"EMAIL_ADDRESS": 1})
    client.force_login(reader)

    data = json.loads(client.get(asked(client, "/audit/report/?format=json")).content)

    assert {
        "section": "findings_allowed",
        "key": "EMAIL_ADDRESS",
        "label": "Times found in allowed requests: Email address",
        "value": 1,
    } in data
