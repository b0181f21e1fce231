"""GET /healthz is for load balancers, which probe each instance directly: over plain HTTP
(no X-Forwarded-Proto) and often by its IP address. It must answer them 200, in
production too, where every other page redirects to HTTPS and checks the host."""

import pytest


@pytest.fixture
def production(settings):
    """What STEWARD_MODE=production and STEWARD_BEHIND_TLS_PROXY set."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["steward.example.com"]


def test_healthz_answers_a_plain_http_probe_in_production(client, db, production):
    response = client.get("/healthz", HTTP_HOST="steward.example.com")
    assert response.status_code == 200, response.get("Location")


def test_healthz_answers_a_probe_that_names_the_instance_by_its_address(client, db, production):
    response = client.get("/healthz", HTTP_HOST="10.0.3.17:8000")
    assert response.status_code == 200


def test_other_pages_still_redirect_and_check_the_host(client, db, production):
    assert client.get("/accounts/login/", HTTP_HOST="steward.example.com").status_code == 301
    assert client.get("/accounts/login/", HTTP_HOST="10.0.3.17:8000").status_code == 400
