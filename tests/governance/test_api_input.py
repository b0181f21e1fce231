"""The policy console's REST API given odd input: refused with a clear 400 or 404, never a 500,
never read as something else, and accepting only what the console's pages accept."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from chat.models import Conversation
from governance.models import Approval, Backend, Category, DetectionRule
from privacy import purge
from tests.factories import make_backend, make_category
from tests.governance.console import HTMX, policy_events

BACKEND = {
    "name": "Ollama two",
    "kind": "ollama",
    "base_url": "http://127.0.0.1:11434",
    "model": "llama3.2",
    "hosting_class": "on_prem",
}
RULE = {"name": "Draft", "reason": "Not yet", "kind": "keywords", "pattern": "hello"}
TOO_LONG = "Keep content at most 36,500 days (100 years), or leave it empty to store none."


def test_a_retention_over_a_hundred_years_is_refused_by_the_api_and_the_console(api, admin, client):
    public = make_category()
    url = "/api/governance/categories/public/"
    refused = api.patch(url, {"retention_days": 10_000_000}, format="json")
    assert (refused.status_code, refused.json()) == (400, {"retention_days": [TOO_LONG]})
    new = {
        "number": 2,
        "slug": "internal",
        "name": "Internal",
        "summary": "x",
        "retention_days": 36_501,
    }
    refused = api.post("/api/governance/categories/", new, format="json")
    assert (refused.status_code, refused.json()) == (400, {"retention_days": [TOO_LONG]})
    client.force_login(admin)
    page = client.post(
        "/policy/categories/public/",
        {"name": "Public", "summary": "x", "retention_days": "36501"},
        **HTMX,
    )
    assert page.status_code == 422 and TOO_LONG in page.content.decode()
    public.refresh_from_db()
    assert public.retention_days == 90 and not Category.objects.filter(slug="internal").exists()
    assert policy_events() == []
    kept = api.patch(url, {"retention_days": 36_500}, format="json")
    assert kept.status_code == 200 and kept.json()["retention_days"] == 36_500


def test_a_retention_stored_beyond_the_calendar_does_not_stop_the_purge(member):
    """A value saved before the bound (or by other means) keeps everything in its category;
    the other categories are still purged."""
    forever = make_category(retention_days=10_000_000)
    week = make_category(number=2, slug="internal", name="Internal", retention_days=7)
    for category in (forever, week):
        conversation = Conversation(owner=member, category=category)
        conversation.init_key()
        conversation.last_activity_at = timezone.now() - dt.timedelta(days=365 * 50)
        conversation.save()
    assert purge.preview().counts == {"Internal": {"conversations": 1, "messages": 0}}


def test_a_backend_and_a_rule_created_switched_off_are_created_off(api):
    """As for categories and term lists; the creation's one audit event says so."""
    backend = api.post("/api/governance/backends/", {**BACKEND, "enabled": False}, format="json")
    assert backend.status_code == 201, backend.json()
    assert backend.json()["enabled"] is False
    assert Backend.objects.get(name="Ollama two").enabled is False
    rule = api.post(
        "/api/governance/rules/", {**RULE, "action": "block", "is_active": False}, format="json"
    )
    assert rule.status_code == 201, rule.json()
    assert rule.json()["is_active"] is False
    assert DetectionRule.objects.get(name="Draft").is_active is False
    events = list(reversed(policy_events()))
    assert [e.message for e in events] == ["Backend created", "Rule created"]
    assert events[0].after["enabled"] is False and events[1].after["is_active"] is False
    refusals = [
        ("backends", {**BACKEND, "name": "Three", "enabled": "no"}, "enabled"),
        ("rules", {**RULE, "name": "Other", "action": "warn", "is_active": 0}, "is_active"),
    ]
    for path, data, field in refusals:
        refused = api.post(f"/api/governance/{path}/", data, format="json")
        assert (refused.status_code, refused.json()) == (400, {field: ["Must be true or false."]})
    assert Backend.objects.count() == DetectionRule.objects.count() == 1


@pytest.mark.parametrize("value", ["no", "off", "0", "false ", 0, 1, None, []])
def test_a_yes_no_field_takes_true_or_false_only(api, value):
    """The console's forms read any other string as yes; a client meaning no would loosen the
    policy without a word."""
    make_category()
    refusals = [
        ("post", "/api/governance/backends/", {**BACKEND, "dpa_signed": value}, "dpa_signed"),
        ("post", "/api/governance/rules/", {**RULE, "action": "block", "case_sensitive": value},
         "case_sensitive"),
        ("patch", "/api/governance/categories/public/", {"forbid_training": value},
         "forbid_training"),
    ]  # fmt: skip
    for method, path, data, field in refusals:
        refused = getattr(api, method)(path, data, format="json")
        assert (refused.status_code, refused.json()) == (400, {field: ["Must be true or false."]})
    assert not Backend.objects.exists() and not DetectionRule.objects.exists()
    assert Category.objects.get().forbid_training is False
    assert policy_events() == []


WRITES = [
    ("post", "/api/governance/categories/"),
    ("patch", "/api/governance/categories/public/"),
    ("post", "/api/governance/backends/"),
    ("post", "/api/governance/approvals/"),
    ("post", "/api/governance/clearances/"),
    ("post", "/api/governance/rules/"),
    ("post", "/api/governance/term-lists/"),
]


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize("body", [[1, 2], None, 3, "x"])
def test_a_body_that_is_not_a_json_object_is_a_400(api, method, path, body):
    make_category()
    refused = getattr(api, method)(path, json.dumps(body), content_type="application/json")
    assert (refused.status_code, refused.json()) == (
        400,
        {"non_field_errors": ["The body must be a JSON object: {field: value, …}."]},
    )
    assert policy_events() == []


@pytest.mark.parametrize("path", ["/api/governance/backends/", "/api/governance/approvals/"])
def test_a_body_nested_too_deeply_is_a_400(api, path):
    refused = api.post(path, b"[" * 100_000, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json() == {"detail": "JSON parse error - nested too deeply."}


def test_an_approval_key_that_is_not_a_uuid_is_a_404(api):
    make_category()
    key = "public:" + "-" * 36
    assert api.get(f"/api/governance/approvals/{key}/").status_code == 404
    assert api.delete(f"/api/governance/approvals/{key}/").status_code == 404


def test_the_api_approves_only_what_the_console_would(api):
    """The console's form: active categories only, preference 1 to 1000 (100 if not given)."""
    make_category()
    retired = make_category(number=2, slug="old", name="Old", is_active=False)
    backend = make_backend()
    refusals = [
        ({"category": retired.slug}, "category"),
        ({"category": "public", "preference": 0}, "preference"),
        ({"category": "public", "preference": 1001}, "preference"),
        ({"category": "public", "preference": "high"}, "preference"),
    ]
    for data, field in refusals:
        refused = api.post(
            "/api/governance/approvals/", {**data, "backend": str(backend.public_id)}, format="json"
        )
        assert refused.status_code == 400 and list(refused.json()) == [field], data
    assert not Approval.objects.exists() and policy_events() == []
    made = api.post(
        "/api/governance/approvals/",
        {"category": "public", "backend": str(backend.public_id)},
        format="json",
    )
    assert made.status_code == 201 and made.json()["preference"] == 100
    again = api.post(
        "/api/governance/approvals/",
        {"category": "public", "backend": str(backend.public_id)},
        format="json",
    )
    assert again.json() == {"non_field_errors": ["Local Ollama is already approved for Public."]}
    assert Approval.objects.count() == 1


def test_the_api_refuses_an_external_backend_for_a_confidential_category(api):
    make_category(number=3, slug="confidential", name="Confidential")
    external = make_backend(name="Acme gateway", hosting_class="external_api")
    refused = api.post(
        "/api/governance/approvals/",
        {"category": "confidential", "backend": str(external.public_id)},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "non_field_errors": [
            "Confidential is level 3: only an on-premise or private cloud backend may receive "
            "it; Acme gateway is an external API backend.",
            "Choose a backend that meets what Confidential requires, or change what it "
            "requires first.",
        ]
    }
    assert not Approval.objects.exists() and policy_events() == []


@pytest.mark.parametrize("text", ["\\ud83d", "\\u0000"])
def test_text_no_database_takes_is_a_400(api, text):
    """Valid JSON (an emoji cut in two, a NUL) that no column takes: a 400, not a 500."""
    body = '{"number": 7, "slug": "seven", "name": "Seven ' + text + '", "summary": "x"}'
    refused = api.post("/api/governance/categories/", body, content_type="application/json")
    assert refused.status_code == 400, refused.content[:200]
    assert "not whole Unicode" in refused.json()["detail"]
