"""Making a token asks for a recent sign-in (allauth's reauthentication): a session alone, a
stolen cookie, cannot mint a credential that outlives it. Who confirms comes back to the form
as they filled it in."""

from urllib.parse import parse_qs, urlsplit

from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)

from api.models import ApiToken
from audit.models import AuditEvent
from governance.roles import Role
from tests.api.conftest import PASSWORD
from tests.factories import make_user

URL = "/settings/tokens/"
ASK = {"name": "notebook", "expires_in_days": "30"}
CONFIRM = f"/accounts/reauthenticate/?next={URL}"


def _sent_to(response) -> tuple[str, str]:
    """Where a redirect (or htmx's HX-Redirect) sends the browser: its path and ``next``."""
    location = response.get("HX-Redirect") or response["Location"]
    parts = urlsplit(location)
    return parts.path, parse_qs(parts.query).get("next", [""])[0]


def _code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


def test_it_sends_a_session_without_a_recent_sign_in_to_confirm_and_makes_nothing(client, member):
    client.force_login(member)  # a session as a thief has it: no password typed
    response = client.post(URL, ASK)
    assert response.status_code == 302
    assert _sent_to(response) == ("/accounts/reauthenticate/", URL)
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.API_TOKEN_CREATED).exists()
    page = client.get(response["Location"]).content.decode()
    assert "“notebook” is not made yet" in page  # says why, and that nothing happened


def test_htmx_is_sent_there_as_a_whole_page(client, member):
    """A 302 to an htmx POST would put the sign-in page inside the panel."""
    client.force_login(member)
    response = client.post(URL, ASK, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Location" not in response
    assert _sent_to(response) == ("/accounts/reauthenticate/", URL)
    assert not ApiToken.objects.exists()


def test_after_confirming_the_form_is_back_as_typed_and_one_press_makes_the_token(client, member):
    client.force_login(member)
    client.post(URL, ASK, HTTP_HX_REQUEST="true")
    confirmed = client.post(CONFIRM, {"password": PASSWORD})
    assert confirmed.status_code == 302 and confirmed["Location"] == URL
    html = client.get(URL).content.decode()
    assert 'value="notebook"' in html and '<option value="30" selected>' in html
    assert "press Create token" in html
    assert not ApiToken.objects.exists()
    again = client.get(URL).content.decode()  # kept for one return only
    assert 'value="notebook"' not in again and "press Create token" not in again
    made = client.post(URL, ASK)
    assert made.status_code == 200 and made.context["secret"].startswith("stw_")
    assert ApiToken.objects.get(user=member).name == "notebook"


def test_a_wrong_password_confirms_nothing(client, member):
    client.force_login(member)
    client.post(URL, ASK)
    assert client.post(CONFIRM, {"password": "not-the-password-at-all"}).status_code == 200
    assert _sent_to(client.post(URL, ASK))[0] == "/accounts/reauthenticate/"
    assert not ApiToken.objects.exists()


def test_someone_who_just_signed_in_with_their_password_is_not_asked_again(signed_in_now, member):
    made = signed_in_now(member).post(URL, ASK, HTTP_HX_REQUEST="true")
    assert made.status_code == 200 and made.context["secret"].startswith("stw_")


def test_a_sign_in_older_than_the_reauthentication_timeout_is_asked_again(
    signed_in_now, member, settings
):
    client = signed_in_now(member)
    settings.ACCOUNT_REAUTHENTICATION_TIMEOUT = 0
    assert _sent_to(client.post(URL, ASK))[0] == "/accounts/reauthenticate/"
    assert not ApiToken.objects.exists()


def test_a_form_with_a_mistake_is_answered_before_anyone_is_sent_away(client, member):
    client.force_login(member)
    response = client.post(URL, {"name": "", "expires_in_days": "30"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and "HX-Redirect" not in response


def test_a_second_factor_confirms_as_well_as_the_password(client, admin):
    secret = generate_totp_secret()
    TOTP.activate(admin, secret)
    client.force_login(admin)
    assert _sent_to(client.post(URL, ASK))[0] == "/accounts/reauthenticate/"
    page = client.get(CONFIRM).content.decode()
    assert "/accounts/2fa/reauthenticate/" in page  # offered next to the password
    confirmed = client.post(f"/accounts/2fa/reauthenticate/?next={URL}", {"code": _code(secret)})
    assert confirmed.status_code == 302 and confirmed["Location"] == URL
    assert client.post(URL, ASK).status_code == 200
    assert ApiToken.objects.filter(user=admin).count() == 1


def test_signing_in_with_password_and_code_counts_as_recent(client, admin):
    secret = generate_totp_secret()
    TOTP.activate(admin, secret)
    client.post("/accounts/login/", {"login": admin.email, "password": PASSWORD})
    client.post("/accounts/2fa/authenticate/", {"code": _code(secret)})
    assert client.post(URL, ASK).status_code == 200
    assert ApiToken.objects.filter(user=admin).count() == 1


def test_an_account_without_a_password_confirms_with_its_second_factor(client, db):
    """Single sign-on: no password to type, the authenticator instead."""
    person = make_user("sso@example.com", Role.STAFF, password=None)
    TOTP.activate(person, generate_totp_secret())
    client.force_login(person)
    assert _sent_to(client.post(URL, ASK)) == ("/accounts/2fa/reauthenticate/", URL)


def test_an_account_with_no_way_to_confirm_is_told_what_to_do(client, db):
    person = make_user("sso@example.com", Role.STAFF, password=None)
    client.force_login(person)
    response = client.post(URL, ASK, HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and "HX-Redirect" not in response
    assert "Two-factor authentication" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_single_sign_on_moments_ago_counts_as_confirming(client, db):
    """The company's identity provider has just checked who they are: asking again with a
    second factor Steward may not have (STEWARD_REQUIRE_MFA off) would leave them no way."""
    import time

    from allauth.account.internal.flows.login import (
        _AUTHENTICATION_METHODS_USER_SESSION_KEY,
        AUTHENTICATION_METHODS_SESSION_KEY,
    )

    person = make_user("sso@example.com", Role.STAFF, password=None)
    client.force_login(person)
    session = client.session
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(person.pk)
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "socialaccount", "at": time.time(), "provider": "sso", "uid": "s-1"}
    ]
    session.save()
    assert client.post(URL, ASK).status_code == 200
    assert ApiToken.objects.filter(user=person).count() == 1
    session[AUTHENTICATION_METHODS_SESSION_KEY][0]["at"] = time.time() - 3600
    session.save()
    response = client.post(URL, ASK, HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and "sign in again with single sign-on" in response.text
