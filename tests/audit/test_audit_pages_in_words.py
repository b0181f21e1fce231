"""The audit pages say what they show in words (review round 5): an event's findings and
recorded values, the filters' target, the check of an uploaded file, and what an auditor
needs on the checkpoints page apart from what the operator does."""

import json
import re

from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from audit.services import checkpoint_lines, create_checkpoint, record
from chat.models import Conversation
from tests.factories import make_category

Action = AuditEvent.Action


def _page(client, reader, path: str) -> str:
    client.force_login(reader)
    return client.get(path).content.decode()


def _check(client, content: str) -> str:
    upload = SimpleUploadedFile("kept.jsonl", content.encode(), content_type="application/jsonl")
    response = client.post("/audit/checkpoints/check/", {"checkpoints": upload})
    return client.get(response["Location"]).content.decode()


def _held_badge(page: str) -> str:
    """The badge beside the check's outcome, as HTML."""
    return re.search(r'<p role="status">(<span class="badge[^"]*">[^<]*</span>)', page)[1]


# --- the check of an uploaded file ------------------------------------------------------------


def test_a_file_none_of_whose_checkpoints_verifies_is_never_shown_green(client, reader):
    record(action=Action.LOGIN, actor_label="someone")
    create_checkpoint()
    line = json.loads(next(checkpoint_lines()))
    forged = json.dumps({**line, "signature": "A" * 86})
    client.force_login(reader)
    page = _check(client, forged + "\n")
    assert "Your file does not verify at line 1" in page
    assert _held_badge(page) == '<span class="badge badge-warn">0 of 1 held</span>'


def test_a_file_whose_checkpoints_all_verify_is_held_in_green(client, reader):
    for _ in range(2):
        record(action=Action.LOGIN, actor_label="someone")
        create_checkpoint()
    client.force_login(reader)
    page = _check(client, "".join(checkpoint_lines()))
    assert _held_badge(page) == '<span class="badge badge-ok">2 of 2 held</span>'


# --- the checkpoints page: the auditor's words, the operator's details folded away -----------


def test_the_checkpoints_page_keeps_server_detail_for_the_operator(client, reader):
    page = _page(client, reader, "/audit/checkpoints/")
    operator = re.search(r'<details class="operator-notes[^"]*">.*?</details>', page, re.S)[0]
    rest = page.replace(operator, "")
    for detail in ("STEWARD_AUDIT_CHECKPOINT_FILE", "manage.py", "steward.audit.checkpoints",
                   "docs/"):  # fmt: skip
        assert detail in operator
        assert detail not in rest, f"{detail} is outside the operator's notes"


def test_the_checkpoints_page_prints_without_its_forms_and_links_back(client, reader):
    page = _page(client, reader, "/audit/checkpoints/")
    assert re.search(r'<p class="small no-print"><a href="/audit/">', page)
    assert '<form class="card form no-print"' in page
    assert re.search(r'<div class="no-print">\s*<p><a class="button[^>]*checkpoints.jsonl', page)
    assert '<div class="stack">' in page  # the cards have room between them


# --- an event's page --------------------------------------------------------------------------


def test_an_events_findings_are_named_as_the_list_names_them(client, reader):
    event = record(action=Action.CHAT_REQUEST, actor_label="someone", details={
        "decision": "blocked", "findings": {"PROTECTED_TERM": 1, "rule Health information": 2},
    })  # fmt: skip
    page = _page(client, reader, f"/audit/events/{event.sequence}/")
    assert "<dt>Found</dt><dd>Protected term × 1, Rule “Health information” × 2</dd>" in page
    assert "<code>PROTECTED_TERM</code>" not in page


def test_recorded_values_read_in_words_with_the_exact_json_folded_beside_them(client, reader):
    event = record(
        action=Action.POLICY_CHANGED,
        actor_label="someone",
        before={"retention_days": 30, "is_active": False},
        after={"retention_days": 1, "is_active": True, "hosting_class": "on_prem"},
    )
    page = _page(client, reader, f"/audit/events/{event.sequence}/")
    words, exact = page.split('<details class="exact-record">')
    assert "<dt>Switched on</dt><dd>No</dd><dt>Retention days</dt><dd>30</dd>" in words
    assert "<dt>Hosting class</dt><dd>On-premise</dd>" in words
    assert "retention_days" not in words and "on_prem" not in words
    assert "&quot;retention_days&quot;: 30" in exact and "&quot;on_prem&quot;" in exact


def test_an_events_target_names_its_id_once(client, reader, member):
    conversation = Conversation.objects.create(owner=member, category=make_category())
    event = record(action=Action.CHAT_RENAMED, actor=member, target=conversation)
    page = _page(client, reader, f"/audit/events/{event.sequence}/")
    assert page.count(str(conversation.public_id)) == 1


# --- the filters ------------------------------------------------------------------------------


def test_the_target_filter_offers_kinds_in_words_and_links_say_which(client, reader, member):
    conversation = Conversation.objects.create(owner=member, category=make_category())
    record(action=Action.CHAT_RENAMED, actor=member, target=conversation)
    page = _page(client, reader, "/audit/")
    assert '<option value="chat.conversation">Conversation</option>' in page
    assert '<label for="id_target">Target ID</label>' in page
    assert 'title="Events about this conversation"' in page
    assert "chat.conversation</" not in page and "e.g. chat.conversation" not in page
    refused = client.get(f"/audit/?target={conversation.public_id}").content.decode()
    assert "Choose what kind of target the ID is" in refused


def test_the_target_filter_still_takes_any_type_the_trail_may_hold(client, reader):
    """The REST API's values are unchanged, and a type the list does not offer (here a
    checkpoint, standing for a model gone since: the trail outlives code) still finds its
    events, and is shown as the filter applied."""
    record(action=Action.LOGIN, actor_label="someone")
    unlisted = record(action=Action.AUDIT_CHECKPOINT, target=create_checkpoint())
    client.force_login(reader)
    api = client.get("/api/audit/events/", {"target_type": "audit.auditcheckpoint"})
    assert api.status_code == 200
    assert [row["sequence"] for row in api.json()["results"]] == [unlisted.sequence]
    page = client.get("/audit/?target_type=audit.auditcheckpoint").content.decode()
    assert '<option value="audit.auditcheckpoint" selected>audit checkpoint</option>' in page
    assert f"/audit/events/{unlisted.sequence}/" in page
