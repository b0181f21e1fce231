"""Shortening a category's retention deletes, at the next purge, conversations the old
window kept: Internal 14 → 7 days was saved with "Internal saved." and nothing else. Now
the first save counts them and asks; it is saved once confirmed (page and REST API alike).
A longer or unchanged window, or a shorter one that deletes nothing yet, saves at once."""

import pytest

from governance.models import Category
from privacy import purge
from tests.governance.console import HTMX, only_event, policy_events

URL = "/policy/categories/internal/"
API = "/api/governance/categories/internal/"


def _form(**overrides) -> dict:
    values = {"name": "Internal", "summary": "Business information.", "retention_days": "7"}
    values.update(overrides)
    return values


def _expired_now() -> int:
    return purge.preview().counts.get("Internal", {}).get("conversations", 0)


def test_the_first_save_counts_what_the_next_purge_would_delete_and_saves_nothing(
    client, admin, internal
):
    client.force_login(admin)
    response = client.post(URL, _form(), **HTMX)
    assert response.status_code == 422 and b"<html" not in response.content
    page = response.content.decode()
    assert "Keep Internal for 7 days instead of 14 days?" in page
    assert "The next purge deletes 1 conversation (3 messages) that 14 days would still keep" in (
        page
    )
    assert 'name="confirm_shorter_retention" value="7"' in page
    assert "Nothing was saved: check the fields marked below." not in page
    assert Category.objects.get(slug="internal").retention_days == 14
    assert policy_events() == []


def test_confirmed_it_is_saved_and_the_purge_deletes_what_was_counted(client, admin, internal):
    client.force_login(admin)
    before = _expired_now()
    response = client.post(URL, _form(confirm_shorter_retention="7"), follow=True)
    assert Category.objects.get(slug="internal").retention_days == 7
    assert only_event().after == {"retention_days": 7}
    assert (
        "Internal saved. It now keeps 7 days: the next purge deletes 1 conversation that "
        "14 days kept." in response.content.decode()
    )
    assert _expired_now() == before + 1


def test_a_window_changed_after_the_count_was_shown_is_counted_again(client, admin, internal):
    client.force_login(admin)
    response = client.post(URL, _form(retention_days="2", confirm_shorter_retention="7"))
    assert response.status_code == 422
    page = response.content.decode()
    assert "The next purge deletes 2 conversations (5 messages)" in page
    assert 'name="confirm_shorter_retention" value="2"' in page
    assert Category.objects.get(slug="internal").retention_days == 14


def test_keeping_no_text_any_more_is_a_shortening_too(client, admin, internal):
    client.force_login(admin)
    page = client.post(URL, _form(retention_days="")).content.decode()
    assert "Keep no text of Internal any more, instead of 14 days?" in page
    assert "deletes 2 conversations (5 messages)" in page
    client.post(URL, _form(retention_days="", confirm_shorter_retention="none"))
    assert Category.objects.get(slug="internal").retention_days is None


@pytest.mark.parametrize("days", ["14", "30", "12"])
def test_a_longer_or_equal_window_or_one_that_deletes_nothing_saves_at_once(
    client, admin, internal, days
):
    client.force_login(admin)
    response = client.post(URL, _form(retention_days=days, summary="Changed."))
    assert response.status_code == 302
    category = Category.objects.get(slug="internal")
    assert (category.retention_days, category.summary) == (int(days), "Changed.")


def test_other_problems_are_shown_first(client, admin, internal):
    client.force_login(admin)
    page = client.post(URL, _form(name="")).content.decode()
    assert "Nothing was saved: check the fields marked below." in page
    assert "confirm_shorter_retention" not in page


def test_the_api_refuses_a_shortening_without_confirmation_and_counts_it(api, internal):
    refused = api.patch(API, {"retention_days": 7}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {
        "confirm_shorter_retention": [
            "Shorter retention: Internal kept 14 days, now 7 days. The next purge deletes "
            "1 conversation (3 messages) that 14 days would still keep. Confirm the shorter "
            "retention to save it."
        ]
    }
    assert Category.objects.get(slug="internal").retention_days == 14
    refused = api.patch(
        API, {"retention_days": 7, "confirm_shorter_retention": "yes"}, format="json"
    )
    assert refused.json() == {"confirm_shorter_retention": ["Must be true or false."]}
    saved = api.patch(API, {"retention_days": 7, "confirm_shorter_retention": True}, format="json")
    assert saved.status_code == 200, saved.json()
    assert saved.json()["retention_days"] == 7 and "confirm_shorter_retention" not in saved.json()
    assert only_event().after == {"retention_days": 7}


def test_the_api_saves_a_longer_window_and_other_edits_as_before(api, internal):
    assert api.patch(API, {"retention_days": 30}, format="json").status_code == 200
    assert api.patch(API, {"summary": "Other."}, format="json").status_code == 200
    assert Category.objects.get(slug="internal").retention_days == 30
