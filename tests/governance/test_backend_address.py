"""Where a backend may be sent: an address that ends at its path, and, when the operator
sets STEWARD_BACKEND_HOSTS, only to the hosts it lists (checked at save and at each call)."""

import socket

import pytest
from django.core.exceptions import ImproperlyConfigured

from chat.llm import LLMError, adapter_for
from config import env
from config.env import backend_host_problem, backend_hosts
from governance.models import Backend
from tests.factories import make_backend
from tests.fakes.llm_servers import FakeLLM
from tests.governance.console import HTMX, backend_form

ENDS_AT_PATH = "The address ends at its path: no ?query or #fragment."
ON_PREM = ("10.0.0.0/8", "gpu-box", "fd00::/8")


def _create(api, base_url: str):
    backend = {"name": "Probe", "kind": "ollama", "base_url": base_url, "model": "llama3.2"}
    return api.post("/api/governance/backends/", backend | {"hosting_class": "on_prem"}, "json")


@pytest.fixture
def dns(monkeypatch):
    """Names resolved as the test says; addresses (2130706433 too) as the system reads them;
    any other name: not found."""
    answers: dict[str, list[str]] = {}
    system = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in answers:
            return system(host, None, flags=socket.AI_NUMERICHOST)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in answers[host]]

    monkeypatch.setattr(env.socket, "getaddrinfo", getaddrinfo)
    return answers


# --- the address ends at its path ----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8813/admin/secret?x=",
        "http://127.0.0.1:8813/admin/secret?",
        "http://127.0.0.1:8813/admin/secret#",
        "http://127.0.0.1:8813/admin/secret#top",
        "https://api.example.com/v1?version=2",
    ],
)
def test_a_query_or_fragment_is_refused_by_the_console_and_the_api(client, admin, api, url):
    client.force_login(admin)
    response = client.post("/policy/backends/new/", backend_form(base_url=url), **HTMX)
    assert response.status_code == 422 and ENDS_AT_PATH.encode() in response.content
    refused = _create(api, url)
    assert (refused.status_code, refused.json()) == (400, {"base_url": [ENDS_AT_PATH]})
    assert Backend.objects.count() == 0


def test_a_credential_in_the_query_is_still_named_as_one(api):
    refused = _create(api, "https://api.example.com/v1?api_key=abc")
    assert "carries a credential (api_key=" in refused.json()["base_url"][0]


def test_an_address_ending_at_its_path_is_taken(api):
    assert _create(api, "http://gpu-box:11434/ollama/").status_code == 201


# --- STEWARD_BACKEND_HOSTS -----------------------------------------------------------


def test_the_variable_is_read_as_names_and_networks(monkeypatch):
    monkeypatch.setenv("STEWARD_BACKEND_HOSTS", " 10.0.0.0/8, GPU-box.,192.168.1.20 ,")
    assert backend_hosts() == ("10.0.0.0/8", "gpu-box", "192.168.1.20")
    monkeypatch.setenv("STEWARD_BACKEND_HOSTS", "")
    assert backend_hosts() == ()


@pytest.mark.parametrize("value", ["http://gpu-box", "10.0.0.0/33", "gpu box", "*.example.com"])
def test_a_malformed_entry_stops_the_start(monkeypatch, value):
    monkeypatch.setenv("STEWARD_BACKEND_HOSTS", f"gpu-box,{value}")
    with pytest.raises(ImproperlyConfigured, match="STEWARD_BACKEND_HOSTS"):
        backend_hosts()


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3:11434",
        "http://GPU-BOX:11434",  # named: taken as it is, not resolved
        "http://[fd00::5]:8000/v1",
        "http://ollama.internal:11434",  # resolves into 10.0.0.0/8
        "",  # no address: the kind's own (the vendor's)
    ],
)
def test_listed_hosts_are_allowed(dns, url):
    dns["ollama.internal"] = ["10.9.9.9"]
    assert backend_host_problem(url, ON_PREM) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8813/plain",
        "http://2130706433:8813/json",  # 127.0.0.1 written as one number
        "http://0x7f000001:8813/json",
        "http://[::1]:8813/json",
        "http://[::ffff:127.0.0.1]:8813/json",
        "http://169.254.169.254/latest",
        "http://mixed.internal:11434",  # one of its addresses is outside
        "http://gpu-box.example.com:11434",  # a longer name is another name
    ],
)
def test_other_hosts_are_refused(dns, url):
    dns["mixed.internal"] = ["10.9.9.9", "127.0.0.1"]
    problem = backend_host_problem(url, ON_PREM)
    assert problem is not None and "STEWARD_BACKEND_HOSTS" in problem


def test_a_v4_mapped_address_counts_as_its_v4_one():
    assert backend_host_problem("http://[::ffff:10.0.0.7]:80", ON_PREM) is None


def test_a_name_that_does_not_resolve_is_refused(dns):
    problem = backend_host_problem("http://nowhere.internal:11434", ON_PREM)
    assert problem.startswith("nowhere.internal cannot be resolved")


def test_without_the_variable_any_host_is_allowed():
    assert backend_host_problem("http://127.0.0.1:8813/plain", ()) is None


def test_the_console_and_the_api_refuse_an_unlisted_host(client, admin, api, settings):
    settings.STEWARD_BACKEND_HOSTS = ON_PREM
    client.force_login(admin)
    url = "http://127.0.0.1:11434"
    response = client.post("/policy/backends/new/", backend_form(base_url=url), **HTMX)
    assert response.status_code == 422 and b"STEWARD_BACKEND_HOSTS" in response.content
    refused = _create(api, url)
    assert refused.status_code == 400 and "127.0.0.1" in refused.json()["base_url"][0]
    assert _create(api, "http://10.0.0.2:11434").status_code == 201
    assert Backend.objects.count() == 1


def test_a_backend_saved_before_the_list_is_not_called(client, admin, settings):
    fake = FakeLLM("ollama")
    try:
        backend = make_backend(name="Old", kind="ollama", base_url=fake.url)
        settings.STEWARD_BACKEND_HOSTS = ON_PREM
        with pytest.raises(LLMError) as info:
            adapter_for(backend)
        assert info.value.kind == "config" and "STEWARD_BACKEND_HOSTS" in str(info.value)
        client.force_login(admin)
        client.post(f"/policy/backends/{backend.public_id}/test/")
        backend.refresh_from_db()
        assert backend.health_error.startswith("Old may not be called: 127.0.0.1 is not")
        assert fake.requests == []
    finally:
        fake.stop()
