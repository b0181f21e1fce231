"""The REST API as an integrator's script meets it: wrong types, unknown fields and
addresses, and answers that must match the published schema (clear JSON, never a 500)."""

import pytest

from governance.models import Backend, DetectionRule
from tests.api.test_rest import BACKEND_ID, RULE_ID, TERMS_ID, _client_of, policy  # noqa: F401
from tests.governance.console import policy_events

BACKEND = f"/api/governance/backends/{BACKEND_ID}/"
RULE = f"/api/governance/rules/{RULE_ID}/"


@pytest.fixture
def api(policy, admin):  # noqa: F811
    client = _client_of(admin)
    client.raise_request_exception = False  # a 500 is an answer to look at, here
    return client


def _refused(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:200]
    assert response.status_code == 400, response.json()
    return response.json()


# --- wrong types ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [5, ["2027-01-01"], {"day": 1}, True])
def test_it_refuses_a_date_that_is_not_a_string_with_a_400(api, value):
    body = {"dpa_signed": True, "dpa_expires_on": value}
    assert _refused(api.patch(BACKEND, body, format="json")) == {
        "dpa_expires_on": ["Enter a valid date."]
    }
    assert Backend.objects.get().dpa_expires_on is None
    assert policy_events() == []


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        (BACKEND, "name", ["Renamed"]),
        (BACKEND, "model", {"id": "llama"}),
        (BACKEND, "credential", ["sk-123"]),
        (RULE, "pattern", ["falcon"]),
        (RULE, "reason", {"text": "x"}),
        ("/api/governance/categories/public/", "summary", ["Public"]),
        ("/api/governance/categories/public/", "allowed_regions", {"eu": True}),
        ("/api/governance/categories/public/", "allowed_regions", ["eu", 1]),
        ("/api/governance/categories/public/", "allowed_regions", ["eu", None]),
        (f"/api/governance/term-lists/{TERMS_ID}/", "name", ["Clients"]),
    ],
)
def test_it_refuses_a_list_or_object_where_text_goes_rather_than_store_its_repr(
    api, path, field, value
):
    shown = api.get(path).json()
    errors = _refused(api.patch(path, {field: value}, format="json"))
    assert list(errors) == [field], errors
    assert api.get(path).json() == shown
    assert Backend.objects.get().credential_encrypted == b""
    assert policy_events() == []


def test_it_refuses_a_list_for_text_in_a_new_object_too(api):
    made = api.post(
        "/api/governance/rules/",
        {"name": ["Codename"], "reason": "x", "kind": "keywords", "pattern": ["falcon"],
         "action": "block"},
        format="json",
    )  # fmt: skip
    assert list(_refused(made)) == ["name", "pattern"]
    assert not DetectionRule.objects.filter(name__contains="Codename").exists()


def test_numbers_are_still_taken_as_text_where_text_goes(api):
    edited = api.patch(BACKEND, {"model": 4}, format="json")
    assert edited.status_code == 200, edited.json()
    assert edited.json()["model"] == "4"
