"""A placeholder the model made up stands for nothing, and stays so.

A model asked to draft a letter may write "[EMAIL_1]" where an address should go, before
the conversation gave that name to any value. The next address the author typed took
"[EMAIL_1]", and the old answer then read as if the model had written that real address
(on the page, in exports and access copies). Once an answer is stored, the placeholders it
made up are kept as literals: no value is ever given their names, and they read as written.
"""

from chat import services
from chat.models import Conversation, Message
from chat.pseudonyms import MAX_INVENTED_KEPT, Pseudonymiser
from chat.turns import turns_for

EMAIL = "bob.stone@client.example"


def _turns(conversation):
    conversation = Conversation.objects.get(pk=conversation.pk)
    return turns_for(conversation, conversation.messages.order_by("created_at", "pk"))


def _send(capture, conversation, author, text):
    with capture(execute=True):
        services.send_message(conversation=conversation, author=author, text=text)


def test_a_placeholder_the_model_made_up_is_never_given_to_a_later_value(
    org, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    conversation = services.start_conversation(owner=org.carol, category=org.internal)
    org.external.reply = ["Dear colleague, ", "write to [EMAIL_1] or [PHONE_2]."]
    _send(capture, conversation, org.carol, "Draft a short note asking for their address.")
    org.external.reply = ["Noted."]
    _send(capture, conversation, org.carol, f"Their address is {EMAIL}.")

    sent = str(org.external.last.body["messages"][-1])
    assert EMAIL not in sent and "[EMAIL_1]" not in sent and "[EMAIL_2]" in sent
    conversation = Conversation.objects.get(pk=conversation.pk)
    assert Pseudonymiser(conversation.pseudonyms()).values() == {"[EMAIL_2]": EMAIL}
    first_answer = _turns(conversation)[1]
    assert first_answer.message.role == Message.Role.ASSISTANT
    assert "write to [EMAIL_1] or [PHONE_2]." in first_answer.text
    assert EMAIL not in first_answer.text and EMAIL not in str(first_answer.html)


def test_placeholders_the_conversation_gave_are_left_as_they_are(
    org, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    conversation = services.start_conversation(owner=org.carol, category=org.internal)
    org.external.reply = ["I will write to [EMAIL_1]."]
    _send(capture, conversation, org.carol, f"Write to {EMAIL}.")
    mapping = Conversation.objects.get(pk=conversation.pk).pseudonyms()
    assert mapping["values"] == {"[EMAIL_1]": EMAIL}
    assert not [key for key in mapping["keys"] if key.startswith("literal:")]
    assert _turns(conversation)[1].text == f"I will write to {EMAIL}."


def test_the_pseudonymiser_keeps_made_up_names_and_ignores_the_others():
    pseudonymiser = Pseudonymiser()
    pseudonymiser.apply(f"Write to {EMAIL}", [_email_span(f"Write to {EMAIL}")])
    assert pseudonymiser.keep_invented("To [EMAIL_1], [EMAIL_3], [FOO_1] and [EMAIL_3].")
    assert not pseudonymiser.keep_invented("To [EMAIL_1] and [EMAIL_3].")  # nothing new
    sent, _ = pseudonymiser.apply("x@client.example", [_email_span("x@client.example")])
    assert sent == "[EMAIL_2]"
    sent, _ = pseudonymiser.apply("y@client.example", [_email_span("y@client.example")])
    assert sent == "[EMAIL_4]"  # past the made-up [EMAIL_3]
    assert pseudonymiser.restore("[EMAIL_3] and [FOO_1]") == "[EMAIL_3] and [FOO_1]"


def test_an_answer_of_thousands_of_made_up_placeholders_keeps_a_few():
    pseudonymiser = Pseudonymiser()
    assert pseudonymiser.keep_invented(" ".join(f"[EMAIL_{n}]" for n in range(1, 5001)))
    kept = [key for key in pseudonymiser.mapping["keys"] if key.startswith("literal:")]
    assert len(kept) == MAX_INVENTED_KEPT


def _email_span(text: str):
    from governance.policy import Span

    start = text.index(next(word for word in text.split() if "@" in word))
    return Span(start, len(text), "EMAIL_ADDRESS")
