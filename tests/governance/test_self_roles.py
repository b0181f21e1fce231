"""Separation of duties: nobody raises their own roles, and every grant of Auditor or Privacy
officer is mailed to the auditors."""

import logging
import smtplib

import pytest
from django.core import mail

from audit.models import AuditEvent
from governance import services
from governance.roles import Role, roles_of
from tests.factories import make_user

Action = AuditEvent.Action
REFUSED = "another policy admin changes your roles"


@pytest.fixture
def paula(db):
    return make_user("paula@example.com", Role.STAFF, Role.POLICY_ADMIN, full_name="Paula")


@pytest.fixture
def pat(db):
    """A second policy admin: paula is not the last one."""
    return make_user("pat@example.com", Role.POLICY_ADMIN, full_name="Pat")


def _role_events():
    return list(AuditEvent.objects.filter(action=Action.USER_ROLES_CHANGED))


def test_a_policy_admin_cannot_make_themselves_auditor_on_the_page(client, paula, pat):
    client.force_login(paula)
    response = client.post(
        f"/policy/users/{paula.public_id}/",
        {"roles": ["staff", "policy_admin", "privacy_officer", "auditor"]},
        follow=True,
    )
    page = response.content.decode()
    assert "You cannot give yourself the Privacy officer and Auditor roles" in page
    assert REFUSED in page
    assert roles_of(type(paula).objects.get(pk=paula.pk)) == [Role.STAFF, Role.POLICY_ADMIN]
    assert _role_events() == []
    assert client.get("/audit/").status_code == 403
    assert client.get("/privacy/").status_code == 403


def test_the_service_refuses_a_self_grant_whatever_path_calls_it(paula, pat):
    """The REST API has no users endpoint; any that comes calls set_roles, which refuses."""
    with pytest.raises(services.PolicyError, match=REFUSED):
        services.set_roles(user=paula, roles=[*roles_of(paula), Role.AUDITOR], actor=paula)
    # Trading a role for another is a grant too.
    with pytest.raises(services.PolicyError, match="the Privacy officer role:"):
        services.set_roles(user=paula, roles=[Role.POLICY_ADMIN, Role.PRIVACY_OFFICER], actor=paula)
    assert roles_of(type(paula).objects.get(pk=paula.pk)) == [Role.STAFF, Role.POLICY_ADMIN]
    assert _role_events() == []


def test_giving_up_ones_own_role_is_allowed_and_audited(client, owner, pat):
    client.force_login(owner)
    response = client.post(
        f"/policy/users/{owner.public_id}/",
        {"roles": ["staff", "policy_admin", "privacy_officer"]},  # the auditor's role given up
    )
    assert response.status_code == 302
    assert roles_of(type(owner).objects.get(pk=owner.pk)) == [
        Role.STAFF,
        Role.POLICY_ADMIN,
        Role.PRIVACY_OFFICER,
    ]
    [event] = _role_events()
    assert event.actor == owner and "auditor" not in event.after["roles"]


def test_a_policy_admin_may_take_staff_to_chat(
    admin, reader, pat, django_capture_on_commit_callbacks
):
    """Staff only lets them chat, in the categories they clear anyway: no one watches with it."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.set_roles(user=admin, roles=[Role.STAFF, Role.POLICY_ADMIN], actor=admin)
    assert roles_of(type(admin).objects.get(pk=admin.pk)) == [Role.STAFF, Role.POLICY_ADMIN]
    assert callbacks == [] and mail.outbox == []


def test_the_last_policy_admin_still_cannot_step_down(paula):
    with pytest.raises(services.PolicyError, match="at least one active policy admin"):
        services.set_roles(user=paula, roles=[Role.STAFF], actor=paula)


def test_ones_own_page_offers_only_the_roles_held(client, paula, pat):
    client.force_login(paula)
    page = client.get(f"/policy/users/{paula.public_id}/").content.decode()
    assert "Another policy admin changes your roles." in page
    assert 'value="auditor" id="id_roles_3" aria-describedby="id_roles_3_help" disabled' in page
    assert 'value="policy_admin" id="id_roles_1" aria-describedby="id_roles_1_help" checked' in page
    other = client.get(f"/policy/users/{pat.public_id}/").content.decode()
    assert "Another policy admin changes your roles." not in other
    assert " disabled>" not in other


def test_another_admin_granting_auditor_mails_the_auditors(
    client, paula, pat, reader, django_capture_on_commit_callbacks
):
    client.force_login(pat)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/policy/users/{paula.public_id}/", {"roles": ["staff", "policy_admin", "auditor"]}
        )
    assert response.status_code == 302
    assert Role.AUDITOR in roles_of(type(paula).objects.get(pk=paula.pk))
    [event] = _role_events()
    assert event.actor == pat and event.after == {"roles": ["auditor", "policy_admin", "staff"]}
    [message] = mail.outbox
    assert message.to == [reader.email]  # the auditors before the grant: not paula herself
    assert message.subject == "[Steward] paula@example.com was given the Auditor role"
    assert "Pat (pat@example.com) has given paula@example.com the Auditor role" in message.body
    assert f"audit event #{event.sequence}" in message.body


def test_granting_a_role_that_watches_no_one_mails_nobody(
    paula, member, reader, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.set_roles(user=member, roles=[Role.STAFF, Role.POLICY_ADMIN], actor=paula)
    assert mail.outbox == []


def test_the_mail_waits_for_the_commit(paula, member, reader, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.set_roles(user=member, roles=[Role.PRIVACY_OFFICER], actor=paula)
    assert len(callbacks) == 1 and mail.outbox == []


def test_a_mail_that_fails_is_logged_and_the_grant_stands(
    paula, member, reader, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def refused(*args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({reader.email: (550, b"no such user")})

    monkeypatch.setattr("config.mail.send_mail", refused)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        services.set_roles(user=member, roles=[Role.STAFF, Role.AUDITOR], actor=paula)
    assert Role.AUDITOR in roles_of(type(member).objects.get(pk=member.pk))
    assert "The auditors were not told" in caplog.text and "SMTPRecipientsRefused" in caplog.text
    assert reader.email not in caplog.text


def test_with_no_auditor_yet_the_grant_is_logged(
    paula, member, caplog, django_capture_on_commit_callbacks
):
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        services.set_roles(user=member, roles=[Role.AUDITOR], actor=paula)
    assert mail.outbox == []
    assert "No active auditor to tell" in caplog.text


def test_an_invitation_as_privacy_officer_is_mailed_to_the_auditors(
    paula, reader, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_user(
            email="new@example.com",
            full_name="",
            roles=[Role.PRIVACY_OFFICER],
            actor=paula,
            base_url="http://testserver",
        )
    told = [m for m in mail.outbox if m.to == [reader.email]]
    assert [m.subject for m in told] == [
        "[Steward] new@example.com was given the Privacy officer role"
    ]
