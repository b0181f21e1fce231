"""A printed trail says which events it holds: on paper the filter form is gone, and a list of
blocked requests read as the whole trail. A line of the filters in words, printed only."""

import re

import pytest
from django.utils import timezone

from audit.filters import EventFilter
from audit.filters_in_words import filters_in_words
from tests.factories import make_chat_event

HTMX = {"HTTP_HX_REQUEST": "true"}


def _words(query: dict, **kwargs) -> str:
    return filters_in_words(EventFilter(query), **kwargs)


@pytest.mark.parametrize(
    "query, words",
    [
        ({"since": "2026-12-01", "until": "2026-12-05"}, "from 1 Dec 2026 to 5 Dec 2026"),
        ({"since": "2026-12-01", "until": "2026-12-01"}, "on 1 Dec 2026"),
        ({"since": "2026-12-01"}, "from 1 Dec 2026"),
        ({"until": "2026-12-05"}, "up to 5 Dec 2026"),
    ],
)
def test_it_says_the_days_as_the_list_shows_them(db, query, words):
    assert _words(query) == f"Filtered: {words}."


def test_it_names_each_filter_by_its_label_and_a_choice_by_its_name(db, reader):
    query = {
        "since": "2026-12-01",
        "until": "2026-12-05",
        "actor": reader.email,
        "action": "chat.request",
        "category": "internal",
        "hosting": "external_api",
        "outcome": "blocked",
        "target_type": "chat.conversation",
        "target": "1f2e",
    }
    assert _words(query) == (
        "Filtered: from 1 Dec 2026 to 5 Dec 2026; "
        f"actor email {reader.email}; action Chat request; category internal; "
        "hosting External API; outcome Blocked; target Conversation; target ID 1f2e."
    )


def test_a_backend_is_named_as_the_trail_spells_it(db):
    make_chat_event(backend="OpenAI business API", hosting="external_api")
    assert _words({"backend": "openai business api"}) == "Filtered: backend OpenAI business API."


def test_a_type_no_longer_listed_is_named_as_recorded(db):
    assert _words({"target_type": "old.gadget"}) == "Filtered: target old.gadget."


def test_no_filter_is_all_events_and_a_later_page_says_where_it_starts(db):
    assert filters_in_words(EventFilter()) == "All events."
    assert _words({}) == "All events."
    assert _words({"action": "", "before": "500"}) == "All events."
    assert _words({}, before=500) == "All events older than #500."
    assert _words({"outcome": "failure"}, before=500) == (
        "Filtered: outcome Failure; older than #500."
    )


def test_filters_that_cant_be_applied_have_no_words(db):
    assert _words({"since": "2026-12-05", "until": "2026-12-01"}) == ""


def test_the_trail_prints_the_filters_it_shows(client, reader):
    """On the page, in the list that filtering in place replaces, and for paper only."""
    make_chat_event(decision="blocked")
    client.force_login(reader)
    today = timezone.localdate()

    for headers in ({}, HTMX):
        page = client.get(f"/audit/?outcome=blocked&since={today}", **headers).content.decode()
        line = re.search(r'<p class="print-only">([^<]*)</p>', page)
        assert line[1] == f"Filtered: from {today:%-d %b %Y}; outcome Blocked."
        if headers:
            assert "<html" not in page  # the list alone, the line in it

    page = client.get("/audit/").content.decode()
    assert '<p class="print-only">All events.</p>' in page


def test_no_line_of_filters_beside_filters_that_cant_be_applied(client, reader):
    client.force_login(reader)
    response = client.get("/audit/?since=2026-12-05&until=2026-12-01")
    assert response.status_code == 422
    assert 'class="print-only"' not in response.content.decode()
