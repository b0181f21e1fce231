"""Signing in and out, each role's dashboard, inviting a user, and a clean console."""

import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core import mail
from playwright.sync_api import Page, expect

from governance.models import User
from governance.roles import Role
from governance.services import invite_user
from tests.factories import make_user

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"

# role -> (nav links it opens, id of its dashboard section heading)
ROLE_VIEWS = {
    Role.STAFF: (["Chat"], "staff-heading"),
    Role.POLICY_ADMIN: (["Policy", "Users"], "policy-heading"),
    Role.PRIVACY_OFFICER: (["Privacy"], "privacy-heading"),
    Role.AUDITOR: (["Audit"], "audit-heading"),
}
ALL_NAV = ["Chat", "Policy", "Users", "Privacy", "Audit"]


def nav(page: Page):
    return page.get_by_role("navigation", name="Main")


def test_it_signs_staff_in_to_the_dashboard(page: Page, login):
    make_user("staff@example.com", Role.STAFF, full_name="Sam Staff", password=PASSWORD)

    login(page, "staff@example.com", PASSWORD)

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Good to see you, Sam Staff")
    expect(nav(page).get_by_role("link", name="Chat")).to_be_visible()


def test_it_keeps_a_wrong_password_on_the_login_page(page: Page):
    make_user("staff@example.com", Role.STAFF, password=PASSWORD)

    page.goto("/accounts/login/")
    page.fill("input[name=login]", "staff@example.com")
    page.fill("input[name=password]", "not-the-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("not correct")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.locator("input[name=login]")).to_have_value("staff@example.com")
    expect(page.locator("input[name=password]")).to_have_value("")


@pytest.mark.parametrize("role", list(ROLE_VIEWS), ids=lambda role: role.value)
def test_it_shows_each_role_its_own_nav_and_section(page: Page, login, role: Role):
    make_user(f"{role.value}@example.com", role, password=PASSWORD)
    own_links, own_section = ROLE_VIEWS[role]

    login(page, f"{role.value}@example.com", PASSWORD)

    for label in ALL_NAV:
        link = nav(page).get_by_role("link", name=label, exact=True)
        expect(link).to_have_count(1 if label in own_links else 0)
    for other, (_, section) in ROLE_VIEWS.items():
        expect(page.locator(f"#{section}")).to_have_count(1 if other == role else 0)
    expect(page.locator(f"#{own_section}")).to_be_visible()

    # Each nav link opens its page (no 403 behind a link the user was shown).
    for label in own_links:
        nav(page).get_by_role("link", name=label, exact=True).click()
        expect(nav(page).get_by_role("link", name=label, exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        expect(nav(page).locator("[aria-current=page]")).to_have_count(1)
        expect(page.locator(".error-code")).to_have_count(0)


def test_it_invites_a_user_without_reloading_the_page(page: Page, login):
    make_user("admin@example.com", Role.POLICY_ADMIN, password=PASSWORD)
    login(page, "admin@example.com", PASSWORD)
    page.goto("/policy/users/")
    people = page.get_by_role("region", name="People")
    expect(people).not_to_contain_text("new.person@example.com")
    # A full page load would wipe this; an htmx swap keeps it.
    page.evaluate("window.stewardSamePage = true")

    page.get_by_label("Work email").fill("new.person@example.com")
    page.get_by_label("Full name").fill("Nina New")
    page.get_by_label("Auditor").check()
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Send invitation").click()

    assert posted.value.request.headers.get("hx-request") == "true"
    row = people.get_by_role("row", name=re.compile("Nina New"))
    expect(row).to_contain_text("new.person@example.com")
    expect(row).to_contain_text("Auditor")
    expect(row).to_contain_text("invited")
    expect(page.get_by_role("status").filter(has_text="Invitation sent")).to_be_visible()
    expect(page.get_by_label("Work email")).to_have_value("")
    assert page.evaluate("window.stewardSamePage") is True
    assert User.objects.filter(email="new.person@example.com").exists()


def test_it_shows_an_invalid_email_inline(page: Page, login):
    make_user("admin@example.com", Role.POLICY_ADMIN, password=PASSWORD)
    login(page, "admin@example.com", PASSWORD)
    page.goto("/policy/users/")
    page.evaluate("window.stewardSamePage = true")

    page.get_by_label("Work email").fill("not-an-email")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Send invitation").click()

    assert posted.value.status == 422
    email = page.get_by_label("Work email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-error")).to_have_text(
        "Type a whole email address, such as jane.roe@example.com."
    )
    expect(email).to_have_value("not-an-email")
    assert page.evaluate("window.stewardSamePage") is True
    assert not User.objects.filter(email="not-an-email").exists()


def test_it_has_no_console_errors_on_login_and_dashboard(
    page: Page, login, console_errors: list[str]
):
    make_user("owner@example.com", *Role, password=PASSWORD)

    page.goto("/accounts/login/")
    page.wait_for_load_state("networkidle")
    assert console_errors == []

    login(page, "owner@example.com", PASSWORD)
    page.wait_for_load_state("networkidle")
    page.locator("details.usermenu summary").click()  # exercise steward.js
    assert console_errors == []


def test_it_signs_out_from_the_user_menu(page: Page, login):
    make_user("staff@example.com", Role.STAFF, password=PASSWORD)
    login(page, "staff@example.com", PASSWORD)
    sign_out = page.get_by_role("button", name="Sign out")
    expect(sign_out).to_be_hidden()  # tucked inside the closed <details>

    page.locator("details.usermenu summary").click()
    sign_out.click()

    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))


def _asks_for_a_password(page: Page) -> bool:
    page.wait_for_load_state()
    return page.locator("input[type=password]").count() > 0


def test_an_invited_privacy_officer_types_a_password_twice_before_two_factor(
    page: Page, settings, live_server
):
    """From the invitation's link to an active authenticator app: the password is chosen,
    then typed to sign in, and the two-factor enrolment that follows does not ask for it
    again."""
    settings.STEWARD_REQUIRE_MFA = True
    inviter = make_user("admin@example.com", Role.POLICY_ADMIN, password=PASSWORD)
    invite_user(
        email="pia@example.com",
        full_name="Pia Privacy",
        roles=[Role.STAFF, Role.PRIVACY_OFFICER],
        actor=inviter,
        base_url=live_server.url,
    )
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+", mail.outbox[-1].body)
    prompts = []

    page.goto(link.group(0))
    prompts.append(_asks_for_a_password(page))
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Password chosen")
    page.get_by_role("link", name="sign in", exact=True).click()
    prompts.append(_asks_for_a_password(page))
    page.fill("input[name=login]", "pia@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/accounts/(2fa|reauthenticate)/"))
    prompts.append(_asks_for_a_password(page))

    assert prompts == [True, True, False]  # chosen, typed to sign in, and not asked again
    expect(page.get_by_role("heading", level=1)).to_have_text("Activate an authenticator app")
    secret = page.locator("#authenticator-key").inner_text()
    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    page.get_by_label("Authenticator code").fill(code)
    page.get_by_role("button", name="Activate").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Recovery codes")
    pia = User.objects.get(email="pia@example.com")
    assert Authenticator.objects.filter(user=pia, type=Authenticator.Type.TOTP).exists()
