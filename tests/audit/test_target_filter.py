"""Events about one object (a conversation, a person, a request): the page, the export and
the REST API share the filter; the list links each event to the others about its target."""

import json

import pytest

from audit.models import AuditEvent
from audit.services import record
from chat.models import Conversation
from tests.asked_here import asked
from tests.factories import make_category

Action = AuditEvent.Action


@pytest.fixture
def conversations(member):
    category = make_category()
    first, second = (Conversation.objects.create(owner=member, category=category) for _ in "12")
    for conversation in (first, second, first):
        record(action=Action.CHAT_REQUEST, actor=member, target=conversation,
               details={"decision": "allowed"})  # fmt: skip
    record(action=Action.CHAT_RENAMED, actor=member, target=second)
    return first, second


def _about(conversation) -> str:
    return f"target_type=chat.conversation&target={conversation.public_id}"


def _sequences(target) -> set[int]:
    events = AuditEvent.objects.filter(target_type="chat.conversation", target_id=target)
    return set(events.values_list("sequence", flat=True))


def test_the_list_shows_only_the_events_about_a_target(client, reader, conversations):
    first, second = conversations
    client.force_login(reader)
    page = client.get(f"/audit/?{_about(first)}").content.decode()
    assert page.count(f"Conversation {first.public_id}") == 2
    assert f"Conversation {second.public_id}" not in page
    assert "filtered" in page
    export = asked(client, f"/audit/export/csv/?{_about(first)}")
    assert f'href="{export}"'.replace("&", "&amp;") in page


def test_each_event_links_to_the_events_about_its_target(client, reader, conversations):
    first, second = conversations
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    for conversation in (first, second):
        assert f'href="/audit/?{_about(conversation)}"'.replace("&", "&amp;") in page
    # A person the event is about (here the member whose roles changed) is a target too.
    record(action=Action.USER_ROLES_CHANGED, actor=reader, target=conversations[0].owner)
    page = client.get("/audit/").content.decode()
    owner = conversations[0].owner.public_id
    assert f'href="/audit/?target_type=governance.user&amp;target={owner}"' in page


def test_the_type_alone_narrows_too(client, reader, conversations):
    record(action=Action.LOGIN, actor=reader, target=reader)
    client.force_login(reader)
    page = client.get("/audit/?target_type=governance.user").content.decode()
    assert ">Signed in</a>" in page and ">Chat request</a>" not in page


def test_an_id_without_its_type_is_explained_not_guessed(client, reader, conversations):
    """Events are found by type and id together (one index): an id alone would read the
    whole trail."""
    client.force_login(reader)
    response = client.get(f"/audit/?target={conversations[0].public_id}")
    assert response.status_code == 422
    assert "Choose what kind of target the ID is" in response.content.decode()
    assert (
        client.get(
            asked(client, f"/audit/export/csv/?target={conversations[0].public_id}")
        ).status_code
        == 400
    )


def test_the_export_holds_only_the_events_about_the_target(client, reader, conversations):
    first, _ = conversations
    client.force_login(reader)
    response = client.get(asked(client, f"/audit/export/jsonl/?{_about(first)}"))
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert {row["sequence"] for row in rows} == _sequences(str(first.public_id))
    exported = AuditEvent.objects.get(action=Action.AUDIT_EXPORTED)
    assert exported.details["filters"] == {
        "target_type": "chat.conversation",
        "target": str(first.public_id),
    }


def test_the_api_filters_by_target(client, reader, conversations):
    _, second = conversations
    client.force_login(reader)
    answer = client.get("/api/audit/events/", {"target_type": "chat.conversation",
                                               "target": str(second.public_id)})  # fmt: skip
    assert answer.status_code == 200
    got = {row["sequence"] for row in answer.json()["results"]}
    assert got == _sequences(str(second.public_id))
    refused = client.get("/api/audit/events/", {"target": str(second.public_id)})
    assert refused.status_code == 400
    assert "target_type" in refused.json()
