"""The dashboard says what waits for its reader: a policy version to acknowledge (staff), a
request to approve or a hold release to confirm (privacy officers)."""

import datetime as dt

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from governance.models import User
from governance.roles import Role
from privacy import services as privacy
from tests.factories import make_user
from tests.privacy.conftest import make_conversation, receive
from training import services as training

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    """The demo organisation (tests/training's fixture of that name, in short)."""
    from types import SimpleNamespace

    from governance.demo import seed_demo_organisation
    from governance.models import Category

    seed_demo_organisation()
    people = {u.email.split("@")[0]: u for u in User.objects.all()}
    return SimpleNamespace(**people, public=Category.objects.get(slug="public"))


@pytest.fixture
def publish(demo, django_capture_on_commit_callbacks):
    """Publish a new version as Paula, its commit hooks run (they clear the cached version)."""

    def publish_version(note: str = "Changed"):
        draft = training.save_draft(
            actor=demo.paula, title="Policy", body="## Rules\n\nBe careful.", change_note=note
        )
        with django_capture_on_commit_callbacks(execute=True):
            return training.publish(actor=demo.paula, document=draft)

    return publish_version


@pytest.fixture
def officers(db):
    """Two privacy officers (tests/privacy's fixture of that name)."""
    return (
        make_user("priya@corp.example", Role.PRIVACY_OFFICER, Role.STAFF, full_name="Priya"),
        make_user("omar@corp.example", Role.PRIVACY_OFFICER, full_name="Omar"),
    )


ACKNOWLEDGE = f'href="{reverse("training:acknowledge")}"'


def _day(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%-d %b %Y}"


def _dashboard(client, user) -> str:
    client.force_login(user)
    return client.get("/").content.decode()


# --- the policy to acknowledge ----------------------------------------------------------------


def test_nobody_is_asked_anything_before_a_first_version_is_published(client, demo):
    page = _dashboard(client, demo.carol)
    assert "policy-to-acknowledge" not in page and ACKNOWLEDGE not in page


def test_staff_who_never_acknowledged_are_asked_to_before_they_chat(client, demo, publish):
    first = publish(note="")
    page = _dashboard(client, demo.carol)
    assert f"The policy was published on {_day(first.published_at)}:" in page
    assert "read and acknowledge it before you chat." in page
    assert ACKNOWLEDGE in page


def test_a_new_version_is_announced_with_the_grace_periods_end_until_acknowledged(
    client, demo, publish
):
    first = publish(note="")
    training.acknowledge(user=demo.carol, document=first)
    assert "policy-to-acknowledge" not in _dashboard(client, demo.carol)

    second = publish(note="Clearer rules")
    due = second.published_at + dt.timedelta(days=settings.STEWARD_ACK_GRACE_DAYS)
    page = _dashboard(client, demo.carol)
    assert f"A new version of the policy was published on {_day(second.published_at)}:" in page
    # To the minute: the grace period ends at the moment it began, some days on, not at
    # the end of that day (someone reading "by 8 Dec" would be stopped that afternoon).
    ends = timezone.localtime(due)
    assert f"read and acknowledge it by {_day(due)}, {ends:%H:%M}; after that" in page
    assert ACKNOWLEDGE in page

    training.acknowledge(user=demo.carol, document=second)
    page = _dashboard(client, demo.carol)
    assert "policy-to-acknowledge" not in page and ACKNOWLEDGE not in page


def test_after_the_grace_period_the_notice_says_before_you_chat(client, demo, publish):
    """As the chat gate decides: the grace period runs from the first version not acknowledged."""
    first = publish(note="")
    training.acknowledge(user=demo.carol, document=first)
    second = publish(note="Clearer rules")
    second.published_at -= dt.timedelta(days=settings.STEWARD_ACK_GRACE_DAYS + 1)
    second.save(update_fields=["published_at"])
    assert training.needs_acknowledgement(demo.carol)
    page = _dashboard(client, demo.carol)
    assert "read and acknowledge it before you chat." in page


def test_the_notice_costs_the_dashboard_two_queries_at_most(
    client, demo, publish, django_assert_max_num_queries
):
    client.force_login(demo.carol)
    with django_assert_max_num_queries(12) as before:
        client.get("/")
    baseline = len(before)
    first = publish(note="")
    client.get("/")  # the current version is cached per process from then on
    with django_assert_max_num_queries(baseline + 2):
        assert "policy-to-acknowledge" in client.get("/").content.decode()
    training.acknowledge(user=demo.carol, document=first)
    with django_assert_max_num_queries(baseline + 1):
        assert "policy-to-acknowledge" not in client.get("/").content.decode()


# --- what waits for a privacy officer ---------------------------------------------------------

APPROVAL = "waiting for your approval"
CONFIRM = "waiting for you to confirm"


def _scoped(officers, by, **overrides):
    request = receive(officers, actor=by, **overrides)
    request = privacy.verify_identity(request=request, actor=by, method="Called back")
    return privacy.scope_request(request=request, actor=by)


def test_an_officer_sees_the_requests_waiting_for_their_approval_only(client, officers):
    priya, omar = officers
    _scoped(officers, priya)
    page = _dashboard(client, omar)
    assert f'<a class="stat stat-waiting" href="{reverse("privacy:desk")}">' in page
    assert f'1</span><span class="stat-label">{APPROVAL}' in page
    assert APPROVAL not in _dashboard(client, priya)  # she scoped it: four eyes

    _scoped(officers, priya, identifiers=[("email", omar.email)])  # about Omar: not his
    assert f'1</span><span class="stat-label">{APPROVAL}' in _dashboard(client, omar)
    _scoped(officers, omar, identifiers=[("email", "sam.roe@example.org")])
    assert f'1</span><span class="stat-label">{APPROVAL}' in _dashboard(client, priya)


def test_an_officer_sees_the_hold_releases_waiting_for_them_to_confirm(client, officers, demo):
    priya, omar = officers
    hold = privacy.place_hold(actor=priya, reason="Case 7", user=demo.carol)
    assert CONFIRM not in _dashboard(client, omar)
    privacy.ask_release(hold=hold, actor=priya, reason="Settled")
    page = _dashboard(client, omar)
    assert f'<a class="stat stat-waiting" href="{reverse("privacy:holds")}">' in page
    assert f'1</span><span class="stat-label">hold release {CONFIRM}' in page
    assert CONFIRM not in _dashboard(client, priya)  # she asked

    about_omar = privacy.place_hold(actor=priya, reason="Case 8", user=omar)
    privacy.ask_release(hold=about_omar, actor=priya, reason="Settled")
    assert f'1</span><span class="stat-label">hold release {CONFIRM}' in _dashboard(client, omar)
    other = privacy.place_hold(actor=omar, reason="Case 9", user=demo.bob)
    privacy.ask_release(hold=other, actor=omar, reason="Settled")
    page = _dashboard(client, priya)
    assert f'1</span><span class="stat-label">hold release {CONFIRM}' in page


def test_the_officers_counts_cost_the_same_however_many_wait(
    client, officers, demo, django_assert_max_num_queries
):
    priya, omar = officers
    client.force_login(omar)

    def waiting():
        _scoped(officers, priya, identifiers=[("email", f"p{waiting.n}@example.org")])
        hold = privacy.place_hold(actor=priya, reason="Case", user=demo.carol)
        privacy.ask_release(hold=hold, actor=priya, reason="Settled")
        conversation_hold = privacy.place_hold(
            actor=priya, reason="Case", conversation=make_conversation(demo.bob, demo.public)
        )
        privacy.ask_release(hold=conversation_hold, actor=priya, reason="Settled")
        waiting.n += 1

    waiting.n = 0
    waiting()
    with django_assert_max_num_queries(30) as once:
        client.get("/")
    for _ in range(3):
        waiting()
    with django_assert_max_num_queries(len(once)):
        page = client.get("/").content.decode()
    assert f'4</span><span class="stat-label">{APPROVAL}' in page
    assert f'8</span><span class="stat-label">hold releases {CONFIRM}' in page
