"""An accessibility review's findings (WCAG 2.2 AA), checked on the HTML the pages send.

What needs a browser (focus, reflow at 320 px, contrast) is tests/browser/test_a11y_mends.py.
"""

import datetime as dt

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import record
from chat.models import Conversation, Message
from config.middleware import current_request_id
from governance.demo import seed_demo_organisation
from governance.models import User
from privacy.models import LegalHold, SubjectRequest
from tests.factories import make_done_answer
from tests.test_accessibility import Tree, _classes

pytestmark = pytest.mark.django_db


def _title(html: str) -> str:
    (title,) = Tree(html).find(lambda n: n["tag"] == "title")
    return title["text"].strip()


def _scroll_region(tree: Tree, predicate) -> dict:
    """The one element ``predicate`` picks: a scrolling box a keyboard can reach and a
    screen reader can name (axe's scrollable-region-focusable)."""
    (node,) = tree.find(predicate)
    assert node["attrs"].get("tabindex") == "0", node["attrs"]
    assert node["attrs"].get("role") == "region", node["attrs"]
    assert node["attrs"].get("aria-label"), node["attrs"]
    return node


# --- scrolling regions ------------------------------------------------------------------------


def test_a_requests_receipt_scrolls_as_a_named_region_the_keyboard_reaches(client, privacy_officer):
    request = SubjectRequest.objects.create(
        reference="DSR-2026-0001",
        kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.GDPR,
        received_on=dt.date(2026, 11, 30),
        due_on=dt.date(2026, 12, 30),
        receipt={"reference": "DSR-2026-0001", "counts": {"messages": 3}},
    )
    client.force_login(privacy_officer)
    tree = Tree(client.get(reverse("privacy:request", args=[request.public_id])).content.decode())
    receipt = _scroll_region(tree, lambda n: n["tag"] == "pre" and "receipt" in _classes(n))
    assert receipt["attrs"]["aria-label"] == "Receipt as JSON"


def test_the_insights_chart_scrolls_as_a_named_region_the_keyboard_reaches(client, reader):
    client.force_login(reader)
    tree = Tree(client.get(reverse("audit:dashboard")).content.decode())
    _scroll_region(tree, lambda n: "chart-scroll" in _classes(n))


def test_the_training_reports_people_scroll_as_a_named_region_of_its_own(client, db):
    """Named apart from the section round it: two regions of one name are one too many."""
    seed_demo_organisation()
    client.force_login(User.objects.get(email="paula@example.com"))
    tree = Tree(client.get(reverse("training:report")).content.decode())
    people = _scroll_region(tree, lambda n: n["attrs"].get("id") == "people")
    assert people["attrs"]["aria-label"] != tree.by_id("people-heading")["text"].strip()


def test_an_events_request_id_breaks_where_a_phone_needs_it(client, reader):
    """32 characters in one word ran past a 320 px screen."""
    token = current_request_id.set("0f5f29ce090c4d4e8fb0ce305068cd98")
    try:
        event = record(action=AuditEvent.Action.LOGIN, actor=reader)
    finally:
        current_request_id.reset(token)
    client.force_login(reader)
    tree = Tree(client.get(reverse("audit:event", args=[event.sequence])).content.decode())
    (request_id,) = tree.find(lambda n: n["text"].strip() == event.request_id and n["tag"] == "dd")
    assert "break" in _classes(request_id)


# --- titles, names and labels -----------------------------------------------------------------


def test_the_policy_console_and_the_policy_have_titles_of_their_own(client, db):
    seed_demo_organisation()
    client.force_login(User.objects.get(email="paula@example.com"))
    console = _title(client.get(reverse("governance:policy")).content.decode())
    policy = _title(client.get(reverse("training:policy")).content.decode())
    assert console == "Policy console · Steward"
    assert policy == "The policy · Steward"


def test_each_quiz_questions_page_has_a_title_of_its_own(client, db):
    """They all said "Question · Steward": a list of tabs, or of history, told none apart."""
    from training.models import QuizQuestion

    seed_demo_organisation()
    client.force_login(User.objects.get(email="paula@example.com"))
    in_quiz_2 = QuizQuestion.objects.filter(category_number=2)[:2]
    titles = [
        _title(client.get(reverse("training:question", args=[q.public_id])).content.decode())
        for q in in_quiz_2
    ]
    assert titles == ["Question 1 in quiz 2 · Steward", "Question 2 in quiz 2 · Steward"]


def test_a_simulators_finding_reads_as_the_value_then_its_kind_in_brackets(client, db):
    """Read out, "jane.roe@example.orgEmail address" ran the address into its kind."""
    seed_demo_organisation()
    client.force_login(User.objects.get(email="paula@example.com"))
    html = client.post(
        reverse("governance:simulator"),
        {"text": "Write to jane.roe@example.org", "user": "alice@example.com", "category": "2"},
    ).content.decode()
    (mark,) = Tree(html).find(lambda n: n["tag"] == "mark")
    hidden = [n["text"] for n in mark["children"] if "visually-hidden" in _classes(n)]
    assert hidden == [" (", ")"]
    assert mark["text"] == "jane.roe@example.org (Email address)"


def test_why_a_hold_is_released_is_asked_by_a_label_in_sight(client, privacy_officer, member):
    """A placeholder alone goes once typing starts; the label stayed hidden."""
    hold = LegalHold.objects.create(user=member, reason="Case 42")
    client.force_login(privacy_officer)
    tree = Tree(client.get(reverse("privacy:holds")).content.decode())
    (label,) = tree.find(
        lambda n: n["tag"] == "label" and n["attrs"].get("for") == f"release-{hold.public_id}"
    )
    assert label["text"].strip() == "Why release"
    assert "visually-hidden" not in _classes(label)


# --- privacy steps said where the page loads again --------------------------------------------


def _announced(client, response) -> list[str]:
    """The messages that take the focus when the page the step went back to loads."""
    page = Tree(client.get(response["Location"]).content.decode())
    flashes = page.find(lambda n: "data-announce" in n["attrs"])
    return [flash["children"][0]["text"].strip() for flash in flashes]


def test_each_step_of_a_request_is_said_once_the_page_loads_again(client, privacy_officer):
    client.force_login(privacy_officer)
    recorded = client.post(
        reverse("privacy:request_new"),
        {
            "kind": "access",
            "regime": "gdpr",
            "received_on": dt.date.today().isoformat(),
            "email": "jane@example.org",
        },
    )
    request = SubjectRequest.objects.get()
    (said,) = _announced(client, recorded)
    assert said.startswith(f"{request.reference} recorded; due ")

    verified = client.post(
        reverse("privacy:request_verify", args=[request.public_id]), {"method": "Called back"}
    )
    assert _announced(client, verified) == [
        f"{request.reference}: identity verified. Scope the request next."
    ]
    scoped = client.post(reverse("privacy:request_scope", args=[request.public_id]))
    assert _announced(client, scoped) == [
        f"{request.reference} scoped: a second privacy officer approves it next."
    ]


def test_placing_a_hold_and_asking_to_release_it_are_said_once_the_page_loads_again(
    client, privacy_officer, member
):
    client.force_login(privacy_officer)
    placed = client.post(reverse("privacy:holds"), {"person": member.email, "reason": "Case 42"})
    assert placed.status_code == 302, placed.content.decode()[:2000]
    assert _announced(client, placed) == ["Legal hold placed."]
    hold = LegalHold.objects.get()
    asked = client.post(
        reverse("privacy:hold_release", args=[hold.public_id]), {"reason": "Case closed"}
    )
    assert _announced(client, asked) == [
        "Release asked: the hold stays until another privacy officer confirms it."
    ]


# --- where focus goes when a chat turn or title is swapped in ---------------------------------


def _turn(client, message: Message) -> dict:
    html = client.get(reverse("chat:turn", args=[message.public_id])).content.decode()
    return Tree(html).by_id(f"turn-{message.public_id}")


def _focus_targets(node: dict) -> list[str]:
    targets = [n for n in _descendants(node) if "data-focus-after-swap" in n["attrs"]]
    return [n["text"].strip() for n in targets]


def _descendants(node: dict):
    for child in node["children"]:
        yield child
        yield from _descendants(child)


def test_a_finished_answer_names_its_copy_for_the_focus(client, member):
    answer = make_done_answer(member, "All done.")
    client.force_login(member)
    assert _focus_targets(_turn(client, answer)) == ["Copy"]


@pytest.mark.parametrize("status", [Message.Status.CANCELLED, Message.Status.FAILED])
def test_a_stopped_or_failed_answer_names_its_retry_for_the_focus(client, member, status):
    answer = make_done_answer(member, "Half an answer")
    Message.objects.filter(pk=answer.pk).update(status=status)
    client.force_login(member)
    assert _focus_targets(_turn(client, answer)) == ["↻ Retry"]


def test_an_answer_on_its_way_names_its_stop_for_the_focus(client, member):
    answer = make_done_answer(member, "The first words")
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.STREAMING)
    client.force_login(member)
    assert _focus_targets(_turn(client, answer)) == ["■ Stop"]


def test_a_renamed_conversation_names_its_rename_for_the_focus(client, member):
    """The Save button that had the focus goes with the form it was in."""
    conversation: Conversation = make_done_answer(member).conversation
    conversation.category.clearances.create(user=member)
    client.force_login(member)
    renamed = client.post(
        reverse("chat:rename", args=[conversation.public_id]),
        {"title": "Bridges"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    block = Tree(renamed).by_id("title-block")
    assert _focus_targets(block) == ["Rename"]
    refused = client.post(
        reverse("chat:rename", args=[conversation.public_id]),
        {"title": "x" * 200},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert _focus_targets(Tree(refused).by_id("title-block")) == []  # the error takes it
