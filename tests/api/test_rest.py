"""The REST API: every endpoint × role with personal tokens, writes through the services, schema."""

import json

import pytest
from django.contrib.auth.models import Group
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from api.services import create_token
from audit.models import AuditEvent
from governance.detection import detect
from governance.models import Approval, Category, DetectionRule, HostingClass, ProtectedTermList
from governance.policy_cache import read_version
from governance.roles import Role
from governance.simulation import policy_snapshot
from tests.factories import make_backend, make_category, make_user
from tests.governance.console import policy_events

BACKEND_ID = "00000000-0000-4000-8000-0000000000b1"
RULE_ID = "00000000-0000-4000-8000-0000000000a1"
TERMS_ID = "00000000-0000-4000-8000-0000000000c1"
PERSONAS = ("anon", "outsider", "staff", "admin", "privacy", "auditor")
ADMIN_ONLY = (401, 403, 403, 200, 403, 403)
AUDITOR_ONLY = (401, 403, 403, 403, 403, 200)
ENDPOINTS = {
    "/api/governance/categories/": ADMIN_ONLY,
    "/api/governance/categories/public/": ADMIN_ONLY,
    "/api/governance/backends/": ADMIN_ONLY,
    f"/api/governance/backends/{BACKEND_ID}/": ADMIN_ONLY,
    "/api/governance/approvals/": ADMIN_ONLY,
    f"/api/governance/approvals/public:{BACKEND_ID}/": ADMIN_ONLY,
    "/api/governance/clearances/": ADMIN_ONLY,
    "/api/governance/rules/": ADMIN_ONLY,
    f"/api/governance/rules/{RULE_ID}/": ADMIN_ONLY,
    "/api/governance/term-lists/": ADMIN_ONLY,
    f"/api/governance/term-lists/{TERMS_ID}/": ADMIN_ONLY,
    "/api/audit/events/": AUDITOR_ONLY,
    "/api/audit/events/1/": AUDITOR_ONLY,
    "/api/schema/": (401, 200, 200, 200, 200, 200),
}
ROLES = {
    "outsider": (),
    "staff": (Role.STAFF,),
    "admin": (Role.POLICY_ADMIN,),
    "privacy": (Role.PRIVACY_OFFICER,),
    "auditor": (Role.AUDITOR,),
}


@pytest.fixture
def policy(db):
    public = make_category()
    backend = make_backend(public_id=BACKEND_ID)
    Approval.objects.create(category=public, backend=backend)
    DetectionRule.objects.create(
        public_id=RULE_ID, name="Privilege", reason="Legal", pattern="privileged", action="warn"
    )
    terms = ProtectedTermList.objects.create(public_id=TERMS_ID, name="Clients", kind="client")
    terms.set_terms(["Acme"])
    terms.save()
    return public, backend


def _client_of(user) -> APIClient:
    client = APIClient()
    if user is not None:
        _, secret = create_token(user=user, name="t", expires_in_days=None, actor=user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_endpoint_answers_each_role_as_the_pages_do(policy, persona):
    user = None if persona == "anon" else make_user(f"{persona}@example.com", *ROLES[persona])
    client = _client_of(user)
    expected = {path: codes[PERSONAS.index(persona)] for path, codes in ENDPOINTS.items()}
    got = {path: client.get(path).status_code for path in ENDPOINTS}
    assert got == expected


def test_every_use_of_a_token_is_audited(policy, admin):
    _client_of(admin).get("/api/governance/backends/")
    event = AuditEvent.objects.get(action=AuditEvent.Action.API_REQUEST)
    assert event.actor == admin
    assert event.details == {"method": "GET", "path": "/api/governance/backends/"}


def test_it_never_shows_a_credential_or_a_term(policy, admin):
    _, backend = policy
    backend.seal_credential("sk-secret-123")
    backend.save()
    client = _client_of(admin)
    shown = client.get(f"/api/governance/backends/{BACKEND_ID}/").content.decode()
    assert "sk-secret" not in shown and '"has_credential":true' in shown
    assert "Acme" not in client.get(f"/api/governance/term-lists/{TERMS_ID}/").content.decode()


def test_an_approval_goes_through_the_service_and_is_audited(policy, admin):
    public, _ = policy
    other = make_backend(name="Second", public_id="00000000-0000-4000-8000-0000000000b2")
    client = _client_of(admin)
    made = client.post(
        "/api/governance/approvals/",
        {"category": "public", "backend": str(other.public_id), "preference": 5},
        format="json",
    )
    assert made.status_code == 201
    assert made.json()["key"] == f"public:{other.public_id}"
    assert Approval.objects.filter(backend=other, preference=5).exists()
    key = f"/api/governance/approvals/public:{other.public_id}/"
    for body, complaint in (({"preference": 0}, "preference"), ({"rank": 2}, "rank")):
        refused = client.patch(key, body, format="json")
        assert refused.status_code == 400 and complaint in refused.json()
    moved = client.patch(key, {"preference": 2}, format="json")
    assert moved.status_code == 200 and moved.json()["preference"] == 2
    assert Approval.objects.get(backend=other).preference == 2
    gone = client.delete(f"/api/governance/approvals/public:{other.public_id}/")
    assert gone.status_code == 204
    assert not Approval.objects.filter(backend=other).exists()
    changes = AuditEvent.objects.filter(action=AuditEvent.Action.POLICY_CHANGED, actor=admin)
    assert changes.count() == 3  # approved, moved, withdrawn


def test_an_approval_that_breaks_a_requirement_is_refused_with_the_reason(policy, admin):
    confidential = make_category(
        number=3, slug="confidential", name="Confidential", allowed_hosting_classes=["on_prem"]
    )
    external = make_backend(name="Cloud", hosting_class=HostingClass.EXTERNAL_API)
    refused = _client_of(admin).post(
        "/api/governance/approvals/",
        {"category": confidential.slug, "backend": str(external.public_id)},
        format="json",
    )
    assert refused.status_code == 400
    assert "Confidential needs an on-premise backend" in str(refused.json())


def test_audit_events_are_read_only_filtered_and_paged(db, reader, admin):
    client = _client_of(reader)
    _client_of(admin).get("/api/audit/events/")  # refused, but audited
    client.get("/api/governance/backends/")  # refused too (each use is recorded once answered)
    listed = client.get("/api/audit/events/", {"action": "api.request", "page_size": 1})
    assert listed.status_code == 200
    body = listed.json()
    assert [(e["action"], e["outcome"]) for e in body["results"]] == [("api.request", "blocked")]
    assert body["next"] is not None
    assert client.post("/api/audit/events/", {}).status_code == 405
    assert client.get("/api/audit/events/", {"outcome": "nonsense"}).status_code == 400


def test_the_schema_validates_and_the_docs_page_serves_it_without_a_cdn(db, client, member, capsys):
    GENERATOR_STATS.reset()  # warnings are printed once per process: count this run's
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS, capsys.readouterr().err
    validate_schema(schema)
    categories = schema["paths"]["/api/governance/categories/{slug}/"]
    assert sorted(categories) == ["get", "patch", "put"]  # retired, never deleted
    terms = schema["components"]["schemas"]["TermListRequest"]["properties"]["terms"]
    assert terms["writeOnly"] is True
    assert "/api/audit/events/" in schema["paths"]
    client.force_login(member)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert "drf_spectacular_sidecar" in docs.content.decode()
    assert "cdn" not in docs.content.decode().lower()


def test_a_rule_is_made_edited_switched_off_and_deleted_through_the_console_rules(policy, admin):
    client = _client_of(admin)
    made = client.post(
        "/api/governance/rules/",
        {"name": "Codename", "reason": "Project Falcon is secret", "kind": "keywords",
         "pattern": "falcon", "action": "block"},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    rule = DetectionRule.objects.get(name="Codename")
    url = f"/api/governance/rules/{rule.public_id}/"
    bad = client.patch(url, {"kind": "regex", "pattern": "(a+)+$"}, format="json")
    assert bad.status_code == 400 and "pattern" in bad.json()  # the console's backtracking check
    edited = client.patch(url, {"pattern": "falcon\nosprey"}, format="json")
    assert edited.status_code == 200 and edited.json()["pattern"] == "falcon\nosprey"
    assert edited.json()["reason"] == "Project Falcon is secret"  # PATCH keeps the rest
    off = client.patch(url, {"is_active": False}, format="json")
    assert off.json()["is_active"] is False
    assert client.delete(url).status_code == 204
    assert not DetectionRule.objects.filter(name="Codename").exists()
    changes = AuditEvent.objects.filter(action=AuditEvent.Action.POLICY_CHANGED, actor=admin)
    assert changes.count() == 4


def test_a_backend_is_made_with_a_sealed_key_edited_and_disabled(policy, admin):
    client = _client_of(admin)
    made = client.post(
        "/api/governance/backends/",
        {"name": "Hosted Llama", "kind": "openai", "base_url": "https://llm.example.com/v1",
         "model": "llama-3.3-70b", "hosting_class": "external_api", "region": "eu",
         "provider_retention_days": 0, "credential": "sk-rest-secret"},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["has_credential"] is True and "credential" not in body
    assert "sk-rest-secret" not in made.content.decode()
    url = f"/api/governance/backends/{body['public_id']}/"
    refused = client.patch(url, {"base_url": "https://user:pw@llm.example.com/v1"}, format="json")
    assert refused.status_code == 400 and "base_url" in refused.json()
    edited = client.patch(url, {"model": "llama-4"}, format="json")
    assert edited.json()["model"] == "llama-4" and edited.json()["has_credential"] is True
    disabled = client.patch(url, {"enabled": False}, format="json")
    assert disabled.json()["enabled"] is False
    assert client.delete(url).status_code == 405  # deleting stays in the console


def test_a_clearance_is_granted_and_withdrawn_through_the_service(policy, admin, member):
    client = _client_of(admin)
    party = f"user:{member.public_id}"
    made = client.post(
        "/api/governance/clearances/", {"category": "public", "party": party}, format="json"
    )
    assert made.status_code == 201, made.json()
    assert made.json()["key"] == f"public:{party}"
    again = client.post(
        "/api/governance/clearances/", {"category": "public", "party": party}, format="json"
    )
    assert again.status_code == 400
    assert again.json() == {"non_field_errors": [f"{member} is already cleared for Public."]}
    assert client.delete(f"/api/governance/clearances/public:{party}/").status_code == 204
    assert client.delete(f"/api/governance/clearances/public:{party}/").status_code == 404
    assert client.delete("/api/governance/clearances/public:user:not-a-uuid/").status_code == 404
    changes = AuditEvent.objects.filter(action=AuditEvent.Action.POLICY_CHANGED, actor=admin)
    assert changes.count() == 2
    make_category(number=4, slug="prohibited", name="Prohibited")
    never_sent = client.post(
        "/api/governance/clearances/", {"category": "prohibited", "party": party}, format="json"
    )
    assert never_sent.status_code == 400
    assert never_sent.json() == {
        "category": ["Prohibited is never sent to any model: nobody is cleared for it."]
    }


def test_a_deactivated_persons_clearance_is_withdrawn_by_its_key(policy, admin, member):
    """Deactivating someone keeps their clearances; an unknown or malformed party is a 404."""
    client = _client_of(admin)
    public, _ = policy
    public.clearances.create(user=member)
    public.clearances.create(group=Group.objects.get(name="Staff"))
    member.is_active = False
    member.save()
    for key in ("group:staff", "group:Root", "user:not-a-uuid", "user:12345", "user:"):
        missing = client.delete(f"/api/governance/clearances/public:{key}/")
        assert (missing.status_code, missing["Content-Type"]) == (404, "application/json"), key
    personal = f"/api/governance/clearances/public:user:{member.public_id}/"
    assert client.delete(personal).status_code == 204
    assert client.delete("/api/governance/clearances/public:group:Staff/").status_code == 204
    assert not public.clearances.exists()


def _snapshot_categories():
    """The categories as the next message's policy reading sees them."""
    return policy_snapshot(read_version()).categories


def _protected_terms(text: str) -> list[str]:
    """What the next message's detectors find as protected terms."""
    return [text[f.start : f.end] for f in detect(text).scan.findings if f.type == "PROTECTED_TERM"]


def test_a_category_is_made_edited_and_retired_through_the_console_services(policy, admin):
    client = _client_of(admin)
    made = client.post(
        "/api/governance/categories/",
        {"number": 2, "slug": "internal", "name": "Internal", "summary": "Business information.",
         "retention_days": 30, "allowed_hosting_classes": ["on_prem", "private_cloud"],
         "allowed_regions": ["EU", "ch", "eu"], "forbid_training": True,
         "finding_actions": {"CREDIT_CARD": "block", "EMAIL_ADDRESS": "pseudonymise"}},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["allowed_regions"] == ["ch", "eu"] and body["forbid_training"] is True
    # the level's default (replace) is dropped, as the console's matrix drops it
    assert body["finding_actions"] == {"CREDIT_CARD": "block"}
    assert [(e.message, e.actor) for e in reversed(policy_events())] == [
        ("Category created", admin),
        ("Category edited", admin),
    ]
    seen = _snapshot_categories()[2]
    assert seen.allowed_regions == ("ch", "eu") and seen.finding_actions["CREDIT_CARD"] == "block"

    edited = client.patch(
        "/api/governance/categories/internal/",
        {"retention_days": 60, "require_dpa": True},
        format="json",
    )
    assert edited.status_code == 200, edited.json()
    assert edited.json()["retention_days"] == 60
    assert edited.json()["summary"] == "Business information."  # PATCH keeps the rest
    assert edited.json()["allowed_regions"] == ["ch", "eu"]
    event = policy_events()[0]
    assert event.before == {"retention_days": 30, "require_dpa": False}
    assert event.after == {"retention_days": 60, "require_dpa": True}
    assert _snapshot_categories()[2].require_dpa is True

    retired = client.patch(
        "/api/governance/categories/internal/", {"is_active": False}, format="json"
    )
    assert retired.json()["is_active"] is False
    event = policy_events()[0]
    assert (event.before, event.after) == ({"is_active": True}, {"is_active": False})
    assert event.target_type == "governance.category" and event.actor == admin
    assert 2 not in _snapshot_categories()
    assert client.delete("/api/governance/categories/internal/").status_code == 405  # retire it
    assert Category.objects.filter(slug="internal").exists()


def test_a_put_gives_every_field_and_the_matrix_sets_national_identifiers_together(policy, admin):
    client = _client_of(admin)
    url = "/api/governance/categories/public/"
    shown = client.get(url).json()
    put = client.put(
        url,
        {**shown, "summary": "Already public.", "allowed_regions": "EU, ch",
         "finding_actions": {"NATIONAL_ID": "block"}},
        format="json",
    )  # fmt: skip
    assert put.status_code == 200, put.json()
    category = Category.objects.get(slug="public")
    assert category.summary == "Already public." and category.allowed_regions == ["ch", "eu"]
    assert category.finding_actions["US_SSN"] == category.finding_actions["UK_NINO"] == "block"
    assert _snapshot_categories()[1].finding_actions["FR_NIR"] == "block"
    cleared = client.patch(url, {"finding_actions": {}}, format="json")
    assert cleared.json()["finding_actions"] == {}
    assert Category.objects.get(slug="public").finding_actions == {}


def test_bad_category_input_is_explained_and_nothing_saved(policy, admin):
    client = _client_of(admin)
    before = client.get("/api/governance/categories/public/").json()
    refusals = [
        ("post", "", {"number": 1, "slug": "public", "name": "", "summary": "x",
                      "blocks_all": True, "retention_days": 7}, {
            "number": ["Level 1 is already Public's: choose a level no category has."],
            "slug": ["A category with this short name already exists."],
            "name": ["Give the category a name."],
            "retention_days": ["A prohibited category stores nothing: leave retention empty."],
        }),
        ("post", "", {"number": 12, "slug": "top", "name": "Top", "summary": "x"},
         {"number": ["Levels go from 1 (public) to 9."]}),
        ("post", "", {"number": 2, "slug": "internal", "name": "Internal", "summary": "x",
                      "finding_actions": {"SECRET": "allow"}},
         {"finding_actions": ["SECRET: Select a valid choice. allow is not one of the "
                              "available choices."]}),
        ("patch", "public/", {"number": 5}, {"number": ["Fixed once created."]}),
        ("patch", "public/", {"slug": "open"}, {"slug": ["Fixed once created."]}),
        ("patch", "public/", {"allowed_hosting_classes": ["moon"]},
         {"allowed_hosting_classes": ["Select a valid choice. moon is not one of the "
                                      "available choices."]}),
        ("patch", "public/", {"finding_actions": {"NOPE": "block"}},
         {"finding_actions": ["Unknown finding type: NOPE. Known: EMAIL_ADDRESS, PHONE_NUMBER, "
                              "CREDIT_CARD, IBAN_CODE, IP_ADDRESS, URL, CRYPTO, SECRET, PERSON, "
                              "PROTECTED_TERM, NATIONAL_ID."]}),
        ("patch", "public/", {"finding_actions": {"US_SSN": "block", "UK_NINO": "allow"}},
         {"finding_actions": ["National identifiers take one action together."]}),
        ("patch", "public/", {"finding_actions": ["block"]},
         {"finding_actions": ["Give an object: finding type -> action."]}),
        # checked before anything is saved: the retention does not change either
        ("patch", "public/", {"retention_days": 7, "is_active": "no"},
         {"is_active": ["Must be true or false."]}),
        ("patch", "public/", {"retention_days": 7, "finding_actions": {"URL": "shout"}},
         {"finding_actions": ["URL: Select a valid choice. shout is not one of the available "
                              "choices."]}),
    ]  # fmt: skip
    for method, path, data, errors in refusals:
        refused = getattr(client, method)(f"/api/governance/categories/{path}", data, format="json")
        assert (refused.status_code, refused.json()) == (400, errors), data
    assert list(Category.objects.values_list("slug", flat=True)) == ["public"]
    assert client.get("/api/governance/categories/public/").json() == before
    assert policy_events() == []


def test_a_term_list_is_made_replaced_switched_off_and_deleted_never_showing_a_term(policy, admin):
    client = _client_of(admin)
    made = client.post(
        "/api/governance/term-lists/",
        {"name": "Codenames", "kind": "codename", "terms": "Nightjar\nOsprey"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["term_count"] == 2 and "terms" not in body
    assert _protected_terms("Operation Nightjar starts") == ["Nightjar"]
    url = f"/api/governance/term-lists/{body['public_id']}/"

    replaced = client.patch(url, {"terms": ["Falcon, Inc.", "Kestrel"]}, format="json")
    assert replaced.status_code == 200, replaced.json()
    term_list = ProtectedTermList.objects.get(name="Codenames")
    assert term_list.terms() == ["Falcon, Inc.", "Kestrel"]  # a list keeps a comma in a term
    assert _protected_terms("Operation Nightjar, then Kestrel") == ["Kestrel"]
    renamed = client.patch(url, {"name": "Birds"}, format="json")
    assert renamed.json()["name"] == "Birds" and renamed.json()["kind"] == "codename"
    assert ProtectedTermList.objects.get(name="Birds").terms() == ["Falcon, Inc.", "Kestrel"]
    off = client.patch(url, {"is_active": False}, format="json")
    assert off.json()["is_active"] is False
    assert _protected_terms("Kestrel") == []

    shown = [
        made,
        replaced,
        renamed,
        off,
        client.get(url),
        client.get("/api/governance/term-lists/"),
    ]
    assert client.delete(url).status_code == 204
    assert not ProtectedTermList.objects.filter(public_id=body["public_id"]).exists()
    events = list(reversed(policy_events()))
    assert [e.message for e in events] == [
        "Term list created", "Term list edited", "Term list edited", "Term list edited",
        "Term list deleted",
    ]  # fmt: skip
    assert events[1].after == {"terms replaced": True}
    recorded = json.dumps([[e.before, e.after, e.details, e.message] for e in events])
    for term in ("Nightjar", "Osprey", "Falcon", "Kestrel"):
        assert all(term not in r.content.decode() for r in shown), term
        assert term not in recorded, term


def test_bad_term_list_input_is_explained_and_nothing_saved(policy, admin):
    client = _client_of(admin)
    refusals = [
        ({"name": "Staff", "kind": "staff"}, {"terms": ["Paste the terms or upload a CSV file."]}),
        ({"name": "Staff", "kind": "staff", "terms": []}, {"terms": ["No terms found."]}),
        ({"name": "Staff", "kind": "staff", "terms": ", ,"}, {"terms": ["No terms found."]}),
        ({"name": "Staff", "kind": "staff", "terms": [1, 2]},
         {"terms": ["Give a string (one term per line) or a list of strings."]}),
        ({"name": "Staff", "kind": "staff", "terms": ["Ann\nBob"]},
         {"terms": ["A term cannot hold a line break."]}),
        ({"name": "Clients", "kind": "martian", "terms": "Ann"}, {
            "name": ["A term list with this name already exists."],
            "kind": ["Select a valid choice. martian is not one of the available choices."],
        }),
    ]  # fmt: skip
    for data, errors in refusals:
        refused = client.post("/api/governance/term-lists/", data, format="json")
        assert (refused.status_code, refused.json()) == (400, errors), data
    form_encoded = client.post("/api/governance/term-lists/", {"name": "Staff", "terms": "Ann"})
    assert form_encoded.status_code == 415  # JSON only: a form's body gives the form lists
    url = f"/api/governance/term-lists/{TERMS_ID}/"
    for data in ({"terms": ""}, {"is_active": 0}, {"name": "", "is_active": False}):
        assert client.patch(url, data, format="json").status_code == 400, data
    term_list = ProtectedTermList.objects.get()
    assert (term_list.name, term_list.terms(), term_list.is_active) == ("Clients", ["Acme"], True)
    assert policy_events() == []


WRITES = [
    ("post", "/api/governance/categories/", {"number": 2, "slug": "internal", "name": "Internal",
                                             "summary": "x"}),
    ("patch", "/api/governance/categories/public/", {"is_active": False}),
    ("put", "/api/governance/categories/public/", {"name": "Open", "summary": "x"}),
    ("post", "/api/governance/term-lists/", {"name": "Staff", "kind": "staff", "terms": "Ann"}),
    ("patch", f"/api/governance/term-lists/{TERMS_ID}/", {"terms": "Globex"}),
    ("delete", f"/api/governance/term-lists/{TERMS_ID}/", None),
]  # fmt: skip


@pytest.mark.parametrize("persona", ["anon", "outsider", "staff", "privacy", "auditor"])
def test_only_policy_admins_may_change_categories_and_term_lists(policy, persona):
    user = None if persona == "anon" else make_user(f"{persona}@example.com", *ROLES[persona])
    client = _client_of(user)
    got = {
        (method, path): getattr(client, method)(path, data, format="json").status_code
        for method, path, data in WRITES
    }
    assert set(got.values()) == {401 if persona == "anon" else 403}, got
    assert list(Category.objects.values_list("slug", "name", "is_active")) == [
        ("public", "Public", True)
    ]
    term_list = ProtectedTermList.objects.get()
    assert (term_list.name, term_list.terms()) == ("Clients", ["Acme"])
    assert policy_events() == []
