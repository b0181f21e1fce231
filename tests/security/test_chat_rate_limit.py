"""The chat's sends and retries count against a per-person limit a minute, as the API's
requests do: a script holding someone's session cookie cannot call the models (paid ones
included) as often as it likes."""

import time

import pytest

from api import ratelimit
from chat import streams
from chat.models import Conversation, Message
from governance.models import Category
from governance.roles import Role
from tests.factories import make_category, make_user

TOO_FAST = "You are sending messages faster than Steward takes them from one person"


@pytest.fixture
def staff(db, redis_server, settings):
    """A staff member with a limit of two a minute, its count empty, and the requests that
    follow all in the same minute of the clock (the window the limit counts in)."""
    settings.STEWARD_API_REQUESTS_PER_MINUTE = 2
    person = _fresh(make_user("alice@example.com", Role.STAFF))
    make_category()
    while time.time() % ratelimit.WINDOW_SECONDS > ratelimit.WINDOW_SECONDS - 10:
        time.sleep(0.5)
    return person


@pytest.fixture
def reached(monkeypatch):
    """What reaches the chat's services (each refused there: only the count matters)."""
    calls = []

    def refuse(**kwargs):
        from chat.services import ChatError

        calls.append(kwargs)
        raise ChatError("Refused by the test.")

    monkeypatch.setattr("chat.services.send_message", refuse)
    monkeypatch.setattr("chat.services.retry_answer", refuse)
    return calls


def _fresh(person):
    """``person``, with no count left by a user of an earlier run who had the same id."""
    redis = streams.client()
    for key in redis.scan_iter(f"steward:ratelimit:chat:{person.pk}:*"):
        redis.delete(key)
    return person


def _conversation(owner) -> Conversation:
    conversation = Conversation(owner=owner, category=Category.objects.get(number=1))
    conversation.init_key()
    conversation.save()
    return conversation


def test_a_send_past_the_limit_is_refused_before_it_reaches_the_model(client, staff, reached):
    conversation = _conversation(staff)
    client.force_login(staff)
    url = f"/chat/c/{conversation.public_id}/send/"
    htmx = {"hx-request": "true"}
    answers = [client.post(url, {"text": "hello"}, headers=htmx) for _ in range(3)]
    assert len(reached) == 2
    assert answers[2].status_code == 422
    page = answers[2].content.decode()
    assert TOO_FAST in page and "at most 2 a minute" in page
    assert ">hello</textarea>" in page  # what was typed stays in the box


def test_a_retry_past_the_limit_is_refused_too(client, staff, reached):
    conversation = _conversation(staff)
    answer = Message.objects.create(
        conversation=conversation, role="assistant", status="failed", category_number=1
    )
    client.force_login(staff)
    url = f"/chat/m/{answer.public_id}/retry/"
    answers = [client.post(url, headers={"hx-request": "true"}) for _ in range(3)]
    assert len(reached) == 2
    assert TOO_FAST in answers[2].content.decode()


def test_each_person_has_their_own_count(client, staff, reached):
    mine = _conversation(staff)
    theirs = _conversation(_fresh(make_user("bob@example.com", Role.STAFF)))
    client.force_login(staff)
    for _ in range(2):
        client.post(f"/chat/c/{mine.public_id}/send/", {"text": "hello"})
    client.force_login(theirs.owner)
    client.post(f"/chat/c/{theirs.public_id}/send/", {"text": "hello"})
    assert len(reached) == 3


# --- the live preview: a count and a limit of its own ---------------------------------------

PAUSED = "Previews are paused for"


@pytest.fixture
def scanned(monkeypatch):
    """The previews that reach the scan, with a limit of three a minute."""
    from chat import services

    calls = []
    real = services.preview

    def preview(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr("chat.services.preview", preview)
    monkeypatch.setattr("chat.views.previews_per_minute", lambda: 3)
    redis = streams.client()
    for key in redis.scan_iter("steward:ratelimit:preview:*"):
        redis.delete(key)
    return calls


def test_a_preview_past_its_limit_is_not_scanned_and_says_so_where_the_preview_goes(
    client, staff, scanned
):
    conversation = _conversation(staff)
    client.force_login(staff)
    url = f"/chat/c/{conversation.public_id}/preview/"
    htmx = {"hx-request": "true"}
    answers = [client.post(url, {"text": "hello"}, headers=htmx) for _ in range(4)]
    assert len(scanned) == 3
    assert [a.status_code for a in answers] == [200, 200, 200, 422]
    page = answers[3].content.decode()
    assert page.lstrip().startswith('<div id="preview"') and "<html" not in page
    assert PAUSED in page and "more than 3 were asked for in a minute" in page
    assert 1 <= int(answers[3]["Retry-After"]) <= ratelimit.WINDOW_SECONDS


def test_previews_and_sends_count_apart(client, staff, scanned, reached):
    conversation = _conversation(staff)
    client.force_login(staff)
    client.post(f"/chat/c/{conversation.public_id}/send/", {"text": "hello"})
    answers = [
        client.post(f"/chat/c/{conversation.public_id}/preview/", {"text": "hello"})
        for _ in range(4)
    ]
    assert len(scanned) == 3  # a send took nothing from the previews' count
    assert PAUSED in answers[3].content.decode()
    client.post(f"/chat/c/{conversation.public_id}/send/", {"text": "hello"})
    assert len(reached) == 2  # nor did the previews from the sends'


def test_a_preview_goes_on_when_redis_is_away(client, staff, scanned, monkeypatch):
    def away():
        raise ConnectionError("Redis is away")

    monkeypatch.setattr("chat.streams.client", away)
    conversation = _conversation(staff)
    client.force_login(staff)
    answers = [
        client.post(f"/chat/c/{conversation.public_id}/preview/", {"text": "hello"})
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [200] * 4 and len(scanned) == 4


def test_the_preview_limit_is_larger_than_the_messages_and_than_a_box_typed_in_asks(settings):
    """The box asks at each 400 ms pause: 150 a minute typed without a stop."""
    from chat.views import previews_per_minute

    settings.STEWARD_API_REQUESTS_PER_MINUTE = 2
    assert previews_per_minute() == 150
    settings.STEWARD_API_REQUESTS_PER_MINUTE = 120
    assert previews_per_minute() == 480
