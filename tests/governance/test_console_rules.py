"""Detection rules: patterns checked before saving; switch off; delete."""

import re

from governance.models import DetectionRule
from tests.factories import make_category
from tests.governance.console import HTMX, only_event, policy_events


def _form(**overrides) -> dict:
    values = {
        "name": "Privilege",
        "reason": "Marks attorney-client material.",
        "kind": "keywords",
        "pattern": "privileged & confidential\nattorney-client",
        "action": "block",
        "min_category": "",
    }
    values.update(overrides)
    return values


def test_it_creates_a_rule(client, admin):
    client.force_login(admin)
    response = client.post("/policy/rules/new/", _form())
    rule = DetectionRule.objects.get()
    assert (
        response.status_code == 302 and response["Location"] == f"/policy/rules/{rule.public_id}/"
    )
    event = only_event()
    assert event.after["name"] == "Privilege" and event.after["action"] == "block"


def test_a_taken_name_is_said_in_words(client, admin):
    client.force_login(admin)
    client.post("/policy/rules/new/", _form())
    response = client.post("/policy/rules/new/", _form(), **HTMX)
    assert response.status_code == 422
    assert b"A rule with this name already exists." in response.content


def test_an_escalation_needs_a_category(client, admin):
    make_category(number=3, slug="confidential", name="Confidential")
    client.force_login(admin)
    response = client.post("/policy/rules/new/", _form(action="escalate"), **HTMX)
    assert response.status_code == 422
    assert b"Choose the category a match raises the message to." in response.content
    response = client.post(
        "/policy/rules/new/", _form(action="escalate", min_category="confidential")
    )
    assert response.status_code == 302
    assert DetectionRule.objects.get().min_category.number == 3
    assert only_event().after["min_category"] == 3


def test_bad_patterns_are_refused_with_the_reason(client, admin):
    client.force_login(admin)
    for pattern, reason in [
        ("(unclosed", "not a valid regular expression"),
        ("(a+)+$", "catastrophic backtracking"),
        ("x*", "matches empty text"),
    ]:
        response = client.post("/policy/rules/new/", _form(kind="regex", pattern=pattern), **HTMX)
        assert response.status_code == 422, pattern
        assert b'id="rule-form"' in response.content and b"<html" not in response.content
        assert reason.encode() in response.content, pattern
    assert DetectionRule.objects.count() == 0
    assert policy_events() == []


def test_an_edit_records_only_what_changed(client, admin):
    rule = DetectionRule.objects.create(
        name="Privilege", reason="r", pattern="privileged", action="warn"
    )
    client.force_login(admin)
    response = client.post(
        f"/policy/rules/{rule.public_id}/", _form(reason="r", pattern="privileged", action="block")
    )
    assert response.status_code == 302
    event = only_event()
    assert (event.before, event.after) == ({"action": "warn"}, {"action": "block"})


def test_switching_off_and_deleting_ask_first(client, admin):
    rule = DetectionRule.objects.create(
        name="Privilege", reason="r", pattern="privileged", action="warn"
    )
    client.force_login(admin)
    page = client.get(f"/policy/rules/{rule.public_id}/").content.decode()
    assert (
        'data-confirm="Switch off “Privilege”?' in page
        and 'data-confirm="Delete “Privilege”?' in page
    )
    client.post(f"/policy/rules/{rule.public_id}/state/", {"active": "0"})
    assert DetectionRule.objects.get().is_active is False
    response = client.post(f"/policy/rules/{rule.public_id}/delete/", **HTMX)
    assert response["HX-Redirect"] == "/policy/rules/"
    assert DetectionRule.objects.count() == 0
    deleted = policy_events()[0]
    assert deleted.message == "Rule deleted" and deleted.after is None
    assert len(policy_events()) == 2


def test_retiring_a_category_rules_escalate_to_says_what_they_will_do(client, admin):
    """A rule raising messages to a retired category blocks what it matches (the policy
    fails closed on a category it cannot find): the admin is told before and after."""
    make_category(number=2, slug="internal", name="Internal")
    category = make_category(number=3, slug="confidential", name="Confidential")
    client.force_login(admin)
    client.post("/policy/rules/new/", _form(action="escalate", min_category="confidential"))
    page = client.get(f"/policy/categories/{category.slug}/").content.decode()
    assert "1 active detection rule raises messages to it" in page
    url = f"/policy/categories/{category.slug}/state/"
    response = client.post(url, {"active": "0"}, follow=True)
    shown = response.content.decode()
    assert "1 active detection rule raises messages to Confidential" in shown
    assert "blocked until" in shown


def test_a_rule_escalating_to_a_retired_category_can_still_be_edited(client, admin):
    """The rule keeps its category (shown as retired); only active ones can be newly chosen."""
    make_category(number=2, slug="internal", name="Internal")
    category = make_category(number=3, slug="confidential", name="Confidential")
    values = _form(action="escalate", min_category="confidential")
    client.force_login(admin)
    assert client.post("/policy/rules/new/", values).status_code == 302
    rule = DetectionRule.objects.get()
    client.post(f"/policy/categories/{category.slug}/state/", {"active": "0"})
    page = client.get(f"/policy/rules/{rule.public_id}/").content.decode()
    assert re.search(r'<option value="confidential"[^>]* selected>[^<]*\(retired\)', page)
    response = client.post(f"/policy/rules/{rule.public_id}/", {**values, "reason": "New"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.reason == "New" and rule.min_category == category
    other = DetectionRule.objects.create(name="Other", reason="r", pattern="x", action="warn")
    response = client.post(f"/policy/rules/{other.public_id}/", {**values, "name": "Other"})
    assert response.status_code == 422
