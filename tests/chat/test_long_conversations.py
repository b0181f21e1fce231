"""A long conversation opens at its newest turns; the earlier ones come a page at a time."""

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
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
    _add_turns(conversation, 0, 75)
    return conversation


def _add_turns(conversation: Conversation, start: int, count: int) -> None:
    for number in range(start, start + count):
        for role, status, text in (
            (Message.Role.USER, Message.Status.SENT, f"Question {number}"),
            (Message.Role.ASSISTANT, Message.Status.DONE, f"Answer {number}"),
        ):
            message = Message(conversation=conversation, role=role, status=status)
            message.category_number = 2
            message.content = text
            message.save()


def _shown(response) -> list[str]:
    """The turns shown, in order (not a Copy button's name, which quotes its answer)."""
    return re.findall(r"(?<!“)(?:Question|Answer) \d+", response.content.decode())


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


def _earlier_href(response) -> str | None:
    """The address "Show earlier messages" opens without script."""
    found = re.search(r'href="([^"]*)"[^>]*>Show earlier messages<', response.content.decode())
    return found and found.group(1).replace("&amp;", "&")


def _newest_href(response) -> str | None:
    found = re.search(r'href="([^"]*)"[^>]*>Show newest messages<', response.content.decode())
    return found and found.group(1)


def test_it_pages_back_without_script(client, org, long_conversation):
    """The button is a link too: without htmx it opens the page of turns before the ones
    shown, a page at a time, with the message box and the way back to the newest."""
    client.force_login(org.alice)
    url = reverse("chat:conversation", args=[long_conversation.public_id])
    newest = client.get(url)
    oldest_shown = long_conversation.messages.get(public_id=_earlier_url(newest).split("=")[-1])
    assert _earlier_href(newest) == f"{url}?before={oldest_shown.public_id}"
    assert _newest_href(newest) is None  # it is the newest page

    earlier = client.get(_earlier_href(newest))
    assert earlier.status_code == 200 and b"<html" in earlier.content
    assert _shown(earlier) == [
        f"{kind} {n}" for n in range(15, 45) for kind in ("Question", "Answer")
    ]
    assert b'id="composer"' in earlier.content
    assert _newest_href(earlier) == url
    oldest = client.get(_earlier_href(earlier))
    assert _shown(oldest)[0] == "Question 0" and _shown(oldest)[-1] == "Answer 14"
    assert _earlier_href(oldest) is None and _newest_href(oldest) == url


def test_an_earlier_page_sends_from_its_message_box_to_the_newest_page(
    client, org, long_conversation
):
    """Sent from an earlier page, the new turns would come in below turns from before:
    the box posts as a plain form, and the send opens the newest page."""
    client.force_login(org.alice)
    url = reverse("chat:conversation", args=[long_conversation.public_id])
    first = long_conversation.messages.order_by("created_at", "id")[3]
    earlier = client.get(url, {"before": str(first.public_id)}).content.decode()
    composer = re.search(r"<form id=\"composer\"[^>]*>", earlier).group(0)
    assert "hx-post" not in composer and "data-send-live" not in composer
    assert f'action="{reverse("chat:send", args=[long_conversation.public_id])}"' in composer
    newest = re.search(r"<form id=\"composer\"[^>]*>", client.get(url).content.decode())
    assert "hx-post" in newest.group(0) and "data-send-live" in newest.group(0)


def test_the_page_before_the_first_turn_is_empty_and_offers_the_newest(
    client, org, long_conversation
):
    client.force_login(org.alice)
    url = reverse("chat:conversation", args=[long_conversation.public_id])
    first = long_conversation.messages.order_by("created_at", "id").first()
    page = client.get(url, {"before": str(first.public_id)})
    assert page.status_code == 200 and _shown(page) == []
    assert b"Ask anything" not in page.content  # it is not a new conversation
    assert _earlier_href(page) is None and _newest_href(page) == url


def test_a_bookmarked_every_turn_address_opens_the_newest_page(client, org, long_conversation):
    """``?all=1`` rendered every turn (2.4 MB at 1,500 messages); it is the newest page now."""
    client.force_login(org.alice)
    url = reverse("chat:conversation", args=[long_conversation.public_id])
    whole = client.get(url, {"all": "1"})
    assert whole.status_code == 200
    assert _shown(whole) == _shown(client.get(url)) and len(_shown(whole)) == PAGE
    assert "?all=1" not in whole.content.decode()


@pytest.mark.parametrize(
    "before", ["junk", str(uuid.uuid4()), "another conversation's", "someone else's"]
)
def test_an_earlier_page_is_only_of_the_authors_own_conversation(
    client, org, long_conversation, before
):
    """As for the earlier turns fetched by htmx: a turn not of this conversation is not found."""
    other = Conversation(owner=org.alice, category=org.internal)
    other.init_key()
    other.save()
    theirs = Conversation(owner=org.carol, category=org.internal)
    theirs.init_key()
    theirs.save()
    elsewhere = {}
    for name, conversation in (("another conversation's", other), ("someone else's", theirs)):
        message = Message(conversation=conversation, role=Message.Role.USER)
        message.status = Message.Status.SENT
        message.category_number = 2
        message.content = "Elsewhere"
        message.save()
        elsewhere[name] = str(message.public_id)
    client.force_login(org.alice)
    url = reverse("chat:conversation", args=[long_conversation.public_id])
    response = client.get(url, {"before": elsewhere.get(before, before)})
    assert response.status_code == 404
    assert b"Elsewhere" not in response.content and b"Answer" not in response.content


@pytest.mark.parametrize("view", ["chat:conversation", "chat:earlier"])
def test_someone_else_gets_404_for_an_earlier_page(client, org, long_conversation, view):
    newest = long_conversation.messages.order_by("-id").first()
    client.force_login(org.carol)
    url = reverse(view, args=[long_conversation.public_id])
    response = client.get(url, {"before": str(newest.public_id)})
    assert response.status_code == 404
    assert b"Answer" not in response.content


def _queries(client, url: str, params: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    return len(queries)


def test_the_query_count_of_a_page_does_not_grow_with_the_conversation(
    client, org, long_conversation
):
    client.force_login(org.alice)
    url = reverse("chat:conversation", args=[long_conversation.public_id])
    ordered = long_conversation.messages.order_by("created_at", "id")
    before = str(ordered[PAGE + 10].public_id)
    client.get(url)  # the first request of a session does more (the session, the roles)
    counts = [_queries(client, url, {}), _queries(client, url, {"before": before})]
    _add_turns(long_conversation, 75, 100)  # 350 messages instead of 150
    later = str(ordered[2 * PAGE + 200].public_id)
    assert [_queries(client, url, {}), _queries(client, url, {"before": later})] == counts
    assert _queries(client, url, {"before": before}) == counts[1]


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
        (first_off_page, f"{url}?before={newest[PAGE - 1].public_id}"),
    ):
        response = _stop_without_script(client, answer)
        assert response.status_code == 302
        assert response["Location"] == f"{expected}#turn-{answer.public_id}"
    assert f"turn-{last_on_page.public_id}" in client.get(url).content.decode()
    assert f"turn-{first_off_page.public_id}" not in client.get(url).content.decode()


def test_a_turn_off_the_newest_page_is_shown_on_a_page_of_its_own_without_script(
    client, org, long_conversation
):
    """A turn further back comes back on the page that ends with it, not with every turn."""
    client.force_login(org.alice)
    url = reverse("chat:conversation", args=[long_conversation.public_id])
    newest = list(long_conversation.messages.order_by("-created_at", "-id"))
    # Newest first: answer, question, answer…; "Answer 0" is the last but one.
    for answer, turns_on_page in ((newest[PAGE], PAGE), (newest[80], PAGE), (newest[-2], 2)):
        response = _stop_without_script(client, answer)
        location = response["Location"]
        assert location.startswith(f"{url}?before=")
        assert location.endswith(f"#turn-{answer.public_id}")
        page = client.get(location.partition("#")[0])
        assert page.status_code == 200
        turns = re.findall(r'<li id="turn-([0-9a-f-]+)"', page.content.decode())
        assert turns[-1] == str(answer.public_id) and len(turns) == turns_on_page
    assert _shown(page) == ["Question 0", "Answer 0"] and _earlier_href(page) is None


def test_the_query_count_of_a_turns_way_back_does_not_grow_with_the_conversation(
    client, org, long_conversation
):
    client.force_login(org.alice)
    oldest_answer = long_conversation.messages.order_by("created_at", "id")[1]
    _stop_without_script(client, oldest_answer)
    Message.objects.filter(pk=oldest_answer.pk).update(status=Message.Status.STREAMING)
    with CaptureQueriesContext(connection) as few:
        client.post(reverse("chat:stop", args=[oldest_answer.public_id]))
    _add_turns(long_conversation, 75, 100)
    Message.objects.filter(pk=oldest_answer.pk).update(status=Message.Status.STREAMING)
    with CaptureQueriesContext(connection) as many:
        client.post(reverse("chat:stop", args=[oldest_answer.public_id]))
    assert len(many) == len(few)
