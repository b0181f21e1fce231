"""A privacy officer runs a data-subject request from intake to receipt, with a colleague approving.

With STEWARD_SCREENSHOTS=<dir>, the privacy pages are also saved as PNGs.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from chat import services as chat
from chat.models import Message
from chat.services import sending
from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from governance.models import Category, User
from privacy.models import PurgeRun, SubjectRequest
from tests.browser.conftest import sign_in, watch_console

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("STEWARD_SCREENSHOTS", "")


def _shoot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar is drawn where the page is
    page.screenshot(path=Path(SHOTS) / f"{name}.png", full_page=True, caret="initial")


@pytest.fixture
def demo(transactional_db, monkeypatch):
    seed_demo_organisation()
    # No model is needed: the request only has to be recorded and indexed.
    monkeypatch.setattr(sending, "enqueue_answer", lambda *args, **kwargs: True)
    alice = User.objects.get(email="alice@example.com")
    conversation = chat.start_conversation(
        owner=alice, category=Category.objects.get(slug="internal")
    )
    chat.send_message(
        conversation=conversation,
        author=alice,
        text="Reply to jane.roe@example.org about her refund.",
    )


def _officer(new_context, email: str, errors: list[str]) -> Page:
    page = watch_console(new_context().new_page(), errors)
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, email, DEMO_PASSWORD)
    return page


def test_a_request_goes_from_intake_to_receipt(demo, new_context, console_errors):
    priya = _officer(new_context, "priya@example.com", console_errors)
    priya.get_by_role("link", name="Privacy", exact=True).click()
    _shoot(priya, "privacy-01-desk-empty")
    priya.get_by_role("link", name="Record a request").click()
    priya.get_by_label("Erasure (be forgotten)").check()
    priya.get_by_role("button", name="Record the request").click()
    expect(priya.get_by_text("Give at least one identifier")).to_be_visible()
    priya.get_by_label("Email address").fill("Jane.Roe@example.org")
    priya.get_by_role("button", name="Record the request").click()
    expect(priya.get_by_role("heading", level=1)).to_contain_text("DSR-")
    expect(priya.get_by_text("days left")).to_be_visible()

    priya.get_by_label("How was the identity checked?").fill("Replied from the address on file")
    priya.get_by_role("button", name="Record the identity check").click()
    priya.get_by_role("button", name="Scope the request").click()
    expect(priya.get_by_text("1 message in 1 conversation of 1 user")).to_be_visible()
    recipient = Message.objects.get(role=Message.Role.ASSISTANT).backend_name
    expect(priya.get_by_role("cell", name=recipient)).to_be_visible()
    expect(priya.get_by_role("button", name="Approve and execute")).to_be_disabled()
    _shoot(priya, "privacy-02-request-scoped")
    url = priya.url
    # On a phone, the recipients' note wraps (it held the page 567 px wide).
    priya.set_viewport_size({"width": 390, "height": 844})
    assert priya.evaluate("document.documentElement.scrollWidth") <= 390
    priya.set_viewport_size({"width": 1280, "height": 800})

    oscar = _officer(new_context, "oscar@example.com", console_errors)
    oscar.goto(url)
    oscar.get_by_role("button", name="Approve and execute").click()
    expect(oscar.get_by_text("Completed", exact=True).first).to_be_visible()
    expect(oscar.get_by_text("1 message redacted")).to_be_visible()
    with oscar.expect_download() as download:
        oscar.get_by_role("link", name="Download receipt").click()
    assert download.value.suggested_filename.endswith("-receipt.json")
    _shoot(oscar, "privacy-03-request-completed")
    # A page that followed the run (its card polled) loads again once it ends, and says how
    # it ended in a message that takes the focus, for a screen reader to read.
    oscar.evaluate(
        "async url => { await fetch(url, {headers: {'HX-Request': 'true', "
        "'HX-Target': 'request-progress'}}) }",
        url,
    )
    oscar.reload()
    announced = oscar.locator("[data-announce]")
    expect(announced).to_contain_text("the erasure is complete")
    expect(announced).to_be_focused()

    request = SubjectRequest.objects.get()
    assert request.status == SubjectRequest.Status.COMPLETED and request.identifiers() == []
    priya.goto("/privacy/")
    expect(priya.get_by_text(request.reference)).to_be_visible()
    _shoot(priya, "privacy-04-desk")
    # The one refused intake answered 422 on purpose; nothing else may complain.
    assert [e for e in console_errors if "status of 422" not in e] == []


def test_purges_holds_and_your_data_pages(demo, new_context, console_errors):
    priya = _officer(new_context, "priya@example.com", console_errors)
    priya.goto("/privacy/purges/")
    priya.get_by_role("link", name="Dry run").click()
    expect(priya.get_by_text("Nothing has expired.")).to_be_visible()
    priya.get_by_role("button", name="Purge now").click()
    expect(priya.get_by_role("heading", level=1)).to_contain_text("Purge of")
    expect(priya.get_by_text("Done", exact=True)).to_be_visible()
    _shoot(priya, "privacy-05-purge")
    priya.goto("/privacy/purges/")
    _shoot(priya, "privacy-06-purges")

    priya.goto("/privacy/holds/")
    priya.get_by_label("Person (staff email)").fill("alice@example.com")
    priya.get_by_label("Reason").fill("Case 2026-14: supplier dispute")
    priya.get_by_role("button", name="Place the hold").click()
    expect(priya.get_by_role("cell", name="Case 2026-14: supplier dispute")).to_be_visible()
    _shoot(priya, "privacy-07-holds")

    alice = _officer(new_context, "alice@example.com", console_errors)
    alice.locator("details.usermenu summary").click()
    alice.get_by_role("link", name="Your data", exact=True).click()
    alice.get_by_role("button", name="Ask for a copy").click()
    expect(alice.get_by_text("sent to the privacy team")).to_be_visible()
    _shoot(alice, "privacy-08-your-data")

    PurgeRun.objects.create(status=PurgeRun.Status.FAILED, errors=["OperationalError"])
    priya.goto("/privacy/")
    expect(priya.get_by_role("alert")).to_contain_text("The last purge")
    priya.get_by_role("link", name="What went wrong →").click()
    expect(priya.get_by_text("OperationalError")).to_be_visible()
    priya.goto("/privacy/")
    _shoot(priya, "privacy-09-purge-alarm")
    assert console_errors == []


def test_an_overdue_request_fits_the_desk_on_a_phone(demo, new_context, console_errors):
    """The due date of an overdue request did not wrap, and ran past the card's edge."""
    import datetime as dt

    from django.utils import timezone

    from privacy import services

    priya = User.objects.get(email="priya@example.com")
    services.receive_request(
        actor=priya,
        kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.GDPR,
        received_on=timezone.localdate() - dt.timedelta(days=40),
        identifiers=[("email", "late.person@example.org")],
    )
    page = _officer(new_context, "priya@example.com", console_errors)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/privacy/")
    expect(page.get_by_text("overdue: was due")).to_be_visible()
    overflow = page.evaluate(
        "[...document.querySelectorAll('.table-wrap')].map(w => w.scrollWidth - w.clientWidth)"
    )
    assert overflow and max(overflow) <= 0
