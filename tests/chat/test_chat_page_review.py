"""The chat page as a busy employee uses it: what the message box keeps, what it says.

Findings of a review of the page in a browser; each test failed before its fix.
"""

import html
import re

import pytest
from django.urls import reverse

from chat.services import ChatError, clean_text
from tests.asked_here import asked
from tests.chat.test_views import HTMX, thread  # noqa: F401  (a fixture)


def _page(client, thread) -> str:  # noqa: F811
    client.force_login(thread.org.alice)
    url = reverse("chat:conversation", args=[thread.conversation.public_id])
    return client.get(url).content.decode()


def test_the_message_box_does_not_cut_a_long_paste_short(client, thread):  # noqa: F811
    """A ``maxlength`` made the browser drop whatever a paste held past 32,000 characters,
    without a word: the model was then asked about half a document. The box takes it
    all; the preview says it is too long, and the send refuses it keeping the text."""
    page = _page(client, thread)
    box = re.search(r"<textarea id=\"composer-text\"[^>]*>", page).group(0)
    assert "maxlength" not in box


def _filled_as_the_page_fills_it(box: str, count: int) -> str:
    """The box's own refusal of ``count`` characters, as chat.js writes it: its numbers with
    thousands separators (``toLocaleString("en-US")``)."""
    limit = int(re.search(r'data-max-chars="(\d+)"', box).group(1))
    refusal = html.unescape(re.search(r'data-too-long="([^"]*)"', box).group(1))
    return refusal.replace("{count}", f"{count:,}").replace("{limit}", f"{limit:,}")


def test_the_message_box_refuses_a_long_paste_in_the_words_of_the_send(client, thread):  # noqa: F811
    """The box says a paste is too long before it is posted: in the sentence the send refuses
    it with, written once on the server (the page had its own copy of it)."""
    box = re.search(r"<textarea id=\"composer-text\"[^>]*>", _page(client, thread)).group(0)
    text = "x" * 2_621_447
    with pytest.raises(ChatError) as refused:
        clean_text(text)
    assert _filled_as_the_page_fills_it(box, len(text)) == str(refused.value)
    assert "{count}" not in str(refused.value)

    # The box the refused send puts back says it too.
    url = reverse("chat:send", args=[thread.conversation.public_id])
    again = client.post(url, {"text": text[:40_000]}, **HTMX).content.decode()
    box = re.search(r"<textarea id=\"composer-text\"[^>]*>", again).group(0)
    assert _filled_as_the_page_fills_it(box, 40_000) in again


def test_the_preview_says_a_message_is_too_long_to_send(client, thread):  # noqa: F811
    client.force_login(thread.org.alice)
    url = reverse("chat:preview", args=[thread.conversation.public_id])
    page = client.post(url, {"text": "x" * 32_001}, **HTMX).content.decode()
    assert page.lstrip().startswith('<div id="preview"')
    assert "Too long to send" in page
    assert "32,001 characters; the limit is 32,000" in page
    assert "Nothing recognised to replace" not in page  # not checked: it could not go as it is
    # The browser sends a line end as CRLF; it counts as one character, as the send counts.
    page = client.post(url, {"text": "x\r\n" * 10_000 + "x"}, **HTMX).content.decode()
    assert "Too long" not in page


def test_a_keyboard_user_can_skip_the_conversation_list_to_the_message_box(
    client,
    thread,  # noqa: F811
):
    """The side list (up to 200 conversations) stood between the page's top and the box."""
    page = _page(client, thread)
    skip = page.index('href="#composer-text"')
    assert skip < page.index('id="side-list"')
    assert "Skip to the message box" in page


def test_new_conversation_leads_straight_to_the_category_picker(client, thread):  # noqa: F811
    """On a phone the picker comes after the whole list of conversations (up to 200):
    "+ New conversation" left the author at the list's top, to scroll past all of it."""
    page = _page(client, thread)
    assert f'href="{reverse("chat:home")}#start"' in page
    assert "+ New conversation" in page
    home = client.get(reverse("chat:home")).content.decode()
    assert '<section id="start" class="card" aria-labelledby="start-heading">' in home


def test_the_json_export_says_what_it_is_to_a_screen_reader(client, thread):  # noqa: F811
    """Its link was read out as "JSON" alone, in a list of the page's links."""
    page = _page(client, thread)
    url = asked(client, reverse("chat:export", args=[thread.conversation.public_id, "json"]))
    link = re.search(rf'<a [^>]*href="{re.escape(url)}"[^>]*>(.*?)</a>', page).group(1)
    assert re.sub(r"<[^>]+>", "", link) == "Export as JSON"
    assert '<span class="visually-hidden">Export as </span>JSON' in link
