"""Deactivating an account ends its sessions and revokes its API tokens: reactivating it must
not bring back a cookie or a token from before."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services import TokenRefused, authenticate, create_token
from audit.models import AuditEvent
from governance import services
from governance.services import accounts

Action = AuditEvent.Action


def _token_for(user) -> str:
    _, raw = create_token(user=user, name="laptop", expires_in_days=None, actor=user)
    return raw


def _api(raw: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def _deactivate_and_reactivate(admin_client: Client, person) -> None:
    url = f"/policy/users/{person.public_id}/"
    assert admin_client.post(url, {"active": "0"}).status_code == 302
    assert admin_client.post(url, {"active": "1"}).status_code == 302


def test_a_session_from_before_deactivation_fails_after_reactivation(client, admin, reader):
    theirs = Client()
    theirs.force_login(reader)
    assert theirs.get("/audit/").status_code == 200
    client.force_login(admin)
    _deactivate_and_reactivate(client, reader)
    response = theirs.get("/audit/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/policy/users/").status_code == 200  # the admin's own session stays


def test_a_token_from_before_deactivation_fails_after_reactivation(client, admin, reader):
    raw = _token_for(reader)
    assert _api(raw).get("/api/audit/events/").status_code == 200
    client.force_login(admin)
    _deactivate_and_reactivate(client, reader)
    assert _api(raw).get("/api/audit/events/").status_code in (401, 403)
    with pytest.raises(TokenRefused, match="revoked"):
        authenticate(raw)  # what /v1 asks too


def test_the_deactivation_counts_what_it_ended_and_names_no_session(client, admin, reader, member):
    Client().force_login(reader)
    Client().force_login(reader)  # two browsers
    Client().force_login(member)  # someone else's session stays
    _token_for(reader)
    client.force_login(admin)
    response = client.post(f"/policy/users/{reader.public_id}/", {"active": "0"}, follow=True)
    assert (
        "reader@example.com is now deactivated: 2 sessions ended, 1 API token revoked."
        in response.content.decode()
    )
    event = AuditEvent.objects.get(action=Action.USER_DEACTIVATED)
    assert event.details == {"sessions_ended": 2, "api_tokens_revoked": 1}
    revoked = AuditEvent.objects.get(action=Action.API_TOKEN_REVOKED)
    assert revoked.message == "Account deactivated" and revoked.actor == admin
    assert Session.objects.count() == 2  # the admin's and the member's
    assert not ApiToken.objects.filter(user=reader).usable().exists()


def test_nothing_is_ended_when_the_deactivation_cannot_be_audited(admin, reader, monkeypatch):
    """One transaction: the sessions and tokens stay if the deactivation rolls back."""
    from django.db import DatabaseError

    theirs = Client()
    theirs.force_login(reader)
    raw = _token_for(reader)
    real = accounts.record

    def failing(**event):
        if event["action"] == Action.USER_DEACTIVATED:
            raise DatabaseError("audit table unavailable")
        return real(**event)

    monkeypatch.setattr(accounts, "record", failing)
    with pytest.raises(DatabaseError):
        services.set_active(user=reader, active=False, actor=admin)
    assert theirs.get("/audit/").status_code == 200
    assert authenticate(raw).user == reader
    assert not AuditEvent.objects.filter(action=Action.API_TOKEN_REVOKED).exists()


def test_reactivating_ends_what_an_older_deactivation_left(client, admin, reader):
    """An account deactivated before deactivations ended anything still holds its cookies."""
    theirs = Client()
    theirs.force_login(reader)
    raw = _token_for(reader)
    type(reader).objects.filter(pk=reader.pk).update(is_active=False)
    reader.refresh_from_db()
    client.force_login(admin)
    response = client.post(f"/policy/users/{reader.public_id}/", {"active": "1"}, follow=True)
    assert "reader@example.com is active again" in response.content.decode()
    assert theirs.get("/audit/").status_code == 302
    with pytest.raises(TokenRefused):
        authenticate(raw)
    event = AuditEvent.objects.get(action=Action.USER_REACTIVATED)
    assert event.details == {"sessions_ended": 1, "api_tokens_revoked": 1}
