"""The REST API: every endpoint × role with personal tokens, writes through the services, schema."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from api.services import create_token
from audit.models import AuditEvent
from governance.models import Approval, DetectionRule, HostingClass, ProtectedTermList
from governance.roles import Role
from tests.factories import make_backend, make_category, make_user

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
    gone = client.delete(f"/api/governance/approvals/public:{other.public_id}/")
    assert gone.status_code == 204
    assert not Approval.objects.filter(backend=other).exists()
    changes = AuditEvent.objects.filter(action=AuditEvent.Action.POLICY_CHANGED, actor=admin)
    assert changes.count() == 2


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
    listed = client.get("/api/audit/events/", {"action": "api.request", "page_size": 1})
    assert listed.status_code == 200
    body = listed.json()
    assert [e["action"] for e in body["results"]] == ["api.request"]
    assert body["next"] is not None
    assert client.post("/api/audit/events/", {}).status_code == 405
    assert client.get("/api/audit/events/", {"outcome": "nonsense"}).status_code == 400


def test_the_schema_validates_and_the_docs_page_serves_it_without_a_cdn(db, client, member):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
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
    assert client.delete(f"/api/governance/clearances/public:{party}/").status_code == 204
    assert client.delete(f"/api/governance/clearances/public:{party}/").status_code == 404
    assert client.delete("/api/governance/clearances/public:user:not-a-uuid/").status_code == 404
    changes = AuditEvent.objects.filter(action=AuditEvent.Action.POLICY_CHANGED, actor=admin)
    assert changes.count() == 2
