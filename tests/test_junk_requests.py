"""What no form cleans before it is used: query-string numbers, REST cursors, a select's raw
value, bodies a REST endpoint cannot read, and text past what a parser takes. Each is the
client's error, answered as one (400, 404, 422), never a 500."""

import base64

import pytest
from django.db import connection
from rest_framework.test import APIClient

from api.services import create_token
from governance.models import Backend, ProtectedTermList
from tests.governance.console import backend_form
from tests.test_access import personas  # noqa: F401  (the fixture)

MANY_DIGITS = "9" * 5000  # int() refuses past 4,300 digits

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite stores a NUL; PostgreSQL refuses it"
)


@pytest.fixture
def signed_in(client, personas):  # noqa: F811
    def as_(persona):
        client.force_login(personas[persona])
        return client

    return as_


@pytest.fixture
def api_of(personas):  # noqa: F811
    def of(persona):
        user = personas[persona]
        _, secret = create_token(user=user, name="t", expires_in_days=None, actor=user)
        api = APIClient(raise_request_exception=False)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return api

    return of


@pytest.mark.parametrize(
    "url",
    [f"/audit/?before={MANY_DIGITS}", f"/audit/charts/requests-per-day.svg?at={MANY_DIGITS}"],
)
def test_a_number_of_thousands_of_digits_is_no_number(signed_in, url):
    assert signed_in("auditor").get(url).status_code == 200


def test_a_rest_page_size_of_thousands_of_digits_is_refused(api_of):
    refused = api_of("auditor").get(f"/api/audit/events/?page_size={MANY_DIGITS}")
    assert refused.status_code == 400 and "page_size" in refused.json()


@pytest.mark.parametrize("position", ["p=abc", "p=%00", "p=" + MANY_DIGITS])
def test_a_forged_rest_cursor_is_a_404(api_of, position):
    cursor = base64.b64encode(position.encode()).decode()
    refused = api_of("auditor").get("/api/audit/events/", {"cursor": cursor})
    assert refused.status_code == 404 and refused.json() == {"detail": "Invalid cursor"}


def test_a_term_past_what_csv_reads_is_explained_and_the_name_kept(signed_in, api_of):
    page = signed_in("admin").post(
        "/policy/term-lists/new/", {"name": "Clients 2", "kind": "client", "pasted": "a" * 140_000}
    )
    assert page.status_code == 422
    assert "One term runs past 131,072 characters" in page.content.decode()
    assert 'value="Clients 2"' in page.content.decode()
    refused = api_of("admin").post(
        "/api/governance/term-lists/",
        {"name": "Clients 2", "kind": "client", "terms": "a" * 140_000},
        format="json",
    )
    assert refused.status_code == 400 and "One term runs past" in str(refused.json())
    assert not ProtectedTermList.objects.filter(name="Clients 2").exists()


@pytest.mark.parametrize(
    ("address", "complaint"),
    [
        ("http://[1111", "This is not a valid web address."),
        ("https://[zz]/", "This is not a valid web address."),
        ("http://user:hunter2x@[::1", "Remove the user name and password"),
    ],
)
def test_a_malformed_ipv6_address_is_explained(signed_in, api_of, address, complaint):
    page = signed_in("admin").post("/policy/backends/new/", backend_form(base_url=address))
    assert page.status_code == 422 and complaint in page.content.decode()
    assert "hunter2x" not in page.content.decode()
    refused = api_of("admin").post(
        "/api/governance/backends/",
        {"name": "B", "kind": "openai", "base_url": address, "model": "m"}
        | {"hosting_class": "on_prem"},
        format="json",
    )
    assert refused.status_code == 400 and complaint in str(refused.json())
    assert not Backend.objects.filter(name__in=["B", "Azure EU"]).exists()


@postgresql_only
@pytest.mark.parametrize(
    ("persona", "method", "url", "data"),
    [
        ("staff", "post", "/chat/new/", {"category": "a\x00b"}),
        ("admin", "get", "/policy/users/", {"q": "a\x00b"}),
        ("admin", "post", "/policy/clearances/revoke/", {"category": "x\x00", "party": "group:S"}),
    ],
)
def test_a_nul_sent_to_a_lookup_is_a_400(signed_in, persona, method, url, data):
    answered = getattr(signed_in(persona), method)(url, data)
    assert answered.status_code == 400
    assert "a character that cannot be stored" in answered.content.decode()


def test_a_rest_body_of_too_many_fields_is_a_400(api_of):
    body = "&".join(f"f{i}=1" for i in range(1500))
    refused = api_of("privacy").post(
        "/api/privacy/requests/", body, content_type="application/x-www-form-urlencoded"
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "detail": "The request could not be read: malformed, or too many fields."
    }
