import time

import pytest
from django.core import mail
from django.test import Client

from audit.models import AuditEvent
from config.middleware import SESSION_AUTH_STARTED, SESSION_SEEN, SESSION_SLIDE_SECONDS

Action = AuditEvent.Action
PASSWORD = "correct-horse-battery"


def _login(client, email, password=PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password})


def test_it_signs_in_by_email_and_audits_it(client, member):
    response = _login(client, "MEMBER@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/"
    event = AuditEvent.objects.get(action=Action.LOGIN)
    assert event.actor == member


def test_a_failed_sign_in_is_audited_without_what_was_typed(client, member):
    response = _login(client, "member@example.com", "my-secret-typo")
    assert response.status_code == 200
    assert b"not correct" in response.content
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.outcome == "failure"
    assert event.details["known_user"] is True
    stored = str(event.__dict__)
    assert "my-secret-typo" not in stored
    assert "member@example.com" not in str(event.details)


def test_failed_sign_ins_are_throttled(client, member):
    for _ in range(5):
        _login(client, "member@example.com", "wrong-password")
    response = _login(client, "member@example.com", PASSWORD)
    assert response.status_code in (200, 429)
    assert b"Too many failed login attempts" in response.content
    assert not AuditEvent.objects.filter(action=Action.LOGIN).exists()


def test_password_reset_does_not_reveal_whether_an_address_exists(client, member):
    known = client.post("/accounts/password/reset/", {"email": "member@example.com"})
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert known.content == unknown.content
    # Only the mailbox's owner learns whether it has an account.
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["member@example.com"], "[Steward] Choose a new password"),
        (["nobody@example.com"], "[Steward] No account for this address"),
    ]


def test_open_sign_up_is_closed(client, db):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "self@example.com",
            "password1": "x-long-password",
            "password2": "x-long-password",
        },
    )
    assert response.status_code == 200
    assert b"closed" in response.content.lower()
    from governance.models import User

    assert not User.objects.filter(email="self@example.com").exists()


def test_a_session_ends_after_its_absolute_lifetime(client, member, settings):
    _login(client, "member@example.com")
    assert client.get("/").status_code == 200
    session = client.session
    session[SESSION_AUTH_STARTED] = time.time() - settings.STEWARD_SESSION_MAX_AGE - 1
    session.save()
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/").status_code == 302  # really signed out


def test_sessions_slide_with_activity_at_most_once_a_minute(client, member, settings):
    _login(client, "member@example.com")
    assert client.get("/").status_code == 200
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    seen = client.session[SESSION_SEEN]
    response = client.get("/")
    assert settings.SESSION_COOKIE_NAME not in response.cookies  # not saved again yet
    session = client.session
    session[SESSION_SEEN] = seen - SESSION_SLIDE_SECONDS
    session.save()
    response = client.get("/")
    assert settings.SESSION_COOKIE_NAME in response.cookies  # saved: the window starts again
    assert client.session[SESSION_SEEN] > seen - SESSION_SLIDE_SECONDS


@pytest.mark.parametrize(
    ("fixture", "must_enrol"),
    [("admin", True), ("privacy_officer", True), ("member", False), ("reader", False)],
)
def test_admins_and_privacy_officers_must_enrol_in_mfa(
    client, settings, request, fixture, must_enrol
):
    settings.STEWARD_REQUIRE_MFA = True
    client.force_login(request.getfixturevalue(fixture))
    response = client.get("/")
    if must_enrol:
        assert response.status_code == 302
        assert response["Location"] == "/accounts/2fa/totp/activate/"
        assert client.get("/accounts/2fa/").status_code == 200  # MFA pages stay reachable
    else:
        assert response.status_code == 200


def test_an_htmx_request_that_must_enrol_sends_the_whole_page_there(client, settings, admin):
    """A fragment request (a policy preview, say) is not answered with the enrolment page
    swapped into the fragment's place: the page goes there."""
    settings.STEWARD_REQUIRE_MFA = True
    client.force_login(admin)
    response = client.get("/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/2fa/totp/activate/"


def test_every_response_carries_the_security_headers(client, member):
    client.force_login(member)
    response = client.get("/", HTTP_X_REQUEST_ID="abc-123")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Request-ID"] == "abc-123"
    assert "HX-Request" in response["Vary"]


def test_a_signed_in_page_is_kept_by_no_cache(client, member, reader):
    """A page for someone signed in (a conversation's titles, a request's subject) is
    stored neither by a shared proxy nor by the browser: after signing out, Back shows
    nothing of it. A view that says how it may be cached keeps its own word."""
    client.force_login(member)
    assert client.get("/")["Cache-Control"] == "no-store, private"
    assert client.get("/chat/")["Cache-Control"] == "no-store, private"
    assert client.get("/static/js/steward.js").get("Cache-Control") != "no-store, private"
    client.force_login(reader)
    chart = client.get("/audit/charts/decisions.svg")
    assert chart["Cache-Control"] == "private, max-age=60"  # its own word


def test_a_hostile_request_id_is_replaced(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="<script>\nx")
    assert response["X-Request-ID"] != "<script>\nx"
    assert len(response["X-Request-ID"]) == 32


def test_a_user_with_totp_needs_the_code_to_sign_in(client, admin):
    from allauth.mfa.totp.internal.auth import (
        TOTP,
        format_hotp_value,
        generate_totp_secret,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    secret = generate_totp_secret()
    TOTP.activate(admin, secret)
    response = _login(client, "admin@example.com")
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/").status_code == 302  # not signed in yet
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200 and b"Incorrect code" in wrong.content
    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    right = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert right.status_code == 302
    assert client.get("/").status_code == 200


#: One OpenID Connect provider, as an operator configures it.
SINGLE_SIGN_ON = {
    "openid_connect": {
        "APPS": [
            {
                "provider_id": "sso",
                "name": "Contoso SSO",
                "client_id": "steward",
                "secret": "s3cret",
                "settings": {"server_url": "https://idp.example.com"},
            }
        ]
    }
}


def test_the_login_page_offers_single_sign_on_when_configured(client, db, settings):
    settings.SOCIALACCOUNT_PROVIDERS = SINGLE_SIGN_ON
    page = client.get("/accounts/login/").content.decode()
    assert "Contoso SSO" in page
    assert "/accounts/oidc/sso/login/" in page


# --- behind the TLS proxy (STEWARD_BEHIND_TLS_PROXY): every request comes from its address ---

PROXY = "10.0.0.2"


@pytest.fixture
def behind_proxy(settings):
    """What STEWARD_BEHIND_TLS_PROXY=true sets (tests/test_settings.py checks that it does)."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1


def _login_through_proxy(client, email, password, client_ip):
    return client.post(
        "/accounts/login/",
        {"login": email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=client_ip,
        HTTP_X_FORWARDED_PROTO="https",
    )


def test_one_clients_failed_sign_ins_behind_the_proxy_do_not_lock_out_everyone(
    client, member, behind_proxy
):
    """The per-address limits count the client's address, not the proxy's."""
    for n in range(11):  # one workstation trying ten addresses, past login_failed's 10/m/ip
        _login_through_proxy(client, f"nobody{n}@example.com", "guess", "198.51.100.7")
    response = _login_through_proxy(client, "member@example.com", PASSWORD, "203.0.113.50")
    assert b"Too many failed login attempts" not in response.content
    assert response.status_code == 302


def test_sign_in_events_behind_the_proxy_name_the_client_not_the_proxy(
    client, member, behind_proxy
):
    _login_through_proxy(client, "member@example.com", "wrong", "203.0.113.50")
    _login_through_proxy(client, "member@example.com", PASSWORD, "203.0.113.50")
    assert AuditEvent.objects.get(action=Action.LOGIN_FAILED).details["ip"] == "203.0.113.50"
    assert AuditEvent.objects.get(action=Action.LOGIN).details["ip"] == "203.0.113.50"


def test_a_shorter_forwarded_chain_than_the_proxies_signs_in_from_the_nearest_address(
    client, member, settings
):
    """Two proxies configured, but the request came through one (or a client's own
    X-Forwarded-For was replaced): allauth raised ImproperlyConfigured, a 500 on the sign-in
    page that anyone could cause. The deepest address a trusted proxy wrote counts."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    response = _login_through_proxy(client, "member@example.com", PASSWORD, "203.0.113.50")
    assert response.status_code == 302
    assert AuditEvent.objects.get(action=Action.LOGIN).details["ip"] == "203.0.113.50"


def test_without_the_proxy_a_forwarded_address_is_not_believed(member):
    _login(Client(headers={"X-Forwarded-For": "203.0.113.50"}), "member@example.com")
    assert AuditEvent.objects.get(action=Action.LOGIN).details["ip"] == "127.0.0.1"


def test_a_refused_csrf_check_shows_stewards_page_with_a_way_back(db):
    """A sign-in form left open in a tab (its token outlived by a sign-in elsewhere, or an
    expired session): Steward's own 403 page, saying what happened, not Django's default."""
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"login": "a@example.com", "password": "x"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "steward.css" in body and 'class="error-page' in body
    assert "This form had expired" in body
    assert "CSRF verification failed" not in body  # Django's words, for developers


def test_the_sign_in_address_is_read_only(client, db):
    """allauth's page let anyone add an address (none is verified) and make it primary."""
    from governance.roles import Role
    from tests.factories import make_user

    bob = make_user("bob@example.com", Role.STAFF)
    client.force_login(bob)
    page = client.get("/accounts/email/").content.decode()
    assert "You sign in with <strong>bob@example.com</strong>" in page
    assert "Add Email" not in page and "Make Primary" not in page
    refused = client.post("/accounts/email/", {"action_add": "", "email": "bob@gmail.com"})
    assert refused.status_code == 405
    bob.refresh_from_db()
    assert bob.email == "bob@example.com" and bob.emailaddress_set.count() <= 1
