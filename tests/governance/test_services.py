import re

import pytest
from django.core import mail

from audit.models import AuditEvent
from governance.roles import Role, roles_of
from governance.services import PolicyError, invite_user, set_active, set_roles

Action = AuditEvent.Action


def test_it_invites_a_user_who_then_chooses_a_password_and_signs_in(
    client, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        user = invite_user(
            email="New.Person@Example.com",
            full_name="New Person",
            roles=[Role.STAFF, Role.AUDITOR],
            actor=admin,
            base_url="http://testserver",
        )
    assert user.email == "new.person@example.com"
    assert not user.has_usable_password()
    assert roles_of(user) == [Role.STAFF, Role.AUDITOR]
    event = AuditEvent.objects.get(action=Action.USER_INVITED)
    assert event.actor == admin
    assert event.after == {"roles": ["auditor", "staff"]}

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.person@example.com"]
    link = re.search(r"http://testserver(\S+)", mail.outbox[0].body).group(1)
    page = client.get(link, follow=True)
    assert page.status_code == 200
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    chosen = "a-long-new-passphrase"
    response = client.post(form_url, {"password1": chosen, "password2": chosen})
    assert response.status_code == 302
    assert client.login(email="new.person@example.com", password=chosen)


def test_it_sends_nothing_when_the_invitation_rolls_back(admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invite_user(
            email="x@example.com", full_name="", roles=[Role.STAFF], actor=admin, base_url=""
        )
    assert len(callbacks) == 1  # the email waits for the commit
    assert mail.outbox == []


def test_it_changes_roles_and_audits_before_and_after(admin, member):
    updated = set_roles(user=member, roles=[Role.STAFF, Role.PRIVACY_OFFICER], actor=admin)
    assert roles_of(updated) == [Role.STAFF, Role.PRIVACY_OFFICER]
    event = AuditEvent.objects.get(action=Action.USER_ROLES_CHANGED)
    assert event.before == {"roles": ["staff"]}
    assert event.after == {"roles": ["privacy_officer", "staff"]}


def test_it_records_nothing_when_roles_do_not_change(admin, member):
    set_roles(user=member, roles=[Role.STAFF], actor=admin)
    assert not AuditEvent.objects.filter(action=Action.USER_ROLES_CHANGED).exists()


def test_it_refuses_to_remove_the_last_policy_admin(admin):
    with pytest.raises(PolicyError, match="at least one active policy admin"):
        set_roles(user=admin, roles=[Role.STAFF], actor=admin)
    assert Role.POLICY_ADMIN in roles_of(admin)


def test_it_lets_an_admin_step_down_once_another_exists(admin, owner):
    assert roles_of(set_roles(user=admin, roles=[Role.STAFF], actor=admin)) == [Role.STAFF]


def test_it_refuses_self_deactivation(admin, owner):
    with pytest.raises(PolicyError, match="your own account"):
        set_active(user=admin, active=False, actor=admin)


def test_a_deactivated_user_is_signed_out_at_once(client, admin, member):
    client.force_login(member)
    assert client.get("/").status_code == 200
    set_active(user=member, active=False, actor=admin)
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.filter(action=Action.USER_DEACTIVATED).count() == 1
    set_active(user=member, active=True, actor=admin)
    assert AuditEvent.objects.filter(action=Action.USER_REACTIVATED).count() == 1


def test_a_change_that_cannot_be_audited_does_not_happen(admin, member, monkeypatch):
    from django.db import DatabaseError

    import audit.services.recording

    def broken(event):
        raise DatabaseError("audit table unavailable")

    monkeypatch.setattr(audit.services.recording, "_append_in_postgresql", broken)
    monkeypatch.setattr(audit.services.recording, "_append_here", broken)
    with pytest.raises(DatabaseError):
        set_roles(user=member, roles=[Role.AUDITOR], actor=admin)
    with pytest.raises(DatabaseError):
        set_active(user=member, active=False, actor=admin)
    member.refresh_from_db()
    assert member.is_active
    assert roles_of(type(member).objects.get(pk=member.pk)) == [Role.STAFF]
