"""A long conversation opens at its newest turns; the earlier ones come a page at a time."""

import re
import uuid

import pytest
from django.urls import reverse

from chat import views
from chat.models import Conversation, Message

PAGE = views.TURNS_PER_PAGE


@pytest.fixture
def long_conversation(org):
    """Alice's conversation of 75 questions and their answers ("Question 0" is the oldest)."""
    conversation = Conversation(owner=org.alice, category=org.internal)
    conversation.init_key()
    conversation.title = "Budget planning"
    conversation.save()
    for number in range(75):
        for role, status, text in (
            (Message.Role.USER, Message.Status.SENT, f"Question {number}"),
            (Message.Role.ASSISTANT, Message.Status.DONE, f"Answer {number}"),
        ):
            message = Message(conversation=conversation, role=role, status=status)
            message.category_number = 2
            message.content = text
            message.save()
    return conversation


def _shown(response) -> list[str]:
    return re.findall(r"(?:Question|Answer) \d+", response.content.decode())


def _earlier_url(response) -> str | None:
    found = re.search(r'hx-get="([^"]*/earlier/\?before=[^"]*)"', response.content.decode())
    return found and found.group(1).replace("&amp;", "&")


def test_it_opens_at_the_newest_turns_and_offers_the_earlier_ones(client, org, long_conversation):
    client.force_login(org.alice)
    page = client.get(reverse("chat:conversation", args=[long_conversation.public_id]))
    shown = _shown(page)
    assert len(shown) == PAGE and shown[-1] == "Answer 74" and shown[0] == "Question 45"
    assert b"Show earlier messages" in page.content

    earlier = client.get(_earlier_url(page), HTTP_HX_REQUEST="true")
    assert earlier.status_code == 200 and b"<html" not in earlier.content
    assert _shown(earlier) == [
        f"{kind} {n}" for n in range(15, 45) for kind in ("Question", "Answer")
    ]
    oldest = client.get(_earlier_url(earlier), HTTP_HX_REQUEST="true")
    assert _shown(oldest)[0] == "Question 0" and _shown(oldest)[-1] == "Answer 14"
    assert _earlier_url(oldest) is None  # nothing before the first question


def test_every_turn_shows_on_asking_and_without_script(client, org, long_conversation):
    """The button is a link too: without htmx it opens the whole conversation."""
    client.force_login(org.alice)
    url = reverse("chat:conversation", args=[long_conversation.public_id])
    page = client.get(url)
    assert f'href="{url}?all=1#turn-' in page.content.decode()
    whole = client.get(url, {"all": "1"})
    assert len(_shown(whole)) == 150 and b"Show earlier messages" not in whole.content


def test_a_short_conversation_offers_nothing_earlier(client, org, long_conversation):
    Message.objects.filter(conversation=long_conversation).exclude(
        pk__in=Message.objects.filter(conversation=long_conversation).order_by("-id")[:PAGE]
    ).delete()
    client.force_login(org.alice)
    page = client.get(reverse("chat:conversation", args=[long_conversation.public_id]))
    assert len(_shown(page)) == PAGE and b"Show earlier messages" not in page.content


@pytest.mark.parametrize("before", ["junk", str(uuid.uuid4()), "another conversation's"])
def test_earlier_turns_are_only_of_the_authors_own_conversation(
    client, org, long_conversation, before
):
    other = Conversation(owner=org.alice, category=org.internal)
    other.init_key()
    other.save()
    elsewhere = Message(conversation=other, role=Message.Role.USER, status=Message.Status.SENT)
    elsewhere.category_number = 2
    elsewhere.content = "Elsewhere"
    elsewhere.save()
    if before == "another conversation's":
        before = str(elsewhere.public_id)
    client.force_login(org.alice)
    url = reverse("chat:earlier", args=[long_conversation.public_id])
    assert client.get(url, {"before": before}).status_code == 404


def test_someone_else_gets_404_for_a_conversations_earlier_turns(client, org, long_conversation):
    newest = long_conversation.messages.order_by("-id").first()
    client.force_login(org.carol)
    url = reverse("chat:earlier", args=[long_conversation.public_id])
    response = client.get(url, {"before": str(newest.public_id)})
    assert response.status_code == 404
    assert b"Answer" not in response.content


def _stop_without_script(client, answer: Message):
    """Stop ``answer`` as if it were streaming (a worker would end it; here it ends done)."""
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.STREAMING)
    try:
        return client.post(reverse("chat:stop", args=[answer.public_id]))
    finally:
        Message.objects.filter(pk=answer.pk).update(status=Message.Status.DONE)


def test_a_turn_on_the_newest_page_is_shown_on_it_without_script(client, org, long_conversation):
    """Stop or Retry without script comes back to the turn: on the page the conversation
    opens with when the turn is on it (the usual case: the newest answer), not every turn."""
    newest = long_conversation.messages.order_by("-created_at", "-id")
    client.force_login(org.alice)
    url = reverse("chat:conversation", args=[long_conversation.public_id])
    # Newest first: answer, question, answer…; the page's oldest turn is a question.
    last_on_page, first_off_page = newest[PAGE - 2], newest[PAGE]
    for answer, expected in (
        (newest[0], url),
        (last_on_page, url),
        (first_off_page, f"{url}?all=1"),
    ):
        response = _stop_without_script(client, answer)
        assert response.status_code == 302
        assert response["Location"] == f"{expected}#turn-{answer.public_id}"
    assert f"turn-{last_on_page.public_id}" in client.get(url).content.decode()
    assert f"turn-{first_off_page.public_id}" not in client.get(url).content.decode()
