"""Tokens that do not let their bearer in: refused and recorded, but rate limited like any
other, so a client in a loop neither fills the audit trail nor goes unthrottled."""

import datetime as dt
import logging
import time

import httpx
import pytest
from rest_framework.test import APIClient

from api import ratelimit
from api.models import ApiToken
from audit.models import AuditEvent
from chat import streams

URL = "/api/governance/categories/"


@pytest.fixture
def same_minute(redis_server, settings):
    """A limit of two a minute, and the requests that follow all in the same minute of the
    clock (the window the limit counts in)."""
    settings.STEWARD_API_REQUESTS_PER_MINUTE = 2
    while time.time() % ratelimit.WINDOW_SECONDS > ratelimit.WINDOW_SECONDS - 10:
        time.sleep(0.5)


def _fresh(person):
    """``person``, with no count left by a user of an earlier run who had the same id (a
    test database starts its ids afresh; Redis keeps the counts for the minute)."""
    redis = streams.client()
    for key in redis.scan_iter(f"steward:ratelimit:user:{person.pk}:*"):
        redis.delete(key)
    return person


def _refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.API_TOKEN_REFUSED))


def _client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.parametrize("state", ["revoked", "expired", "deactivated"])
def test_a_refused_token_in_a_loop_is_recorded_within_the_limit_then_gets_429(
    admin, token_for, same_minute, state
):
    token, secret = token_for(_fresh(admin), expires_in_days=1)
    if state == "revoked":
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=token.created_at)
    elif state == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=token.created_at)
    else:
        admin.is_active = False
        admin.save()
    client = _client(secret)
    answers = [client.get(URL) for _ in range(6)]
    assert [a.status_code for a in answers] == [401, 401, 429, 429, 429, 429]
    assert all(1 <= int(a["Retry-After"]) <= 60 for a in answers[2:])
    refusals = _refusals()
    assert len(refusals) == 2 and {e.target_id for e in refusals} == {str(token.public_id)}


def test_an_unknown_token_is_only_logged_however_often_it_comes(db, same_minute, caplog):
    client = _client("stw_" + "x" * 43)
    with caplog.at_level(logging.WARNING, logger="api.services"):
        codes = [client.get(URL).status_code for _ in range(4)]
    assert codes == [401] * 4
    assert _refusals() == []
    logged = [r.message for r in caplog.records if r.name == "api.services"]
    assert logged == ["an unknown API token was refused"] * 4


def test_a_refused_token_past_the_limit_gets_openais_429_on_v1(
    org, live_server, token_for, same_minute
):
    token, secret = token_for(_fresh(org.alice))
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=token.created_at - dt.timedelta(1))
    answers = [
        httpx.get(f"{live_server.url}/v1/models", headers={"Authorization": f"Bearer {secret}"})
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert answers[2].json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    assert len(_refusals()) == 2
