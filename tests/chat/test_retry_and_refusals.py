"""A retry is governed as a send is: escalated, it moves the conversation up; blocked, it is
recorded. Refused without JavaScript, a message keeps what was typed."""

import json

import pytest

from chat import services, streams
from chat.models import Conversation, Message
from governance.models import Backend, DetectionRule
from tests.chat.test_service import _client_files_go_to_category_3


def _send(capture, conversation, author, text):
    with capture(execute=True):
        return services.send_message(conversation=conversation, author=author, text=text)


def test_a_retry_that_escalates_moves_the_conversation_up_as_a_send_does(
    org, django_capture_on_commit_callbacks
):
    """Carol (cleared for 3) asks in category 2; the external API cannot be reached. Meanwhile
    a rule makes "client file" category 3 material. Her retry is escalated (answered on
    premise), and the conversation moves up with it: her next message does not send the
    escalated question, as history, to the external API."""
    api = Backend.objects.filter(name="OpenAI business API")
    url = api.get().base_url
    api.update(base_url="http://127.0.0.1:9/v1")  # unreachable: nothing leaves
    conversation = services.start_conversation(owner=org.carol, category=org.internal)
    sent = _send(
        django_capture_on_commit_callbacks, conversation, org.carol, "Summarise this client file"
    )
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.FAILED
    assert org.external.requests == []
    api.update(base_url=url)
    # the external API is back: forget that it was unreachable
    streams.client().delete(f"steward:unreachable:{api.get().public_id}")
    streams._unreachable_read.clear()

    _client_files_go_to_category_3(org)
    with django_capture_on_commit_callbacks(execute=True):
        answer = services.retry_answer(answer=sent.answer, author=org.carol)
    answer.refresh_from_db()
    assert answer.backend_name == "Local Ollama"  # the retry itself went on premise

    conversation.refresh_from_db()
    org.external.requests.clear()
    _send(django_capture_on_commit_callbacks, conversation, org.carol, "Thanks, and now?")
    received = json.dumps([r.body for r in org.external.requests])
    assert conversation.category == org.confidential
    assert answer.category_number == 3
    assert "client file" not in received


def test_a_retry_blocked_by_todays_policy_is_recorded(org, django_capture_on_commit_callbacks):
    """A message the policy blocks is a chat.request event with outcome blocked (the attempt
    is logged); so is a retry the policy now blocks."""
    from audit.models import AuditEvent

    api = Backend.objects.filter(name="OpenAI business API")
    url = api.get().base_url
    api.update(base_url="http://127.0.0.1:9/v1")
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "About Project Zebra")
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.FAILED
    api.update(base_url=url)
    DetectionRule.objects.create(
        name="Zebra", reason="Project Zebra is secret", pattern="project zebra", action="block"
    )
    with pytest.raises(services.ChatError, match="Project Zebra is secret"):
        services.retry_answer(answer=sent.answer, author=org.alice)
    blocked = AuditEvent.objects.get(
        action=AuditEvent.Action.CHAT_REQUEST, outcome=AuditEvent.Outcome.BLOCKED
    )
    assert blocked.details["retry"] is True
    assert blocked.details["message"] == str(sent.message.public_id)
    assert blocked.details["reasons"] and "About" not in json.dumps(blocked.details)  # no text


def test_a_refused_message_keeps_what_was_typed_without_javascript(
    org, client, django_capture_on_commit_callbacks
):
    """Without htmx a refused send (here: an answer still on its way) shows the page again
    with the reason and the message box as it was typed."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):  # the answer stays on its way
        services.send_message(conversation=conversation, author=org.alice, text="First")
    client.force_login(org.alice)
    typed = "A long second message, typed with care: zebra-71"
    response = client.post(f"/chat/c/{conversation.public_id}/send/", {"text": typed})
    assert response.status_code == 422
    assert "An answer is still on its way" in response.text
    assert f">{typed}</textarea>" in response.text
    assert conversation.messages.count() == 2  # the refused one was not stored


def test_a_message_read_before_an_escalation_is_decided_in_the_category_it_joins(
    org, django_capture_on_commit_callbacks
):
    """Two requests: B reads the conversation (category 2), A's message escalates it to 3,
    then B sends. B is decided again in category 3 once it holds the lock, so it does not
    take the category-3 turn, as history, to the external API."""
    _client_files_go_to_category_3(org)
    conversation = services.start_conversation(owner=org.carol, category=org.internal)
    read_by_b = Conversation.objects.select_related("category").get(pk=conversation.pk)
    first = _send(
        django_capture_on_commit_callbacks,
        Conversation.objects.select_related("category").get(pk=conversation.pk),
        org.carol,
        "Summarise this client file for jane.roe@example.org",
    )
    assert str(first.decision.outcome) == "escalated" and org.external.requests == []
    second = _send(django_capture_on_commit_callbacks, read_by_b, org.carol, "Shorter, please?")
    assert second.answer.backend_name == "Local Ollama" and second.answer.category_number == 3
    assert org.external.requests == []


def test_a_retry_counts_as_activity_so_its_answer_is_not_purged_the_next_night(
    org, django_capture_on_commit_callbacks
):
    """Retention counts from a conversation's last activity: a retry in a conversation last
    used weeks ago left its new answer to that old date (purged at the next run)."""
    from datetime import timedelta

    from django.utils import timezone

    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):  # no worker: it is stopped below
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hi")
    Message.objects.filter(pk=sent.answer.pk).update(status=Message.Status.FAILED)
    weeks_ago = timezone.now() - timedelta(days=20)
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=weeks_ago)
    sent.answer.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        services.retry_answer(answer=sent.answer, author=org.alice)
    conversation.refresh_from_db()
    assert conversation.last_activity_at > timezone.now() - timedelta(minutes=1)
