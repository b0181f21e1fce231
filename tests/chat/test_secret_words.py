"""What the chat says once a key was pasted, what an export says happened, and where an
automatic title stops.

A review found a pasted key previewed as "Will be pseudonymised" and kept in the
conversation, with nothing telling its owner to rotate it; a Markdown export reading
"Blocked, not sent: Blocked: Health information…"; a JSON export still saying what "will
be replaced" long after it was; and titles cut inside a placeholder ("ring [phon…").
"""

import json

from django.urls import reverse

from chat import services
from chat.services.steps import TITLE_CHARS, title_from
from governance.policy import reason_once_sent
from tests.asked_here import asked

KEY_PASTED = "Why does this fail? api_key = sk-proj-AbCdEf0123456789GhIjKl0123456789MnOp"
ROTATE = "Rotate this key: it has been pasted and is kept in this conversation."
HEALTH = "Bob was diagnosed with flu, can you draft a note?"


def _sent(org, text: str):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    services.send_message(conversation=conversation, author=org.alice, text=text)
    return conversation


def _page(client, org, conversation) -> str:
    client.force_login(org.alice)
    url = reverse("chat:conversation", args=[conversation.public_id])
    return client.get(url).content.decode()


def _export(client, org, conversation, fmt: str) -> str:
    client.force_login(org.alice)
    url = reverse("chat:export", args=[conversation.public_id, fmt])
    return client.get(asked(client, url)).content.decode()


def test_the_preview_of_a_pasted_key_says_to_rotate_it(client, org):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    client.force_login(org.alice)
    url = reverse("chat:preview", args=[conversation.public_id])
    page = client.post(url, {"text": KEY_PASTED}).content.decode()
    assert "Some details will be replaced" in page
    assert ROTATE in page
    page = client.post(url, {"text": "Mail jane.roe@example.org"}).content.decode()
    assert "Some details will be replaced" in page and "Rotate this key" not in page


def test_a_sent_message_with_a_key_says_to_rotate_it(client, org):
    page = _page(client, org, _sent(org, KEY_PASTED))
    assert "1 secret or credential replaced" in page
    assert ROTATE in page
    assert "Rotate this key" not in _page(client, org, _sent(org, "Mail jane.roe@example.org"))


def test_a_json_export_says_what_was_replaced_not_what_will_be(client, org):
    exported = json.loads(_export(client, org, _sent(org, KEY_PASTED), "json"))
    (reason,) = exported["messages"][0]["reasons"]
    assert reason.startswith("1 secret or credential was replaced before sending to ")
    assert "will be" not in reason


def test_a_markdown_export_says_blocked_once(client, org):
    text = _export(client, org, _sent(org, HEALTH), "md")
    assert "*Blocked, not sent:* Health information is sensitive personal data" in text
    assert "Blocked: " not in text


def test_a_recorded_reason_reads_in_the_past_with_its_number():
    assert reason_once_sent("2 email addresses will be replaced before sending to X.") == (
        "2 email addresses were replaced before sending to X."
    )
    assert reason_once_sent("1 IBAN, 1 link will be replaced before sending to X.") == (
        "1 IBAN, 1 link were replaced before sending to X."
    )
    assert reason_once_sent("1 match of rule “A, B” will be replaced: Codes stay in.") == (
        "1 match of rule “A, B” was replaced: Codes stay in."
    )
    blocked = "Blocked: a memo will be replaced (rule “Memo”)."
    assert reason_once_sent(blocked) == blocked


def test_an_automatic_title_stops_between_words_and_outside_placeholders():
    lead = "Please write to the client about the meeting on Friday morning, and ring "
    title = title_from(lead + "[phone number] tomorrow before noon")
    assert title == lead.rstrip() + "…"
    title = title_from(lead + "them tomorrow morning before the others arrive")
    assert title.endswith(", and ring them…") and len(title) <= TITLE_CHARS
    assert title_from("Short [email address] title") == "Short [email address] title"
    assert title_from("x" * 100) == "x" * (TITLE_CHARS - 1) + "…"  # no word to stop at
