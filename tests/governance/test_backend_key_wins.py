"""A key typed on the backend form replaces the variable named beside it (which comes filled
in), rather than being refused and thrown away."""

from rest_framework.test import APIClient

from api.services import create_token
from governance.models import Backend
from tests.factories import make_backend
from tests.governance.console import HTMX, backend_form, only_event

KEY = "sk-live-0123456789abcdefTYPED"


def _openai_from_variable() -> Backend:
    return make_backend(
        name="OpenAI business API",
        kind=Backend.Kind.OPENAI,
        base_url="https://api.openai.com/v1",
        model="gpt-4o-mini",
        credential_env="OPENAI_API_KEY",
    )


def _edit(backend: Backend, **fields) -> dict:
    return backend_form(
        name=backend.name,
        kind=backend.kind,
        base_url=backend.base_url,
        model=backend.model,
        credential_env=backend.credential_env,  # as the form comes filled in
        **fields,
    )


def test_a_typed_key_replaces_the_prefilled_variable(client, admin):
    backend = _openai_from_variable()
    client.force_login(admin)
    response = client.post(
        f"/policy/backends/{backend.public_id}/", _edit(backend, credential=KEY), follow=True
    )
    assert response.redirect_chain == [(f"/policy/backends/{backend.public_id}/", 302)]
    assert (
        "OpenAI business API saved. The key you typed replaces the variable OPENAI_API_KEY."
        in response.content.decode()
    )
    backend.refresh_from_db()
    assert backend.open_credential() == KEY and backend.credential_env == ""
    event = only_event()
    assert event.before["credential_env"] == "OPENAI_API_KEY"
    assert event.after["credential_env"] == "" and event.after["credential changed"] is True
    assert KEY not in response.content.decode()


def test_the_message_names_the_variable_the_script_emptied(client, admin):
    """With the page's script, the variable's field is empty by the time the form is sent."""
    backend = _openai_from_variable()
    client.force_login(admin)
    response = client.post(
        f"/policy/backends/{backend.public_id}/",
        _edit(backend, credential=KEY) | {"credential_env": ""},
        follow=True,
    )
    assert "The key you typed replaces the variable OPENAI_API_KEY." in response.content.decode()
    backend.refresh_from_db()
    assert backend.open_credential() == KEY and backend.credential_env == ""


def test_a_new_backend_with_both_keeps_the_key(client, admin):
    client.force_login(admin)
    response = client.post(
        "/policy/backends/new/",
        backend_form(credential=KEY, credential_env="EU_LLM_KEY"),
        follow=True,
    )
    assert "Azure EU added. The key you typed replaces the variable EU_LLM_KEY." in (
        response.content.decode()
    )
    backend = Backend.objects.get()
    assert backend.open_credential() == KEY and backend.credential_env == ""


def test_the_variable_is_not_checked_when_a_key_replaces_it(client, admin):
    """A variable that may not be named is dropped with the rest: the typed key is used."""
    backend = _openai_from_variable()
    client.force_login(admin)
    response = client.post(
        f"/policy/backends/{backend.public_id}/",
        _edit(backend, credential=KEY) | {"credential_env": "SECRET_KEY"},
        **HTMX,
    )
    assert response.status_code == 200
    backend.refresh_from_db()
    assert backend.open_credential() == KEY and backend.credential_env == ""


def test_without_a_typed_key_the_variable_stays_and_is_checked(client, admin):
    backend = _openai_from_variable()
    client.force_login(admin)
    kept = client.post(f"/policy/backends/{backend.public_id}/", _edit(backend, credential="  "))
    assert kept.status_code == 302
    backend.refresh_from_db()
    assert backend.credential_env == "OPENAI_API_KEY" and not backend.credential_encrypted
    refused = client.post(
        f"/policy/backends/{backend.public_id}/",
        _edit(backend, credential=" ") | {"credential_env": "SECRET_KEY"},
        **HTMX,
    )
    assert refused.status_code == 422


def test_a_bad_key_still_keeps_the_variable(client, admin):
    backend = _openai_from_variable()
    client.force_login(admin)
    response = client.post(
        f"/policy/backends/{backend.public_id}/",
        _edit(backend, credential="sk with spaces"),
        **HTMX,
    )
    assert response.status_code == 422
    assert "Type the key again" in response.content.decode()
    assert 'value="OPENAI_API_KEY"' in response.content.decode()
    backend.refresh_from_db()
    assert backend.credential_env == "OPENAI_API_KEY"


def test_the_rest_api_applies_the_same_rule(admin):
    backend = _openai_from_variable()
    _, token = create_token(user=admin, name="t", expires_in_days=None, actor=admin)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.patch(
        f"/api/governance/backends/{backend.public_id}/", {"credential": KEY}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["credential_env"] == ""
    backend.refresh_from_db()
    assert backend.open_credential() == KEY


def test_the_page_loads_the_script_that_clears_the_variable_as_a_key_is_typed(client, admin):
    client.force_login(admin)
    page = client.get("/policy/backends/new/").content.decode()
    assert '<script src="/static/js/backend_key.js" defer></script>' in page
    script = client.get("/static/js/backend_key.js")
    assert script.status_code == 200
    assert b'namedItem("credential_env")' in b"".join(script.streaming_content)
