"""Placeholders the author typed themselves ("the template says [EMAIL_1]") are theirs.

Such a literal is never given to a value: it goes to the backend as written while its
name is free, and what the model writes back of it comes back as the literal, never as
a real value. A literal whose name the conversation already gave to a value goes under
a name of its own, which is put back as the literal. Nothing real is ever sent.
"""

import json
import re

import openai
import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from api.relay import Restorer
from api.services import create_token
from chat import services
from chat.markdown import GrowingAnswer
from chat.models import Conversation, Message
from chat.pseudonyms import Pseudonymiser
from chat.turns import turns_for
from governance.policy import Span
from tests.api.conftest import _no_persistent_connections  # noqa: F401  (a fixture)

EMAIL = "jane.roe@client.example"
OTHER = "john.doe@client.example"
TEMPLATE = f"The template says [EMAIL_1]; the real one is {EMAIL}"


def _email_spans(text: str) -> list[Span]:
    return [
        Span(m.start(), m.end(), "EMAIL_ADDRESS")
        for m in re.finditer(r"\S+@\S+\.example", text, re.I)
    ]


def _send_turn(pseudonymiser: Pseudonymiser, text: str) -> str:
    sent, _ = pseudonymiser.apply(text, _email_spans(text))
    return sent


def _stored(pseudonymiser: Pseudonymiser) -> Pseudonymiser:
    """The next turn's pseudonymiser, from the mapping as it is sealed (JSON) between turns."""
    return Pseudonymiser(json.loads(json.dumps(pseudonymiser.mapping)))


# --- the pseudonymiser ----------------------------------------------------------------------


def test_it_sends_a_literal_as_written_and_numbers_the_values_past_it():
    pseudonymiser = Pseudonymiser()
    sent, replaced = pseudonymiser.apply(TEMPLATE, _email_spans(TEMPLATE))
    assert sent == "The template says [EMAIL_1]; the real one is [EMAIL_2]"
    assert replaced == {"EMAIL_ADDRESS": 1}  # the literal is not something replaced
    assert pseudonymiser.values() == {"[EMAIL_2]": EMAIL}


def test_a_literal_after_the_value_keeps_its_name_too():
    text = f"Write to {EMAIL}, not to [EMAIL_1] as the template says"
    assert _send_turn(Pseudonymiser(), text) == (
        "Write to [EMAIL_2], not to [EMAIL_1] as the template says"
    )


def test_the_models_literal_comes_back_as_the_literal():
    pseudonymiser = Pseudonymiser()
    _send_turn(pseudonymiser, TEMPLATE)
    assert pseudonymiser.restore("You wrote [EMAIL_1] and [EMAIL_2]") == (
        f"You wrote [EMAIL_1] and {EMAIL}"
    )


def test_a_later_turn_keeps_every_name_and_numbers_new_values_past_the_literal():
    first = Pseudonymiser()
    _send_turn(first, TEMPLATE)
    second = _stored(first)
    assert (
        _send_turn(second, f"Again [EMAIL_1] and {EMAIL.upper()}")
        == "Again [EMAIL_1] and [EMAIL_2]"
    )
    assert not second.changed
    assert _send_turn(second, f"And {OTHER}") == "And [EMAIL_3]"
    assert second.restore("[EMAIL_1], [EMAIL_2], [EMAIL_3]") == f"[EMAIL_1], {EMAIL}, {OTHER}"


def test_a_literal_typed_after_its_name_went_to_a_value_goes_under_a_name_of_its_own():
    """The ambiguous case: [EMAIL_1] already stands for a real address, and the author now
    types "[EMAIL_1]" themselves (a pasted template). The model gets another name for the
    literal, and that name comes back as the literal; the model's [EMAIL_1] is still the
    address it was given."""
    first = Pseudonymiser()
    assert _send_turn(first, f"Mail {EMAIL}") == "Mail [EMAIL_1]"
    second = _stored(first)
    sent = _send_turn(second, "Fill in [EMAIL_1] in the template")
    assert sent == "Fill in [EMAIL_2] in the template"
    assert second.changed  # the literal's name is kept for the turns to come
    assert second.restore("[EMAIL_2] is not [EMAIL_1]") == f"[EMAIL_1] is not {EMAIL}"
    third = _stored(second)
    assert _send_turn(third, f"[EMAIL_1] again, {OTHER}") == "[EMAIL_2] again, [EMAIL_3]"


def test_a_literal_of_the_name_given_to_a_literal_gets_its_own_name_too():
    first = Pseudonymiser()
    _send_turn(first, f"Mail {EMAIL}")
    _send_turn(first, "Fill in [EMAIL_1]")  # sent as [EMAIL_2]
    assert _send_turn(first, "and [EMAIL_2]") == "and [EMAIL_3]"
    assert first.restore("[EMAIL_1] [EMAIL_2] [EMAIL_3]") == f"{EMAIL} [EMAIL_1] [EMAIL_2]"


def test_bracketed_words_steward_never_uses_as_placeholders_are_left_alone():
    pseudonymiser = Pseudonymiser()
    assert _send_turn(pseudonymiser, "Do [STEP_1] then [TODO_2]") == "Do [STEP_1] then [TODO_2]"
    assert not pseudonymiser.changed


def test_a_literal_inside_a_replaced_value_is_not_kept_apart():
    text = "key sk-[SECRET_1]-abc"
    pseudonymiser = Pseudonymiser()
    sent, _ = pseudonymiser.apply(text, [Span(4, len(text), "SECRET")])
    assert sent == "key [SECRET_1]"
    assert pseudonymiser.restore(sent) == text


def test_the_streaming_restores_give_the_literal_back_across_chunks():
    pseudonymiser = Pseudonymiser()
    _send_turn(pseudonymiser, TEMPLATE)
    restorer = Restorer(pseudonymiser)  # the API's
    pieces = ["You wrote [EMA", "IL_1] and [EMAIL_", "2]", " today."]
    streamed = "".join(restorer.feed(piece) for piece in pieces) + restorer.flush()
    assert streamed == f"You wrote [EMAIL_1] and {EMAIL} today."
    growing = GrowingAnswer(pseudonymiser.values())  # the chat page's
    so_far = ""
    for piece in pieces:
        so_far += piece
        html = growing.html(so_far)
    assert "You wrote [EMAIL_1] and " in html and EMAIL in html
    assert html.count(EMAIL) == 1


# --- through the chat service, against the fake backend ---------------------------------------


def _send(django_capture_on_commit_callbacks, conversation, author, text):
    with django_capture_on_commit_callbacks(execute=True):
        return services.send_message(conversation=conversation, author=author, text=text)


def _received(fake) -> str:
    return json.dumps([r.body for r in fake.requests], ensure_ascii=False)


def _restored(value: str, placeholder: str) -> str:
    title = f"Your value, put back by Steward: the model saw {placeholder}"
    return f'<span class="restored" title="{title}">{value}</span>'


def _streamed_html(client, answer) -> str:
    """The last ``chunk`` event's HTML of the chat page's stream of ``answer``."""
    response = client.get(reverse("chat:stream", args=[answer.public_id]))

    async def consume():
        return [part async for part in response.streaming_content]

    body = b"".join(async_to_sync(consume)()).decode()
    chunks = [block for block in body.split("\n\n") if block.startswith("event: chunk")]
    return "\n".join(
        line.removeprefix("data: ") for line in chunks[-1].split("\n") if line.startswith("data: ")
    )


def test_the_chat_sends_the_literal_and_gives_it_back_as_the_literal(
    org, client, django_capture_on_commit_callbacks
):
    org.external.reply = ["You wrote [EMA", "IL_1] and [EMAIL_", "2]."]
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, TEMPLATE)
    assert EMAIL not in _received(org.external)
    user = org.external.last.body["messages"][-1]
    assert user["content"] == "The template says [EMAIL_1]; the real one is [EMAIL_2]"
    conversation = Conversation.objects.get(pk=conversation.pk)
    question, answer = turns_for(conversation, conversation.messages.all())
    assert question.text == TEMPLATE
    assert answer.text == f"You wrote [EMAIL_1] and {EMAIL}."
    assert f"You wrote [EMAIL_1] and {_restored(EMAIL, '[EMAIL_2]')}." in answer.html
    client.force_login(org.alice)
    streamed = _streamed_html(client, sent.answer)
    assert f"You wrote [EMAIL_1] and {_restored(EMAIL, '[EMAIL_2]')}." in streamed


def test_the_chat_gives_a_later_turns_literal_back_where_its_name_meant_a_value(
    org, django_capture_on_commit_callbacks
):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    _send(django_capture_on_commit_callbacks, conversation, org.alice, f"Reply to {EMAIL}")
    org.external.reply = ["Put [EMAIL_2] in the template; ", "[EMAIL_1] gets it."]
    _send(
        django_capture_on_commit_callbacks,
        conversation,
        org.alice,
        "Our template has [EMAIL_1] in it: what goes there?",
    )
    received = _received(org.external)
    assert EMAIL not in received
    turns = org.external.last.body["messages"]
    assert turns[1]["content"] == "Reply to [EMAIL_1]"
    assert turns[-1]["content"] == "Our template has [EMAIL_2] in it: what goes there?"
    conversation = Conversation.objects.get(pk=conversation.pk)
    *_, question, answer = turns_for(conversation, conversation.messages.all())
    assert question.text == "Our template has [EMAIL_1] in it: what goes there?"
    assert answer.text == f"Put [EMAIL_1] in the template; {EMAIL} gets it."
    # Stored with the conversation: a later turn finds both names as they were.
    _send(django_capture_on_commit_callbacks, conversation, org.alice, f"[EMAIL_1] or {EMAIL}?")
    assert org.external.last.body["messages"][-1]["content"] == "[EMAIL_2] or [EMAIL_1]?"


def test_a_retry_sends_the_literal_under_the_same_name(org, django_capture_on_commit_callbacks):
    org.external.fail = 400
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, TEMPLATE)
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.FAILED
    org.external.fail = None
    org.external.reply = ["You wrote [EMAIL_1] and [EMAIL_2]"]
    with django_capture_on_commit_callbacks(execute=True):
        services.retry_answer(answer=sent.answer, author=org.alice)
    first, again = (r.body["messages"][-1]["content"] for r in org.external.requests)
    assert first == again == "The template says [EMAIL_1]; the real one is [EMAIL_2]"
    conversation = Conversation.objects.get(pk=conversation.pk)
    _, answer = turns_for(conversation, conversation.messages.all())
    assert answer.text == f"You wrote [EMAIL_1] and {EMAIL}"


def test_ordinary_placeholders_still_restore_beside_a_literal(
    org, django_capture_on_commit_callbacks
):
    org.external.reply = ["Writing to [EMAIL_2] and [EMAIL_3], not [EMAIL_1]."]
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    _send(
        django_capture_on_commit_callbacks,
        conversation,
        org.alice,
        f"Replace [EMAIL_1] with {EMAIL} and {OTHER}",
    )
    assert EMAIL not in _received(org.external) and OTHER not in _received(org.external)
    conversation = Conversation.objects.get(pk=conversation.pk)
    _, answer = turns_for(conversation, conversation.messages.all())
    assert answer.text == f"Writing to {EMAIL} and {OTHER}, not [EMAIL_1]."


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")
def test_the_api_gives_the_literal_back_too(org, live_server):
    _, secret = create_token(user=org.alice, name="tests", expires_in_days=None, actor=org.alice)
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=secret, max_retries=0)
    org.external.reply = ["You wrote [EMA", "IL_1] and [EMAIL_", "2]"]
    for stream in (False, True):
        reply = client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": TEMPLATE}],
            extra_headers={"X-Steward-Category": "internal"},
            stream=stream,
        )
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
        else:
            text = reply.choices[0].message.content
        assert text == f"You wrote [EMAIL_1] and {EMAIL}"
    assert EMAIL not in _received(org.external)
