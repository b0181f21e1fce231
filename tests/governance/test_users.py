"""People management: the last-admin guard under concurrency, deactivated accounts, invitations."""

import re
import smtplib
import threading
import time

import pytest
from django.core import mail
from django.db import connection

from audit.models import AuditEvent
from governance import services
from governance.models import User
from governance.roles import Role, ensure_role_groups, roles_of
from governance.services import accounts
from tests.factories import make_user

Action = AuditEvent.Action
HTMX = {"HTTP_HX_REQUEST": "true"}


def _events(user: User, action: str):
    return AuditEvent.objects.filter(action=action, target_id=str(user.public_id)).order_by(
        "sequence"
    )


# --- the last policy admin -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_an_admin(monkeypatch):
    """A role change touches only the user-group table, so locking the users' rows is not
    enough: the second demotion must wait for the first and then see it."""
    ensure_role_groups()
    a = make_user("a@example.com", Role.POLICY_ADMIN)
    b = make_user("b@example.com", Role.POLICY_ADMIN)
    real = accounts._set_groups
    first_inside = threading.Event()

    def slow(user, roles):  # the first transaction stays open a moment, as a slow request would
        real(user, roles)
        first_inside.set()
        time.sleep(1.0)

    monkeypatch.setattr(accounts, "_set_groups", slow)
    refusals = []

    def demote(target, actor):
        try:
            services.set_roles(user=target, roles=[Role.STAFF], actor=actor)
        except services.PolicyError as exc:
            refusals.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=demote, args=(b, a))
    second = threading.Thread(target=demote, args=(a, b))
    first.start()
    # The first holds its lock before the second starts, however slow a busy machine is.
    assert first_inside.wait(timeout=30)
    second.start()
    first.join()
    second.join()
    admins = User.objects.filter(is_active=True, groups__name=Role.POLICY_ADMIN.group_name)
    assert list(admins) == [a]
    assert len(refusals) == 1


# --- deactivated accounts ------------------------------------------------------------------


@pytest.mark.django_db
def test_roles_of_a_deactivated_account_are_not_changed_without_an_audit_event(
    client, admin, member
):
    """The page hides the roles form of a deactivated account; the server refuses the POST too,
    so no one becomes a silent admin on reactivation."""
    member.is_active = False
    member.save()
    client.force_login(admin)
    response = client.post(
        f"/policy/users/{member.public_id}/", {"roles": ["policy_admin", "auditor"]}, follow=True
    )
    assert b"Reactivate the account first; its roles are kept as they were." in response.content
    assert list(member.groups.values_list("name", flat=True)) == ["Staff"]
    assert not _events(member, Action.USER_ROLES_CHANGED).exists()


def test_a_role_change_audits_the_groups_held(admin, member):
    """before/after are the groups, not the permissions they grant (a superuser has them all,
    which before says, and after no longer)."""
    member.is_superuser = True
    member.save()
    services.set_roles(user=member, roles=[Role.STAFF, Role.AUDITOR], actor=admin)
    event = _events(member, Action.USER_ROLES_CHANGED).get()
    assert event.before == {"roles": ["staff"], "superuser": True}
    assert event.after == {"roles": ["auditor", "staff"]}


# --- invitations ---------------------------------------------------------------------------


def _smtp_down(monkeypatch):
    def send_mail(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr("governance.services.accounts.send_mail", send_mail)


@pytest.mark.django_db(transaction=True)
def test_a_failed_invitation_email_is_reported_not_a_server_error(client, admin, monkeypatch):
    """The account is committed before the email goes: its failure is told, recorded, and can
    be retried from the user's page."""
    _smtp_down(monkeypatch)
    client.raise_request_exception = False
    client.force_login(admin)
    response = client.post(
        "/policy/users/",
        {"email": "new@example.com", "full_name": "New", "roles": ["staff"]},
        follow=True,
    )
    assert response.status_code == 200
    assert (
        b"Account created; the invitation email could not be sent: Connection unexpectedly closed"
        in response.content
    )
    invited = User.objects.get(email="new@example.com")
    failure = _events(invited, Action.USER_INVITED).last()
    assert failure.outcome == AuditEvent.Outcome.FAILURE
    assert "Connection unexpectedly closed" in failure.message
    page = client.get(f"/policy/users/{invited.public_id}/")
    assert b"Send the invitation again" in page.content


@pytest.mark.django_db(transaction=True)
def test_a_failed_invitation_email_answers_htmx_with_the_panel(client, admin, monkeypatch):
    _smtp_down(monkeypatch)
    client.force_login(admin)
    response = client.post(
        "/policy/users/", {"email": "new@example.com", "roles": ["staff"]}, **HTMX
    )
    assert response.status_code == 200
    assert b'id="users-panel"' in response.content
    assert b"the invitation email could not be sent" in response.content
    assert b"Invitation sent" not in response.content


def test_the_reason_of_a_failed_invitation_names_no_secret(
    admin, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_HOST_PASSWORD = "hunter2-smtp-secret"

    def send_mail(*args, **kwargs):
        raise smtplib.SMTPAuthenticationError(535, b"5.7.8 bad login hunter2-smtp-secret")

    monkeypatch.setattr("governance.services.accounts.send_mail", send_mail)
    with django_capture_on_commit_callbacks(execute=True):
        invited = services.invite_user(
            email="new@example.com", full_name="", roles=[Role.STAFF], actor=admin, base_url=""
        )
    reason = services.invitation_failure(invited)
    assert reason.startswith("535 5.7.8 bad login")
    assert "hunter2" not in reason
    assert "hunter2" not in _events(invited, Action.USER_INVITED).last().message


def test_a_mail_backend_failing_in_its_own_words_is_reported_too(
    admin, monkeypatch, django_capture_on_commit_callbacks
):
    """A mail service's own library (an HTTP API backend) raises its own errors, not
    OSError: the account stays, the failure is recorded and told, not a 500."""

    class ProviderError(Exception):
        pass

    def send_mail(*args, **kwargs):
        raise ProviderError("the provider refused the message: sender not verified")

    monkeypatch.setattr("governance.services.accounts.send_mail", send_mail)
    with django_capture_on_commit_callbacks(execute=True):
        invited = services.invite_user(
            email="new@example.com", full_name="", roles=[Role.STAFF], actor=admin, base_url=""
        )
    assert services.invitation_failure(invited) == (
        "ProviderError: the provider refused the message: sender not verified"
    )


def test_an_invitation_can_be_sent_again_until_the_person_signs_in(
    client, admin, django_capture_on_commit_callbacks
):
    """Resending is audited and emails a fresh link; once the person has signed in it is
    refused (they reset their own password from the sign-in page)."""
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/policy/users/", {"email": "new@example.com", "roles": ["staff"]})
    invited = User.objects.get(email="new@example.com")
    url = f"/policy/users/{invited.public_id}/"
    assert b"Send the invitation again" in client.get(url).content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"invite": "again"}, follow=True)
    assert b"Invitation sent again to new@example.com." in response.content
    assert [m.to for m in mail.outbox] == [["new@example.com"], ["new@example.com"]]
    assert "/password/reset/key/" in mail.outbox[1].body
    events = list(_events(invited, Action.USER_INVITED))
    assert [(e.outcome, e.message, e.actor) for e in events[1:]] == [
        (AuditEvent.Outcome.SUCCESS, "Invitation sent again", admin)
    ]

    client.force_login(invited)
    client.force_login(admin)
    assert b"Send the invitation again" not in client.get(url).content
    response = client.post(url, {"invite": "again"}, follow=True)
    assert b"has already signed in" in response.content
    assert len(mail.outbox) == 2


def test_only_someone_still_to_choose_a_password_reads_as_invited(client, admin):
    """An invitation is open until its link is used to choose a password. An account made
    with a password (the demo's people, an admin made from the shell) can sign in now: it
    is active, not invited, even before its first sign-in."""
    invited = User.objects.create_user("new@example.com", None)
    ready = make_user("ready@example.com", Role.STAFF)
    client.force_login(admin)
    page = client.get("/policy/users/").content.decode()
    row_of = {
        email: re.search(rf"<tr[^>]*>\s*<td><a [^>]+>{re.escape(email)}</a>.*?</tr>", page, re.S)
        for email in ("new@example.com", "ready@example.com")
    }
    assert ">invited<" in row_of["new@example.com"].group()
    assert ">invited<" not in row_of["ready@example.com"].group()
    assert "not yet" in row_of["ready@example.com"].group()
    detail = client.get(f"/policy/users/{ready.public_id}/").content.decode()
    assert "invited" not in detail and "Send the invitation again" not in detail
    assert "has not signed in yet" in detail
    detail = client.get(f"/policy/users/{invited.public_id}/").content.decode()
    assert "invited, has not signed in yet" in detail and "Send the invitation again" in detail


def test_only_a_policy_admin_can_send_an_invitation_again(client, admin, member):
    invited = User.objects.create_user("new@example.com", None)
    url = f"/policy/users/{invited.public_id}/"
    client.force_login(member)
    assert client.post(url, {"invite": "again"}).status_code == 403
    client.force_login(admin)
    assert client.get(url, {"invite": "again"}).status_code == 200  # a GET sends nothing
    assert mail.outbox == []


# --- the people list -----------------------------------------------------------------------


def _people(n: int) -> list[User]:
    from django.contrib.auth.models import Group

    made = User.objects.bulk_create(
        User(email=f"p{i:03}@corp.example", full_name=f"Person {i:03}") for i in range(n)
    )
    Group.objects.get(name=Role.STAFF.group_name).user_set.add(*made)
    return made


def _rows(response) -> list[str]:
    return re.findall(r'<a href="/policy/users/[^"]+/">([^<]+)</a>', response.content.decode())


def test_the_people_list_comes_a_hundred_at_a_time(client, admin, django_assert_max_num_queries):
    """A company of thousands is not one table of thousands: pages of 100, and the page says
    which rows it shows of how many, with a way to the next and back."""
    _people(150)
    client.force_login(admin)
    with django_assert_max_num_queries(12):
        first = client.get("/policy/users/")
    assert len(_rows(first)) == 100
    assert "1–100 of 151" in first.content.decode()
    assert 'href="?page=2"' in first.content.decode()
    last = client.get("/policy/users/", {"page": 2})
    assert _rows(last)[-1] == "Person 149"
    assert "101–151 of 151" in last.content.decode()
    assert 'href="?page=1"' in last.content.decode()
    assert len(_rows(client.get("/policy/users/", {"page": 99}))) == 51  # the last
    assert len(_rows(client.get("/policy/users/", {"page": "nonsense"}))) == 100


def test_the_people_list_finds_a_person_by_name_or_email(client, admin):
    """The filter answers htmx with the list alone, keeps what was typed, and pages within
    what it found."""
    _people(150)
    client.force_login(admin)
    by_name = client.get("/policy/users/", {"q": "person 12"}, **HTMX)
    assert b"<html" not in by_name.content and b'id="people-list"' in by_name.content
    assert b'id="users-panel"' not in by_name.content
    assert _rows(by_name) == [f"Person {i}" for i in range(120, 130)]
    assert "10 matches" in by_name.content.decode()
    by_email = client.get("/policy/users/", {"q": "ADMIN@example"})
    assert _rows(by_email) == ["Ada Admin"]
    assert b'value="ADMIN@example"' in by_email.content
    many = client.get("/policy/users/", {"q": "corp.example"})
    assert 'href="?q=corp.example&amp;page=2"' in many.content.decode()
    nobody = client.get("/policy/users/", {"q": "zelda"})
    assert _rows(nobody) == []
    assert "No account matches “zelda”" in nobody.content.decode()


def test_an_invitation_answers_htmx_with_the_list_as_it_was_filtered(
    client, admin, django_capture_on_commit_callbacks
):
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/policy/users/?q=new", {"email": "new@example.com", "roles": ["staff"]}, **HTMX
        )
    assert b'id="users-panel"' in response.content
    assert _rows(response) == ["new@example.com"]
    assert b'value="new"' in response.content


# --- superusers (Django's createsuperuser) -------------------------------------------------


@pytest.mark.django_db
def test_roles_set_on_the_console_are_the_roles_a_superuser_then_holds(client):
    """A superuser holds every role without its groups; saving roles ends that, so the
    console's "saved" is true and the trail says what changed."""
    first = User.objects.create_superuser("first@acme.test", "correct-horse-battery")
    ensure_role_groups()
    client.force_login(first)
    response = client.post(
        f"/policy/users/{first.public_id}/", {"roles": ["staff", "policy_admin"]}, follow=True
    )
    assert b"Roles of first@acme.test saved." in response.content
    first = User.objects.get(pk=first.pk)
    assert not first.is_superuser
    assert not first.has_perm(Role.AUDITOR.permission)
    assert not first.has_perm(Role.PRIVACY_OFFICER.permission)
    event = _events(first, Action.USER_ROLES_CHANGED).get()
    assert event.before == {"roles": [], "superuser": True}
    assert event.after == {"roles": ["policy_admin", "staff"]}


def test_a_superuser_who_is_the_only_policy_admin_keeps_that_role(admin):
    """Saving roles ends the superuser flag: without the policy admin role ticked, that
    would leave the site without one."""
    admin.groups.clear()
    admin.is_superuser = True
    admin.save()
    with pytest.raises(services.PolicyError, match="at least one active policy admin"):
        services.set_roles(user=admin, roles=[Role.STAFF], actor=admin)
    assert User.objects.get(pk=admin.pk).is_superuser


@pytest.mark.django_db
def test_the_people_list_shows_every_role_of_a_superuser(client, admin):
    User.objects.create_superuser("first@acme.test", "correct-horse-battery")
    client.force_login(admin)
    page = client.get("/policy/users/?q=first@acme.test").content.decode()
    people = page[page.index('id="people-list"') :]
    row = people[people.index("first@acme.test") :].split("</tr>")[0]
    assert ">none<" not in row
    for role in Role:
        assert role.label in row
    assert "superuser" in row


def test_a_persons_page_says_what_they_may_do_and_keeps_sign_ins_out_of_its_history(
    client, admin, member
):
    from governance.models import Clearance
    from tests.factories import make_category

    Clearance.objects.create(category=make_category(), user=member)
    client.force_login(member)  # a sign-in: in the trail, not on the page
    client.force_login(admin)
    services.set_roles(user=member, roles=[Role.STAFF, Role.AUDITOR], actor=admin)
    page = client.get(f"/policy/users/{member.public_id}/").content.decode()
    assert "Public" in page and "cannot chat" not in page
    assert "not set up" in page  # no second factor
    assert "no version published" in page and "0 usable" in page
    assert "Roles changed" in page
    signed_in = AuditEvent.objects.filter(action="auth.login", target_id=str(member.public_id))
    assert signed_in.exists() and ">Signed in<" not in page


def test_an_erased_account_is_not_listed_among_the_people_to_manage(client, admin, member):
    """An erasure keeps the account's row (the records that name it) as
    ``erased-…@erased.invalid``: it stood among the people, counted and clickable."""
    from privacy.erasure import erase_account

    erase_account(member)
    member.refresh_from_db()
    assert member.is_erased and member.display_name == "Erased account"
    client.force_login(admin)
    page = client.get("/policy/users/").text
    assert "erased.invalid" not in page and "Erased account" not in page
    assert "1 account, and 1 erased by a data-subject request" in page
    assert "erased.invalid" not in client.get("/policy/users/?q=erased").text


def test_an_erased_account_cannot_be_reactivated(client, admin, member):
    from privacy.erasure import erase_account

    erase_account(member)
    member.refresh_from_db()
    with pytest.raises(services.PolicyError, match="erased by a data-subject request"):
        services.set_active(user=member, active=True, actor=admin)
    assert not User.objects.get(pk=member.pk).is_active
    client.force_login(admin)
    page = client.get(f"/policy/users/{member.public_id}/").text
    assert "Reactivate account" not in page and "erased by a data-subject request" in page


def test_a_refused_recipient_is_reported_without_the_address(
    admin, monkeypatch, django_capture_on_commit_callbacks
):
    """The server's refusal quoted the address, as Postfix does, and so did the audit event
    and the log; the admin sees whose account it is on its page."""

    def send_mail(*args, **kwargs):
        said = b"5.1.1 <New@Example.com>: Recipient address rejected"
        raise smtplib.SMTPRecipientsRefused({"new@example.com": (550, said)})

    monkeypatch.setattr("governance.services.accounts.send_mail", send_mail)
    with django_capture_on_commit_callbacks(execute=True):
        invited = services.invite_user(
            email="new@example.com", full_name="", roles=[Role.STAFF], actor=admin, base_url=""
        )
    reason = services.invitation_failure(invited)
    assert reason == (
        "the recipient was refused: 550 5.1.1 <the address>: Recipient address rejected"
    )
    assert "example.com" not in _events(invited, Action.USER_INVITED).last().message.lower()


# --- accounts open sign-up made --------------------------------------------------------


def _signed_up(email: str) -> User:
    """An account as open sign-up leaves it: a password, and its address unconfirmed."""
    from allauth.account.models import EmailAddress

    person = make_user(email)
    EmailAddress.objects.create(user=person, email=email, verified=False, primary=True)
    return person


def test_an_unconfirmed_sign_up_is_given_no_role_until_its_address_is_confirmed(client, admin):
    """Whoever signed up may not own the address: a role would make them, say, an auditor
    in a colleague's name. The list and the person's page say why, and the grant is refused
    in those words, audited nowhere (nothing changed)."""
    from allauth.account.models import EmailAddress

    stranger = _signed_up("colleague@example.com")
    client.force_login(admin)
    page = client.get("/policy/users/").content.decode()
    row = re.search(r"<tr[^>]*>\s*<td><a [^>]+>colleague@example.com</a>.*?</tr>", page, re.S)
    assert "address not confirmed" in row.group()
    url = f"/policy/users/{stranger.public_id}/"
    assert "whoever made this account may not own colleague@example.com" in (
        client.get(url).content.decode()
    )
    response = client.post(url, {"roles": ["auditor"]}, follow=True)
    assert "has not confirmed the address yet" in response.content.decode()
    assert roles_of(User.objects.get(pk=stranger.pk)) == []
    assert not _events(stranger, Action.USER_ROLES_CHANGED).exists()

    EmailAddress.objects.filter(user=stranger).update(verified=True)
    client.post(url, {"roles": ["staff"]})
    assert roles_of(User.objects.get(pk=stranger.pk)) == [Role.STAFF]
    assert "address not confirmed" not in client.get("/policy/users/").content.decode()


def test_an_invitation_is_not_sent_again_to_someone_who_chose_a_password(admin):
    ready = make_user("ready@example.com", Role.STAFF)
    with pytest.raises(services.PolicyError, match="has already chosen a password"):
        services.resend_invitation(user=ready, actor=admin, base_url="http://testserver")
    assert len(mail.outbox) == 0
