"""The first hour of a production install: the first administrator, and no demo accounts."""

import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from governance.models import Category, User
from governance.roles import Role, roles_of
from tests.factories import make_user

Action = AuditEvent.Action


@pytest.fixture
def production(settings):
    settings.PRODUCTION = True
    settings.STEWARD_MODE = "production"


def _create_admin(*args: str, **options) -> str:
    from io import StringIO

    out = StringIO()
    call_command("create_admin", *args, stdout=out, **options)
    return out.getvalue()


# --- create_admin ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_creates_a_policy_admin_who_chooses_their_own_password(client):
    """The account holds its roles through the role groups (what the console shows and
    changes), not as a superuser; the printed link is where the person chooses a password."""
    output = _create_admin("Ada@Acme.test", "--name", "Ada Admin")
    ada = User.objects.get(email="ada@acme.test")
    assert ada.full_name == "Ada Admin"
    assert not ada.is_superuser and not ada.has_usable_password()
    assert roles_of(ada) == [Role.STAFF, Role.POLICY_ADMIN]
    path = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", output).group(1)
    response = client.get(path, follow=True)
    assert response.status_code == 200
    response = client.post(
        response.redirect_chain[-1][0] if response.redirect_chain else path,
        {"password1": "a-long-first-password", "password2": "a-long-first-password"},
    )
    assert client.login(email="ada@acme.test", password="a-long-first-password")


@pytest.mark.django_db
def test_creating_the_first_administrator_leaves_an_audit_event():
    _create_admin("ada@acme.test")
    ada = User.objects.get(email="ada@acme.test")
    event = AuditEvent.objects.get(target_id=str(ada.public_id))
    assert event.action == Action.USER_INVITED
    assert event.actor is None and event.actor_label == "manage.py create_admin"
    assert event.after == {"roles": ["policy_admin", "staff"]}


@pytest.mark.django_db
def test_it_promotes_an_existing_account_keeping_its_other_roles(member):
    member.is_superuser = True
    member.save()
    make_user("aud@acme.test", Role.AUDITOR)
    output = _create_admin("member@example.com")
    member = User.objects.get(pk=member.pk)
    assert not member.is_superuser
    assert roles_of(member) == [Role.STAFF, Role.POLICY_ADMIN]
    assert "already has an account" in output
    event = AuditEvent.objects.get(
        action=Action.USER_ROLES_CHANGED, target_id=str(member.public_id)
    )
    assert event.before == {"roles": ["staff"], "superuser": True}
    assert event.after == {"roles": ["policy_admin", "staff"]}


@pytest.mark.django_db
def test_it_refuses_a_deactivated_account_and_an_address_that_is_not_one(member):
    member.is_active = False
    member.save()
    with pytest.raises(CommandError, match="deactivated"):
        _create_admin("member@example.com")
    with pytest.raises(CommandError, match="not an email address"):
        _create_admin("ada")
    assert not AuditEvent.objects.exists()


def test_a_site_address_without_its_scheme_is_refused(db):
    """Printed as given, "steward.example.com/accounts/…" was a link nobody could click."""
    with pytest.raises(CommandError, match="--site-url must start with https://"):
        _create_admin("ada@example.com", "--site-url", "steward.example.com")
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_in_production_the_link_names_the_site_and_two_factor_is_announced(settings, production):
    settings.ALLOWED_HOSTS = ["steward.example.com"]
    settings.STEWARD_REQUIRE_MFA = True
    output = _create_admin("ada@acme.test")
    assert "https://steward.example.com/accounts/password/reset/key/" in output
    assert "two-factor" in output


# --- from the link to two-factor --------------------------------------------------------------

PASSWORD = "a-long-first-password"


def _asks_for_a_password(response) -> bool:
    return b'type="password"' in response.content


def _first_password_then_sign_in(client) -> list:
    """create_admin's link, the password chosen there, then the sign-in form, each page as a
    browser would reach it; returns every page shown, ending where the sign-in lands."""
    output = _create_admin("ada@acme.test")
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", output).group(1)
    choose = client.get(link, follow=True)
    chosen = client.post(
        choose.redirect_chain[-1][0], {"password1": PASSWORD, "password2": PASSWORD}, follow=True
    )
    sign_in = client.get("/accounts/login/")
    landed = client.post(
        "/accounts/login/", {"login": "ada@acme.test", "password": PASSWORD}, follow=True
    )
    return [choose, chosen, sign_in, landed]


def _past_a_reauthentication(client, page):
    """Where allauth asks to confirm the password first, the person types it again."""
    if not page.redirect_chain[-1][0].startswith("/accounts/reauthenticate/"):
        return page
    return client.post(page.redirect_chain[-1][0], {"password": PASSWORD}, follow=True)


def _activate_totp(client, page):
    secret = client.session["mfa.totp.secret"]
    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    return client.post(page.redirect_chain[-1][0], {"code": code}, follow=True)


@pytest.mark.django_db
def test_a_new_admin_types_a_password_twice_from_the_link_to_two_factor(client, settings):
    """Once to choose it, once to sign in: the enrolment that follows the sign-in does not
    ask for the password just typed again (allauth's reauthentication)."""
    settings.STEWARD_REQUIRE_MFA = True
    pages = _first_password_then_sign_in(client)
    pages.append(_past_a_reauthentication(client, pages[-1]))
    assert pages[-1].redirect_chain[-1][0] == "/accounts/2fa/totp/activate/"
    pages.append(_activate_totp(client, pages[-1]))
    assert [_asks_for_a_password(page) for page in pages].count(True) == 2
    ada = User.objects.get(email="ada@acme.test")
    assert Authenticator.objects.filter(user=ada, type=Authenticator.Type.TOTP).exists()
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_a_sign_in_older_than_the_reauthentication_timeout_asks_for_the_password_again(
    client, settings
):
    """The fresh sign-in stands in for allauth's reauthentication only as long as a
    reauthentication itself would (ACCOUNT_REAUTHENTICATION_TIMEOUT)."""
    settings.STEWARD_REQUIRE_MFA = True
    _first_password_then_sign_in(client)
    settings.ACCOUNT_REAUTHENTICATION_TIMEOUT = 0
    response = client.get("/accounts/2fa/totp/activate/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/")


# --- no demo organisation in production ------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_refuses_in_production(production):
    """The demo accounts' password is public (README): on a real site, anyone could sign in
    as its policy admin."""
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo", verbosity=0)
    assert not User.objects.exists()
    assert not Category.objects.exists()


@pytest.mark.django_db
def test_seed_demo_if_empty_does_nothing_in_production_and_says_so(production, capsys):
    call_command("seed_demo", "--if-empty")
    assert "not seeded" in capsys.readouterr().out
    assert not User.objects.exists()


@pytest.mark.django_db
def test_the_empty_policy_console_points_a_production_admin_at_categories(
    client, admin, production
):
    """Not at seed_demo, which production refuses."""
    client.force_login(admin)
    page = client.get("/policy/").content.decode()
    assert "No categories" in page
    assert "seed_demo" not in page
    assert "policy import" in page
