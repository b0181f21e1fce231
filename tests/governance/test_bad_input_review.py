"""Bad input gets a clear error and loses nothing: what a reviewer sent that was taken
(a falsy value for a category's allowed hosting, any text as regions, an on/off button
read as off, a key no HTTP header can carry, a port out of range)."""

import pytest

from governance.forms import BackendForm, CategoryForm
from governance.models import Backend, Category, DetectionRule, ProtectedTermList, User
from governance.roles import Role
from tests.api.test_rest import _client_of
from tests.factories import make_backend, make_category, make_user
from tests.governance.console import backend_form, policy_events

CONFIDENTIAL = "/api/governance/categories/confidential/"


@pytest.fixture
def confidential(db):
    return make_category(
        number=3, slug="confidential", name="Confidential", allowed_hosting_classes=["on_prem"]
    )


@pytest.fixture
def api(admin):
    client = _client_of(admin)
    client.raise_request_exception = False
    return client


# --- 1. a category's allowed hosting and regions over REST ------------------------------


@pytest.mark.parametrize("value", [False, 0, {}, "", None, "on_prem", [1], [None]])
def test_allowed_hosting_must_be_a_list_of_strings(api, confidential, value):
    response = api.patch(CONFIDENTIAL, {"allowed_hosting_classes": value}, format="json")
    assert response.status_code == 400, response.json()
    (message,) = response.json()["allowed_hosting_classes"]
    assert "Must be a list" in message and '["on_prem"]' in message
    confidential.refresh_from_db()
    assert confidential.allowed_hosting_classes == ["on_prem"]
    assert policy_events() == []


def test_an_empty_list_of_allowed_hosting_is_a_choice(api, confidential):
    response = api.patch(CONFIDENTIAL, {"allowed_hosting_classes": []}, format="json")
    assert response.status_code == 200, response.json()
    confidential.refresh_from_db()
    assert confidential.allowed_hosting_classes == []


@pytest.mark.parametrize("value", ["x" * 1000, 1.5, "junk region", ["eu", "not a code"], 7])
def test_allowed_regions_must_be_region_codes(api, confidential, value):
    response = api.patch(CONFIDENTIAL, {"allowed_regions": value}, format="json")
    assert response.status_code == 400, response.json()
    assert "allowed_regions" in response.json()
    confidential.refresh_from_db()
    assert confidential.allowed_regions == []


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (["eu", "us-east-1", "europe-west4"], ["eu", "europe-west4", "us-east-1"]),
        ("EU, swedencentral, on-site", ["eu", "on-site", "swedencentral"]),
        ([], []),
        ("", []),
    ],
)
def test_region_codes_are_taken(api, confidential, value, stored):
    response = api.patch(CONFIDENTIAL, {"allowed_regions": value}, format="json")
    assert response.status_code == 200, response.json()
    confidential.refresh_from_db()
    assert confidential.allowed_regions == stored


def test_the_console_form_refuses_what_is_not_a_region_code(db):
    data = {"name": "X", "number": 5, "slug": "x", "summary": "", "retention_days": 30}
    form = CategoryForm(data={**data, "allowed_regions": "eu, junk region, 1.5"})
    assert not form.is_valid()
    (message,) = form.errors["allowed_regions"]
    assert "junk region" in message and "eu, us-east-1" in message


# --- 2. on/off buttons take 1 or 0, nothing else ----------------------------------------


@pytest.mark.parametrize("posted", [{"active": "yes"}, {"active": ""}, {}])
def test_a_category_switch_takes_only_1_or_0(client, admin, posted):
    category = make_category()
    client.force_login(admin)
    response = client.post(f"/policy/categories/{category.slug}/state/", posted)
    assert response.status_code == 400
    assert b"1 (on) or 0 (off)" in response.content
    assert Category.objects.get(pk=category.pk).is_active is True
    assert policy_events() == []


def test_a_backend_rule_and_list_switch_take_only_1_or_0(client, admin):
    backend = make_backend()
    rule = DetectionRule.objects.create(name="R", reason="r", pattern="x", action="warn")
    terms = ProtectedTermList.objects.create(name="Clients", kind="client")
    client.force_login(admin)
    for path, name in [
        (f"/policy/backends/{backend.public_id}/state/", "enabled"),
        (f"/policy/rules/{rule.public_id}/state/", "active"),
        (f"/policy/term-lists/{terms.public_id}/state/", "active"),
    ]:
        response = client.post(path, {name: "true"})
        assert response.status_code == 400, path
        assert b"1 (on) or 0 (off)" in response.content
    assert Backend.objects.get().enabled is True
    assert DetectionRule.objects.get().is_active is True
    assert ProtectedTermList.objects.get().is_active is True
    assert policy_events() == []


def test_a_switch_still_takes_0(client, admin):
    category = make_category()
    client.force_login(admin)
    response = client.post(f"/policy/categories/{category.slug}/state/", {"active": "0"})
    assert response.status_code == 302
    assert Category.objects.get(pk=category.pk).is_active is False


def test_a_persons_switch_takes_only_1_or_0(client, admin):
    member = make_user("member@example.com", Role.STAFF)
    client.force_login(admin)
    response = client.post(f"/policy/users/{member.public_id}/", {"active": "yes"})
    assert response.status_code == 400
    assert b"1 (on) or 0 (off)" in response.content
    assert User.objects.get(pk=member.pk).is_active is True


# --- 3. a key an HTTP header cannot carry, a port out of range --------------------------


@pytest.mark.parametrize("key", ["sk-abcé", "sk-abc def", "sk-abc\ndef"])
def test_a_key_no_http_header_can_carry_is_refused(db, key):
    form = BackendForm(data=backend_form(credential=key))
    assert not form.is_valid()
    assert "credential" in form.errors


def test_a_key_keeps_no_surrounding_whitespace(db):
    form = BackendForm(data=backend_form(credential="  sk-abc123\n"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["credential"] == "sk-abc123"


def test_a_json_key_may_span_lines(db):
    entra = '{\n  "tenant_id": "t",\n  "client_id": "c",\n  "client_secret": "s é"\n}'
    form = BackendForm(data=backend_form(credential=entra))
    assert "credential" not in form.errors


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/v1", "http://127.0.0.1:0/v1"])
def test_a_port_out_of_range_is_refused(db, url):
    form = BackendForm(data=backend_form(base_url=url))
    assert not form.is_valid()
    assert "port" in form.errors["base_url"][0]
