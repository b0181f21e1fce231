"""The built-in model in the console: it runs inside Steward, so it has no address and no
key, whatever the form's boxes still hold."""

from governance.models import Backend
from tests.governance.console import backend_form

BUILTIN = {"name": "Local SmolLM", "kind": "builtin", "model": "", "hosting_class": "on_prem"}


def test_it_refuses_a_key_typed_for_the_built_in_model(client, admin):
    """The key was sealed and the page said "a key is stored", for a model that never
    uses one."""
    client.force_login(admin)

    response = client.post("/policy/backends/new/", backend_form(**BUILTIN, credential="sk-1"))

    assert response.status_code == 422
    assert "The built-in model runs inside Steward and takes no key" in response.content.decode()
    assert not Backend.objects.exists()


def test_it_keeps_no_address_nor_key_variable_for_the_built_in_model(client, admin):
    """Switched from another kind, the form still holds that kind's address and variable:
    the built-in model uses neither, and its page and policy file showed them."""
    client.force_login(admin)

    response = client.post(
        "/policy/backends/new/",
        backend_form(**BUILTIN, base_url="http://gpu-box:11434", credential_env="OPENAI_API_KEY"),
    )

    assert response.status_code == 302
    backend = Backend.objects.get()
    assert (backend.base_url, backend.credential_env, backend.model) == ("", "", "smollm2")


def test_it_does_not_check_an_address_or_variable_the_built_in_model_never_uses(client, admin):
    """ "Use an http:// or https:// address." for a kind whose note says "No address, no
    key" (the boxes still held another kind's values)."""
    client.force_login(admin)

    response = client.post(
        "/policy/backends/new/",
        backend_form(**BUILTIN, base_url="ftp://files.example.com"),
    )

    assert response.status_code == 302
    backend = Backend.objects.get()
    assert (backend.base_url, backend.credential_env) == ("", "")
