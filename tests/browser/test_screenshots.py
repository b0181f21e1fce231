"""Full-page screenshots of every page, for looking at the product, not asserting on it.

    STEWARD_SCREENSHOTS=/tmp/shots .venv/bin/python -m pytest -m browser -k screenshots

Skipped unless ``STEWARD_SCREENSHOTS`` names a directory. The data is the demo
organisation, so the pages look as they do after ``make run``.
"""

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from tests.browser.audit_data import seed_audit_trail
from tests.browser.conftest import PHONE, one_at_a_time, sign_in, watch_console

pytestmark = pytest.mark.browser

EXPECTED_STATUS = re.compile(r"Failed to load resource: .* status of (403|404|413|422) ")
SHOTS = os.environ.get("STEWARD_SCREENSHOTS", "")

# One demo user per role (see governance.demo.DEMO_USERS).
STAFF = "alice@example.com"
POLICY_ADMIN = "paula@example.com"
PRIVACY_OFFICER = "priya@example.com"
AUDITOR = "aaron@example.com"
CHARTS = "**/audit/charts/*"


@pytest.fixture
def shots() -> Path:
    if not SHOTS:
        pytest.skip("set STEWARD_SCREENSHOTS=<dir> to take screenshots")
    directory = Path(SHOTS)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def demo(transactional_db):
    seed_demo_organisation()


def shoot(page: Page, directory: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, 0)")  # a sticky top bar is drawn where the page is scrolled
    # caret="initial": Playwright's caret hiding writes style attributes, which
    # htmx would later copy and the CSP would (rightly) report.
    page.screenshot(path=directory / f"{name}.png", full_page=True, caret="initial")


def signed_in(new_context, email: str, errors: list[str], **kwargs) -> Page:
    page = watch_console(new_context(**kwargs).new_page(), errors)
    sign_in(page, email, DEMO_PASSWORD)
    return page


def test_it_shoots_every_page(shots: Path, demo, new_context, console_errors: list[str]):
    page = watch_console(new_context().new_page(), console_errors)
    page.goto("/accounts/login/")
    shoot(page, shots, "01-login")
    page.fill("input[name=login]", STAFF)
    page.fill("input[name=password]", "wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    shoot(page, shots, "02-login-error")
    page.goto("/accounts/password/reset/")
    shoot(page, shots, "03-password-reset")

    staff = signed_in(new_context, STAFF, console_errors)
    shoot(staff, shots, "10-dashboard-staff")
    staff.goto("/chat/")
    shoot(staff, shots, "11-chat")
    staff.goto("/policy/")
    shoot(staff, shots, "12-403")
    staff.goto("/no-such-page/")
    shoot(staff, shots, "13-404")
    staff.goto("/privacy/your-data/")
    staff.evaluate(  # a form sent without script, with a paste past what Steward reads
        """() => {
            const form = document.querySelector("main form[method=post]");
            const pasted = document.createElement("textarea");
            pasted.name = "note";
            pasted.value = "x".repeat(2700000);
            form.append(pasted);
            form.submit();
        }"""
    )
    expect(
        staff.get_by_role("heading", name="That was more than Steward takes at once")
    ).to_be_visible()
    shoot(staff, shots, "13-413")
    staff.locator("details.usermenu summary").click()
    shoot(staff, shots, "14-user-menu")
    staff.goto("/accounts/password/change/")
    shoot(staff, shots, "15-password-change")
    staff.goto("/accounts/2fa/")
    shoot(staff, shots, "16-two-factor")

    admin = signed_in(new_context, POLICY_ADMIN, console_errors)
    shoot(admin, shots, "20-dashboard-policy-admin")
    admin.goto("/policy/")
    shoot(admin, shots, "21-policy")
    admin.goto("/policy/users/")
    shoot(admin, shots, "22-users")
    admin.get_by_label("Work email").fill("not-an-email")
    admin.get_by_role("button", name="Send invitation").click()
    expect(admin.locator("#email-error")).to_be_visible()
    shoot(admin, shots, "23-users-invalid")
    admin.get_by_label("Work email").fill("dan@example.com")
    admin.get_by_label("Full name").fill("Dan Newcomer")
    admin.get_by_role("button", name="Send invitation").click()
    expect(admin.get_by_role("status").filter(has_text="Invitation sent")).to_be_visible()
    shoot(admin, shots, "24-users-invited")
    admin.get_by_role("link", name="Alice Martin").click()
    shoot(admin, shots, "25-user-detail")

    privacy = signed_in(new_context, PRIVACY_OFFICER, console_errors)
    shoot(privacy, shots, "30-dashboard-privacy-officer")
    privacy.goto("/privacy/")
    shoot(privacy, shots, "31-privacy")

    auditor = signed_in(new_context, AUDITOR, console_errors)
    shoot(auditor, shots, "40-dashboard-auditor")
    auditor.goto("/audit/")
    shoot(auditor, shots, "41-audit")

    phone = watch_console(new_context(viewport=PHONE).new_page(), console_errors)
    phone.goto("/accounts/login/")
    shoot(phone, shots, "50-phone-login")
    sign_in(phone, POLICY_ADMIN, DEMO_PASSWORD)
    shoot(phone, shots, "51-phone-dashboard")
    phone.goto("/policy/users/")
    shoot(phone, shots, "52-phone-users")
    phone.goto("/policy/")
    shoot(phone, shots, "53-phone-policy")

    # Chromium reports each 403/404/422 document as a failed resource; those are the point here.
    unexpected = [e for e in console_errors if not EXPECTED_STATUS.search(e)]
    assert unexpected == [], "\n".join(unexpected)


@pytest.fixture
def trail(transactional_db):
    return seed_audit_trail()


def test_it_shoots_the_audit_pages(shots: Path, trail, new_context, console_errors: list[str]):
    auditor = one_at_a_time(signed_in(new_context, AUDITOR, console_errors), CHARTS)
    auditor.goto("/audit/")
    shoot(auditor, shots, "60-audit-trail")
    auditor.get_by_label("Outcome").select_option("blocked")
    expect(auditor).to_have_url(re.compile("outcome=blocked"))
    shoot(auditor, shots, "61-audit-filtered")
    auditor.get_by_label("Actor email").fill("nobody@example.com")
    auditor.get_by_role("button", name="Filter").click()
    expect(auditor.locator("#event-results [role=alert]")).to_contain_text("No account")
    shoot(auditor, shots, "62-audit-filter-error")
    auditor.goto("/audit/?action=chat.request&category=Internal")
    auditor.get_by_role("link", name="Older events →").click()
    shoot(auditor, shots, "63-audit-older")

    pseudonymised = (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.CHAT_REQUEST, details__decision="pseudonymised"
        )
        .order_by("-sequence")
        .first()
    )
    auditor.goto(f"/audit/events/{pseudonymised.sequence}/")
    shoot(auditor, shots, "64-audit-event")
    auditor.goto(f"/audit/events/{trail.exception}/")
    shoot(auditor, shots, "65-audit-event-exception")
    auditor.goto("/audit/")
    auditor.get_by_role("button", name="Verify now").click()
    expect(auditor.get_by_role("status").filter(has_text="Verification started")).to_be_visible()
    shoot(auditor, shots, "66-audit-verified")
    auditor.goto("/audit/checkpoints/")
    shoot(auditor, shots, "67-audit-checkpoints")
    auditor.goto("/audit/dashboard/")
    shoot(auditor, shots, "68-audit-dashboard")
    auditor.goto("/audit/report/")
    shoot(auditor, shots, "69-audit-report")
    first = trail.first_day
    auditor.goto(f"/audit/report/?from={first}&to={first + dt.timedelta(days=6)}")
    shoot(auditor, shots, "70-audit-report-clean")

    phone = one_at_a_time(signed_in(new_context, AUDITOR, console_errors, viewport=PHONE), CHARTS)
    phone.goto("/audit/dashboard/")
    shoot(phone, shots, "71-phone-audit-dashboard")
    phone.goto("/audit/")
    shoot(phone, shots, "72-phone-audit-trail")
    phone.goto(f"/audit/events/{pseudonymised.sequence}/")
    shoot(phone, shots, "73-phone-audit-event")
    phone.goto("/audit/report/")
    shoot(phone, shots, "74-phone-audit-report")

    # The invalid filter answers 422, which Chromium reports as a failed resource.
    unexpected = [e for e in console_errors if not EXPECTED_STATUS.search(e)]
    assert unexpected == [], "\n".join(unexpected)
