"""A token does not get round the two-factor rule: someone whose role requires it, and who
has none set up, is refused by the REST API and /v1 as the site sends them to enrol."""

import openai
import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from rest_framework.test import APIClient

from api.authentication import MFA_REQUIRED
from audit.models import AuditEvent
from governance.roles import Role
from tests.factories import make_user

URL = "/api/governance/categories/"


def _rest(token_for, user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)[1]}")
    return client


def test_a_policy_admins_token_waits_for_their_second_factor(admin, token_for, settings):
    settings.STEWARD_REQUIRE_MFA = True
    client = _rest(token_for, admin)
    refused = client.get(URL)
    assert refused.status_code == 403
    assert refused.json()["detail"] == MFA_REQUIRED
    event = AuditEvent.objects.get(action=AuditEvent.Action.API_REQUEST)
    assert event.details["refused"] == MFA_REQUIRED and event.actor_id == admin.pk
    TOTP.activate(admin, generate_totp_secret())
    assert client.get(URL).status_code == 200


def test_without_the_rule_or_for_other_roles_a_token_needs_no_second_factor(
    admin, reader, token_for, settings
):
    settings.STEWARD_REQUIRE_MFA = False
    assert _rest(token_for, admin).get(URL).status_code == 200
    settings.STEWARD_REQUIRE_MFA = True
    assert _rest(token_for, reader).get("/api/audit/events/").status_code == 200


def test_v1_refuses_a_privacy_officers_token_until_they_enrol(org, openai_for, settings):
    settings.STEWARD_REQUIRE_MFA = True
    officer = make_user("pia@example.com", Role.STAFF, Role.PRIVACY_OFFICER)
    client = openai_for(officer)
    ask = {"model": "auto", "messages": [{"role": "user", "content": "Hello"}]}
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(**ask)
    assert refused.value.body["code"] == "mfa_required"
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.models.list()  # which backends serve which categories: not before either
    assert refused.value.body["code"] == "mfa_required"
    assert openai_for(org.alice).chat.completions.create(**ask).choices[0].message.content
    TOTP.activate(officer, generate_totp_secret())
    assert client.chat.completions.create(**ask).choices[0].message.content
    assert client.models.list().data
