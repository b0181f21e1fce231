"""The REST API as an integrator's script meets it: wrong types, unknown fields and
addresses, and answers that must match the published schema (clear JSON, never a 500)."""

import datetime as dt

import jsonschema
import pytest
from django.contrib.auth.models import Group
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import record
from chat.models import Conversation
from governance.models import Backend, Clearance, DetectionRule
from governance.roles import Role
from privacy.models import LegalHold, PurgeRun, SubjectRequest
from tests.api import test_rest
from tests.api.test_rest import BACKEND_ID, RULE_ID, TERMS_ID, _client_of
from tests.factories import make_backend, make_user
from tests.governance.console import policy_events

policy = test_rest.policy  # the fixture: a category, a backend, a rule and a term list
BACKEND = f"/api/governance/backends/{BACKEND_ID}/"
RULE = f"/api/governance/rules/{RULE_ID}/"


@pytest.fixture
def api(policy, admin):
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


# --- addresses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/",
        "/api/governance/nope/",
        "/api/audit/events/latest/",
        f"/api/governance/approvals/{BACKEND_ID}/",  # no category slug
        "/api/privacy/requests/x/y/z/",
    ],
)
def test_an_address_under_api_that_names_nothing_is_a_json_404(api, path):
    for method in ("get", "post", "delete"):
        missing = getattr(api, method)(path, {}, format="json")
        assert missing.status_code == 404, (method, path)
        assert missing["Content-Type"] == "application/json"
        assert "No such endpoint" in missing.json()["detail"]


def test_a_write_without_the_trailing_slash_is_refused_naming_the_address_not_redirected(api):
    """A 301 for a POST makes ``requests`` (and most clients) follow it as a GET: the
    script reads a 200 list and believes the rule made."""
    body = {"name": "Codename", "reason": "x", "kind": "keywords", "pattern": "falcon",
            "action": "block"}  # fmt: skip
    for method in ("post", "put", "patch", "delete"):
        sent = getattr(api, method)("/api/governance/rules", body, format="json")
        assert sent.status_code == 404, method
        assert sent["Content-Type"] == "application/json"
        assert "/api/governance/rules/" in sent.json()["detail"]
    assert not DetectionRule.objects.filter(name="Codename").exists()
    read = api.get("/api/governance/rules", {"page_size": 5})
    assert read.status_code == 301  # a read may follow it: nothing is lost
    assert read["Location"] == "/api/governance/rules/?page_size=5"


def test_an_approval_is_found_by_its_key_with_the_uuid_in_capitals(api):
    key = f"public:{BACKEND_ID.upper()}"
    found = api.get(f"/api/governance/approvals/{key}/")
    assert found.status_code == 200
    assert found.json()["key"] == f"public:{BACKEND_ID}"


# --- the schema -------------------------------------------------------------------------


def _json_schema(node, refs: dict):
    """An OpenAPI 3.0 schema as JSON Schema: ``nullable`` becomes a null alternative."""
    if isinstance(node, list):
        return [_json_schema(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return refs[node["$ref"].rsplit("/", 1)[1]]
    out = {
        key: _json_schema(value, refs)
        for key, value in node.items()
        if key not in ("nullable", "readOnly", "writeOnly", "example", "description")
    }
    if out.get("properties"):  # the property named "format" is data, not a keyword
        out["properties"] = {k: _json_schema(v, refs) for k, v in node["properties"].items()}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _response_schemas() -> dict:
    """The documented 200 body of each GET: path template -> JSON Schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    refs: dict = {}
    for name, component in components.items():  # resolved lazily: components nest
        refs[name] = {"$ref": f"#/$defs/{name}"}
    defs = {name: _json_schema(component, refs) for name, component in components.items()}
    found = {}
    for path, operations in schema["paths"].items():
        if "get" in operations:
            body = operations["get"]["responses"]["200"]["content"]["application/json"]
            found[path] = {**_json_schema(body["schema"], refs), "$defs": defs}
    return found


@pytest.fixture
def everything(policy, admin, member):
    """One of each object, with every field that can be empty empty somewhere."""
    public, backend = policy
    Clearance.objects.create(category=public, group=Group.objects.get(name=Role.STAFF.label))
    Clearance.objects.create(category=public, user=member)
    conversation = Conversation.objects.create(owner=member, category=public)
    LegalHold.objects.create(conversation=conversation, reason="Case 1")
    LegalHold.objects.create(user=member, reason="Case 2", placed_by=admin)
    SubjectRequest.objects.create(
        reference="DSR-2026-0001", kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.GDPR, received_on=dt.date(2026, 1, 5),
        due_on=dt.date(2026, 2, 5),
    )  # fmt: skip
    PurgeRun.objects.create(status=PurgeRun.Status.DONE)
    record(action=AuditEvent.Action.RETENTION_PURGED, message="By the schedule")  # no actor
    make_backend(name="Cloud", public_id="00000000-0000-4000-8000-0000000000b2", dpa_signed=True)
    return public, backend


def test_every_answer_is_what_the_schema_says(everything):
    """A client generated from /api/schema/ reads every list and object the API returns."""
    desk = make_user("desk@example.com", Role.POLICY_ADMIN, Role.PRIVACY_OFFICER, Role.AUDITOR)
    client = _client_of(desk)
    schemas = _response_schemas()
    checked, wrong = set(), []

    def check(url: str, template: str) -> dict:
        answer = client.get(url)
        assert answer.status_code == 200, url
        body = answer.json()
        validator = jsonschema.Draft202012Validator(schemas[template])
        wrong.extend(
            f"{url} {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(body)
        )
        checked.add(template)
        return body

    for template in schemas:
        if "{" in template or template == "/api/schema/":
            continue
        rows = check(template, template).get("results", [])
        detail = next((t for t in schemas if t.startswith(template) and t.endswith("}/")), None)
        for row in rows if detail else []:
            key = next(str(row[k]) for k in ("public_id", "slug", "key", "sequence") if k in row)
            check(f"{template}{key}/", detail)
    assert wrong == [], "\n".join(wrong)
    assert len(checked) >= 18, sorted(checked)


def test_the_schema_gives_a_category_the_bounds_the_api_keeps():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    fields = schema["components"]["schemas"]["Category"]["properties"]
    assert (fields["number"]["minimum"], fields["number"]["maximum"]) == (1, 9)
    assert fields["retention_days"]["maximum"] == 36_500


# --- the audit trail --------------------------------------------------------------------


def _uses() -> list[tuple]:
    events = AuditEvent.objects.filter(action=AuditEvent.Action.API_REQUEST).order_by("sequence")
    return [(e.outcome, e.details.get("status"), e.details["path"]) for e in events]


def test_a_refused_rest_request_is_not_recorded_as_a_success(policy, reader, admin):
    """Auditors read the outcome: a token refused its role, or a write refused as bad,
    was shown as a success (as /v1's were, before they were told apart)."""
    _client_of(reader).get("/api/governance/backends/")
    _client_of(admin).post("/api/governance/rules/", {"name": ""}, format="json")
    _client_of(admin).get("/api/governance/rules/")
    assert _uses() == [
        ("blocked", 403, "/api/governance/backends/"),
        ("failure", 400, "/api/governance/rules/"),
        ("success", None, "/api/governance/rules/"),
    ]


# --- unknown fields ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "unknown"),
    [
        ("patch", "/api/governance/categories/public/", {"retention": 7}, "retention"),
        ("put", BACKEND, {"name": "Local Ollama", "kind": "ollama", "modle": "x"}, "modle"),
        ("patch", RULE, {"is_active": False, "actoin": "block"}, "actoin"),
        ("patch", f"/api/governance/term-lists/{TERMS_ID}/", {"term": "Globex"}, "term"),
        ("post", "/api/governance/approvals/", {"category": "public", "backend": BACKEND_ID,
                                                "preferance": 1}, "preferance"),
        ("post", "/api/governance/clearances/", {"category": "public", "party": "group:Staff",
                                                 "user": "x"}, "user"),
        ("post", "/api/privacy/holds/", {"person": "member@example.com", "reason": "Case",
                                         "until": "2030-01-01"}, "until"),
        ("post", "/api/privacy/requests/", {"kind": "erasure", "regime": "gdpr",
                                            "received_on": "2026-01-05", "email": "a@b.example",
                                            "identifiers": ["x"]}, "identifiers"),
    ],
)  # fmt: skip
def test_a_misspelt_field_is_a_400_naming_it_not_a_silent_success(
    policy,
    member,
    method,
    path,
    body,
    unknown,
):
    """DRF skips fields it does not know: a typo answered 200 and changed nothing, or
    made the object without what the script meant to set."""
    desk = _client_of(make_user("desk@example.com", Role.POLICY_ADMIN, Role.PRIVACY_OFFICER))
    before = AuditEvent.objects.exclude(action=AuditEvent.Action.API_REQUEST).count()
    refused = getattr(desk, method)(path, body, format="json")
    assert refused.status_code == 400, refused.json()
    assert refused.json() == {unknown: ["Unknown field."]}
    assert AuditEvent.objects.exclude(action=AuditEvent.Action.API_REQUEST).count() == before


def test_a_put_may_send_back_what_a_get_showed(api):
    for path in (BACKEND, RULE, "/api/governance/categories/public/"):
        shown = api.get(path).json()
        assert api.put(path, shown, format="json").status_code == 200, path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/governance/categories/pub%00lic/"),
        ("patch", "/api/governance/categories/pub%00lic/"),
        ("delete", "/api/governance/clearances/public:group:Sta%00ff/"),
        ("delete", "/api/governance/approvals/pub%00lic:00000000-0000-4000-8000-0000000000b1/"),
        ("get", "/api/privacy/holds/%00/"),
    ],
)
def test_a_nul_in_an_address_is_a_json_404_not_a_500(policy, method, path):
    """No PostgreSQL text holds a NUL: looked up, it was a 500."""
    desk = _client_of(make_user("desk@example.com", Role.POLICY_ADMIN, Role.PRIVACY_OFFICER))
    desk.raise_request_exception = False
    missing = getattr(desk, method)(path, {"name": "x"}, format="json")
    assert (missing.status_code, missing["Content-Type"]) == (404, "application/json")


def test_the_schema_describes_what_a_write_takes_apart_from_what_it_answers():
    """One component for both, a client generated from the schema asked for the answer's
    fields (public_id, has_credential, updated_at) in every request it sent, and offered a
    write-only key in what it read."""
    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    sent, answered = schemas["BackendRequest"], schemas["Backend"]
    assert "credential" in sent["properties"] and "credential" not in answered["properties"]
    assert "public_id" not in sent["properties"] and "has_credential" not in sent["properties"]
    # the console's form gives the hosting class a default, and the built-in needs no model
    assert sorted(sent["required"]) == ["kind", "name"]
    assert "terms" in schemas["TermListRequest"]["properties"]
    assert "terms" not in schemas["TermList"]["properties"]


def test_a_failure_of_steward_is_a_json_500_logged_and_recorded(api, monkeypatch, caplog):
    """A script reading ``response.json()`` got the site's HTML page for a 500."""

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("governance.services.save_rule", broken)
    with caplog.at_level("ERROR", logger="django.request"):
        failed = api.patch(RULE, {"reason": "Legal hold"}, format="json")
    assert (failed.status_code, failed["Content-Type"]) == (500, "application/json")
    assert failed.json() == {
        "detail": "Steward failed to answer this request. If it happens again, give your "
        f"administrator its id: {failed['X-Request-ID']}."
    }
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(logged) == 1 and logged[0].exc_info[0] is RuntimeError
    assert _uses()[-1] == ("failure", 500, RULE)


def test_a_bad_audit_filter_names_what_is_wrong_as_every_endpoint_does(db, reader):
    client = _client_of(reader)
    swapped = client.get("/api/audit/events/", {"since": "2026-02-01", "until": "2026-01-01"})
    assert swapped.status_code == 400
    assert swapped.json() == {"non_field_errors": ["The start date is after the end date."]}
    unknown = client.get("/api/audit/events/", {"actor": "nobody@example.com", "outcome": "x"})
    assert unknown.json() == {
        "actor": ["No account has this email address."],
        "outcome": ["Select a valid choice. x is not one of the available choices."],
    }


def test_the_schema_says_what_a_purge_preview_holds():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    answer = schema["paths"]["/api/privacy/purges/preview/"]["get"]["responses"]["200"]
    ref = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    preview = schema["components"]["schemas"][ref]
    assert sorted(preview["required"]) == ["conversations", "counts", "held", "messages"]
    per_category = preview["properties"]["counts"]["additionalProperties"]["$ref"]
    counts = schema["components"]["schemas"][per_category.rsplit("/", 1)[1]]
    assert sorted(counts["properties"]) == ["conversations", "messages"]


def test_a_session_write_needs_the_csrf_token_and_is_audited_as_the_consoles(
    policy,
    admin,
):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(admin)
    body = {"name": "Codename", "reason": "x", "kind": "keywords", "pattern": "falcon",
            "action": "block"}  # fmt: skip
    forged = browser.post("/api/governance/rules/", body, format="json")
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    browser.get("/policy/rules/")  # any page sets the cookie
    made = browser.post(
        "/api/governance/rules/", body, format="json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    assert [(e.message, e.actor) for e in policy_events()] == [("Rule created", admin)]
    assert _uses() == []  # api.request events are a token's


@pytest.mark.parametrize(
    ("role", "method", "path"),
    [
        (Role.POLICY_ADMIN, "patch", BACKEND),
        (Role.PRIVACY_OFFICER, "post", "/api/privacy/requests/"),
        (Role.PRIVACY_OFFICER, "post", "/api/privacy/holds/"),
    ],
)
def test_a_body_past_what_a_form_may_hold_is_413_in_json(policy, role, method, path):
    """Past Django's 2.5 MB (the servers let 3.5 MB through, for a term list's upload): it
    was a JSON 500, "Steward failed to answer", and a failure in the trail."""
    client = _client_of(make_user("big@example.com", role))
    client.raise_request_exception = False
    body = {"reason": "x" * (3 * 1024 * 1024)}
    response = getattr(client, method)(path, body, format="json")
    assert response.status_code == 413, response.content[:200]
    assert response.json() == {"detail": "The request body is larger than 2.5 MB."}
    used = AuditEvent.objects.get(action=AuditEvent.Action.API_REQUEST)
    assert (used.outcome, used.details["status"]) == (AuditEvent.Outcome.FAILURE, 413)


def test_a_holds_reasons_are_not_listed_to_the_officer_it_is_about(db):
    """As on the holds page: the reason may tell them what they are suspected of, and who
    asked for or confirmed its release who is looking into it."""
    from privacy import services
    from tests.privacy.conftest import confirm

    first = make_user("first-officer@example.com", Role.PRIVACY_OFFICER)
    second = make_user("second-officer@example.com", Role.PRIVACY_OFFICER)
    third = make_user("third-officer@example.com", Role.PRIVACY_OFFICER)
    hold = services.place_hold(actor=first, reason="Case 7: expenses fraud", user=second)
    services.ask_release(hold=hold, actor=first, reason="Cleared by the inquiry")
    confirm(hold, third)
    services.place_hold(actor=first, reason="Case 8", user=second)

    seen_by_subject = _client_of(second).get("/api/privacy/holds/").json()["results"]
    assert [(h["reason"], h["release_reason"]) for h in seen_by_subject] == [(None, None)] * 2
    assert [
        (h["release_asked_by"], h["release_asked_at"], h["released_by"]) for h in seen_by_subject
    ] == [(None, None, None)] * 2
    one = _client_of(second).get(f"/api/privacy/holds/{hold.public_id}/").json()
    assert one["reason"] is None and one["person"] == second.email
    seen_by_other = _client_of(first).get("/api/privacy/holds/").json()["results"]
    assert {h["reason"] for h in seen_by_other} == {"Case 7: expenses fraud", "Case 8"}
    assert {h["released_by"] for h in seen_by_other} == {None, third.display_name}
