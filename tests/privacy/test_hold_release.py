"""Releasing a legal hold takes four eyes: one privacy officer asks, saying why, another
confirms; never the person the hold is about. A refused step keeps what was typed and says
why; every step is in the trail."""

import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from governance.roles import Role
from privacy import services
from privacy.models import LegalHold
from privacy.services import PrivacyError
from tests.api.test_rest import _client_of
from tests.factories import make_user
from tests.privacy.conftest import confirm, make_conversation

ABOUT_YOU = "This hold is about you: other privacy officers release it."
ASKED_YOURSELF = "You asked to release this hold: another privacy officer confirms it."
CHANGED = "The ask to release this hold has changed since you read it"


@pytest.fixture
def holds_on_priya(org, officers):
    """Priya is a privacy officer who chats too: one hold on her account, one on a
    conversation of hers, both placed by Omar."""
    priya, omar = officers
    conversation = make_conversation(priya, org.internal)
    return (
        services.place_hold(actor=omar, reason="Investigation 17", user=priya),
        services.place_hold(actor=omar, reason="Investigation 17", conversation=conversation),
    )


@pytest.fixture
def hold(org, officers):
    return services.place_hold(actor=officers[0], reason="Case 31", user=org.alice)


@pytest.fixture
def third(db):
    return make_user("tara@corp.example", Role.PRIVACY_OFFICER, full_name="Tara")


def _active(hold) -> bool:
    return LegalHold.objects.get(pk=hold.pk).active


def test_one_officer_alone_cannot_release_a_hold(officers, hold):
    """Else one officer could release a hold and let the purge delete what it kept."""
    priya, omar = officers
    with pytest.raises(PrivacyError, match="Ask to release it first"):
        confirm(hold, priya)
    services.ask_release(hold=hold, actor=priya, reason="Case settled")
    assert _active(hold)
    with pytest.raises(PrivacyError, match=ASKED_YOURSELF):
        confirm(hold, priya)
    assert _active(hold)
    released = confirm(hold, omar)
    assert not _active(hold)
    assert (released.release_asked_by, released.released_by) == (priya, omar)
    assert released.release_reason == "Case settled"


def test_each_step_is_in_the_trail_with_who_asked(officers, hold):
    priya, omar = officers
    services.ask_release(hold=hold, actor=priya, reason="Case settled")
    services.withdraw_release(hold=hold, actor=omar)
    services.ask_release(hold=hold, actor=omar, reason="Settled for real")
    confirm(hold, priya)
    A = AuditEvent.Action
    events = AuditEvent.objects.filter(target_id=str(hold.public_id)).order_by("sequence")
    assert [(e.action, e.actor_id) for e in events] == [
        (A.HOLD_PLACED, priya.pk),
        (A.HOLD_RELEASE_ASKED, priya.pk),
        (A.HOLD_RELEASE_WITHDRAWN, omar.pk),
        (A.HOLD_RELEASE_ASKED, omar.pk),
        (A.HOLD_RELEASED, priya.pk),
    ]
    assert events[2].details["asked_by"] == str(priya.public_id)
    assert events[4].details["asked_by"] == str(omar.public_id)
    assert events[3].details["reason_chars"] == len("Settled for real")


def test_an_ask_is_made_once_and_withdrawn_only_while_it_stands(officers, hold):
    priya, omar = officers
    with pytest.raises(PrivacyError, match="Nobody has asked to release this hold"):
        services.withdraw_release(hold=hold, actor=omar)
    services.ask_release(hold=hold, actor=priya, reason="Case settled")
    with pytest.raises(PrivacyError, match="Priya asked to release this hold on"):
        services.ask_release(hold=hold, actor=omar, reason="Me too")
    services.withdraw_release(hold=hold, actor=priya)
    hold.refresh_from_db()
    assert hold.active and not hold.release_asked and hold.release_reason == ""
    with pytest.raises(PrivacyError, match="Ask to release it first"):
        confirm(hold, omar)


def test_a_released_hold_takes_no_further_step(officers, hold, third):
    priya, omar = officers
    services.ask_release(hold=hold, actor=priya, reason="Case settled")
    confirm(hold, omar)
    for step in (
        lambda: services.ask_release(hold=hold, actor=third, reason="Again"),
        lambda: confirm(hold, third),
        lambda: services.withdraw_release(hold=hold, actor=third),
    ):
        with pytest.raises(PrivacyError, match="already released"):
            step()


def test_an_officer_takes_no_part_in_releasing_a_hold_on_their_own_content(
    officers, holds_on_priya, third
):
    priya, omar = officers
    for held in holds_on_priya:
        with pytest.raises(PrivacyError, match=ABOUT_YOU):
            services.ask_release(hold=held, actor=priya, reason="Done")
        services.ask_release(hold=held, actor=omar, reason="Done")
        for step in (
            lambda: confirm(held, priya),
            lambda: services.withdraw_release(hold=held, actor=priya),
        ):
            with pytest.raises(PrivacyError, match=ABOUT_YOU):
                step()
        assert _active(held)
        confirm(held, third)
        assert not _active(held)


def test_the_holds_page_offers_no_step_on_a_hold_about_you(client, officers, holds_on_priya):
    priya, omar = officers
    services.ask_release(hold=holds_on_priya[1], actor=omar, reason="Investigation over")
    client.force_login(priya)
    page = client.get(reverse("privacy:holds")).content.decode()
    assert page.count("About you: other privacy officers release it.") == 2
    assert "Investigation 17" not in page  # what it is for is not shown to its subject
    assert "Investigation over" not in page
    for held in holds_on_priya:
        for name in ("hold_release", "hold_release_confirm", "hold_release_withdraw"):
            assert reverse(f"privacy:{name}", args=[held.public_id]) not in page
    refused = client.post(
        reverse("privacy:hold_release", args=[holds_on_priya[0].public_id]), {"reason": "Done"}
    )
    assert refused.status_code == 422 and ABOUT_YOU in refused.content.decode()
    refused = client.post(
        reverse("privacy:hold_release_confirm", args=[holds_on_priya[1].public_id])
    )
    assert refused.status_code == 422 and ABOUT_YOU in refused.content.decode()
    assert all(_active(held) for held in holds_on_priya)
    client.force_login(omar)
    page = client.get(reverse("privacy:holds")).content.decode()
    assert "About you" not in page and "Investigation 17" in page
    assert reverse("privacy:hold_release", args=[holds_on_priya[0].public_id]) in page


def test_the_holds_page_walks_both_officers_through_a_release(client, officers, hold):
    priya, omar = officers
    client.force_login(priya)
    asked = client.post(
        reverse("privacy:hold_release", args=[hold.public_id]),
        {"reason": "Case settled"},
        follow=True,
    )
    page = asked.content.decode()
    assert "Release asked: the hold stays until another privacy officer confirms it." in page
    assert "Case settled" in page and "Another privacy officer confirms it." in page
    assert reverse("privacy:hold_release_confirm", args=[hold.public_id]) not in page
    assert reverse("privacy:hold_release_withdraw", args=[hold.public_id]) in page
    refused = client.post(reverse("privacy:hold_release_confirm", args=[hold.public_id]))
    assert refused.status_code == 422 and ASKED_YOURSELF in refused.content.decode()

    client.force_login(omar)
    desk = client.get(reverse("privacy:desk")).content.decode()
    assert "Release asked: waiting for you to confirm or withdraw" in desk
    page = client.get(reverse("privacy:holds")).content.decode()
    assert reverse("privacy:hold_release_confirm", args=[hold.public_id]) in page
    asked_at = re.search(r'name="asked_at" value="([^"]+)"', page)[1]
    released = client.post(
        reverse("privacy:hold_release_confirm", args=[hold.public_id]),
        {"asked_at": asked_at},
        follow=True,
    ).content.decode()
    assert "Legal hold released." in released and "Omar, asked by Priya: Case settled" in released
    assert not _active(hold)


@pytest.mark.parametrize("asked_at", ["", "not a time", "2026-13-45T99:00:00"])
def test_a_confirm_without_the_ask_it_read_is_refused(client, officers, hold, asked_at):
    services.ask_release(hold=hold, actor=officers[0], reason="Case settled")
    client.force_login(officers[1])
    refused = client.post(
        reverse("privacy:hold_release_confirm", args=[hold.public_id]), {"asked_at": asked_at}
    )
    assert refused.status_code == 422 and CHANGED in refused.content.decode()
    assert _active(hold)


def test_a_confirm_of_an_ask_since_withdrawn_and_made_again_is_refused(
    client, officers, hold, third
):
    """Omar read Priya's ask; Priya withdrew it and Tara asked again, for another reason.
    Omar's click approved what he never read."""
    priya, omar = officers
    services.ask_release(hold=hold, actor=priya, reason="Case 31 settled")
    client.force_login(omar)
    page = client.get(reverse("privacy:holds")).content.decode()
    read = re.search(r'name="asked_at" value="([^"]+)"', page)[1]
    services.withdraw_release(hold=hold, actor=priya)
    services.ask_release(hold=hold, actor=third, reason="Storage is full")
    refused = client.post(
        reverse("privacy:hold_release_confirm", args=[hold.public_id]), {"asked_at": read}
    )
    assert refused.status_code == 422 and CHANGED in refused.content.decode()
    assert "Storage is full" in refused.content.decode()  # the page shows the ask as it is
    assert _active(hold)


def test_the_holds_page_shows_no_reason_of_a_released_hold_about_you(
    client, officers, holds_on_priya, third
):
    priya, omar = officers
    services.ask_release(hold=holds_on_priya[0], actor=omar, reason="Priya cleared by HR")
    confirm(holds_on_priya[0], third)
    client.force_login(priya)
    page = client.get(reverse("privacy:holds")).content.decode()
    assert "Investigation 17" not in page and "Priya cleared by HR" not in page
    client.force_login(omar)
    page = client.get(reverse("privacy:holds")).content.decode()
    assert "Investigation 17" in page and "Priya cleared by HR" in page


def test_a_withdrawn_ask_leaves_the_hold_as_it_was(client, officers, hold):
    priya, omar = officers
    services.ask_release(hold=hold, actor=priya, reason="Case settled")
    client.force_login(omar)
    kept = client.post(reverse("privacy:hold_release_withdraw", args=[hold.public_id]), follow=True)
    assert "Release withdrawn: the hold stays." in kept.content.decode()
    hold.refresh_from_db()
    assert hold.active and not hold.release_asked
    again = client.post(reverse("privacy:hold_release_withdraw", args=[hold.public_id]))
    assert again.status_code == 422
    assert "Nobody has asked to release this hold." in again.content.decode()


def test_the_desk_shows_no_reason_of_a_hold_about_you(client, officers, holds_on_priya):
    """The holds page hid it; the desk's list of active holds showed it."""
    client.force_login(officers[0])
    desk = client.get(reverse("privacy:desk")).content.decode()
    assert "Investigation 17" not in desk
    assert desk.count("about you: its reason is not shown") == 2
    client.force_login(officers[1])
    assert "Investigation 17" in client.get(reverse("privacy:desk")).content.decode()


def test_the_rest_api_takes_the_same_steps(officers, hold, holds_on_priya):
    priya, omar = officers
    base = f"/api/privacy/holds/{hold.public_id}/release/"
    asked = _client_of(priya).post(base, {"reason": "Case settled"})
    assert asked.status_code == 200 and asked.json()["release_asked_by"] == "Priya"
    seen = {"release_asked_at": asked.json()["release_asked_at"]}
    refused = _client_of(priya).post(base + "confirm/", seen)
    assert refused.status_code == 400 and ASKED_YOURSELF in str(refused.json())
    withdrawn = _client_of(omar).post(base + "withdraw/")
    assert withdrawn.status_code == 200 and withdrawn.json()["release_asked_by"] is None
    stale = _client_of(priya).post(base + "confirm/", seen)
    assert stale.status_code == 400 and "Nobody has asked" not in str(stale.json())
    asked = _client_of(omar).post(base, {"reason": "Settled"}).json()
    refused = _client_of(priya).post(base + "confirm/", seen)
    assert refused.status_code == 400 and CHANGED in str(refused.json())
    missing = _client_of(priya).post(base + "confirm/")
    assert missing.status_code == 400 and "release_asked_at" in missing.json()
    seen = {"release_asked_at": asked["release_asked_at"]}
    released = _client_of(priya).post(base + "confirm/", seen).json()
    assert (released["released_by"], released["release_asked_by"]) == ("Priya", "Omar")

    refused = _client_of(priya).post(
        f"/api/privacy/holds/{holds_on_priya[0].public_id}/release/", {"reason": "Done"}
    )
    assert refused.status_code == 400 and ABOUT_YOU in str(refused.json())
    assert _active(holds_on_priya[0])


@pytest.mark.parametrize(
    ("typed", "complaint"),
    [
        ("x" * 501, "501"),
        ("", "required"),
    ],
)
def test_a_refused_ask_says_why_and_keeps_the_typed_reason(
    client, officers, holds_on_priya, typed, complaint
):
    priya, omar = officers
    held = holds_on_priya[0]
    client.force_login(omar)
    refused = client.post(reverse("privacy:hold_release", args=[held.public_id]), {"reason": typed})
    page = refused.content.decode()
    assert refused.status_code == 422
    assert complaint in page and "Say why the hold is released" not in page
    assert f'value="{typed}"' in page
    held.refresh_from_db()
    assert held.active and not held.release_asked
