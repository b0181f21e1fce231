"""A recorded setting reads the same on the trail's event page as in the policy console's
history: the history said "Switched on", "—", "yes" and the form's labels, the event page
"Active", "none", "Yes" and the stored keys, for the same event."""

import re

from audit.models import AuditEvent
from audit.services import record
from audit.words import EMPTY, changed_settings, in_words
from governance.services import save_category, set_category_active, set_finding_actions
from tests.factories import make_backend, make_category

HISTORY_ROW = re.compile(
    r'<tr><th scope="row">([^<]*)</th><td><span class="was">([^<]*)</span>.*?'
    r'<span class="now">([^<]*)</span></td></tr>'
)
PAIR = re.compile(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>")


def _history(page: str) -> list[list[tuple[str, str, str]]]:
    """Each event's rows in the history card, newest first."""
    card = page[page.index('<section id="history"') :]
    return [HISTORY_ROW.findall(item) for item in card.split("<li>")[1:]]


def _recorded(page: str) -> dict[str, dict[str, str]]:
    """The event page's Before and After, in words, as {name: value}."""
    words = page.split('<details class="exact-record">')[0]
    sides = re.split(r"<h3>(Before|After|Details)</h3>", words)[1:]
    return {side: dict(PAIR.findall(text)) for side, text in zip(sides[::2], sides[1::2])}


def test_a_categorys_changes_read_the_same_on_both_pages(client, admin, reader):
    category = make_category(number=2, slug="internal", name="Internal", retention_days=30)
    changes = {
        "retention_days": 60,
        "allowed_hosting_classes": ["on_prem", "external_api"],
        "require_dpa": True,
        "summary": "",
    }
    save_category(category=category, values=changes, actor=admin)
    set_finding_actions(category=category, actions={"EMAIL_ADDRESS": "block"}, actor=admin)
    set_category_active(category=category, active=False, actor=admin)
    client.force_login(admin)
    history = _history(client.get("/policy/categories/internal/").content.decode())
    events = AuditEvent.objects.filter(target_id=str(category.pk)).order_by("-sequence")
    client.force_login(reader)
    assert len(history) == len(events) == 3
    for rows, event in zip(history, events, strict=True):
        recorded = _recorded(client.get(f"/audit/events/{event.sequence}/").content.decode())
        assert rows
        for name, before, after in rows:
            assert recorded["Before"].get(name, EMPTY) == before
            assert recorded["After"].get(name, EMPTY) == after
    assert ("Keep conversations for (days)", "30", "60") in history[2]
    assert ("Allowed hosting", EMPTY, "On-premise, External API") in history[2]
    assert ("Require a signed data processing agreement", "No", "Yes") in history[2]
    assert ("Summary", "Information already public.", EMPTY) in history[2]
    assert ("What findings do", EMPTY, "Email address: block") in history[1]
    assert history[0] == [("In use (not retired)", "Yes", "No")]


def test_a_backends_values_are_named_by_its_choices_on_both_pages(client, admin, reader):
    backend = make_backend()
    before = {"hosting_class": "on_prem", "enabled": True}
    after = {"hosting_class": "external_api", "enabled": False}
    event = record(
        action=AuditEvent.Action.POLICY_CHANGED, actor=admin, target=backend,
        before=before, after=after,
    )  # fmt: skip
    kind = event.target_type
    assert changed_settings(before, after, kind) == [
        ("Hosting class", "On-premise", "External API"),
        ("Enabled", "Yes", "No"),
    ]
    client.force_login(reader)
    page = client.get(f"/audit/events/{event.sequence}/").content.decode()
    assert _recorded(page)["After"] == {"Enabled": "No", "Hosting class": "External API"}


def test_keys_no_form_names_read_in_plain_words_and_empty_as_a_dash():
    details = {"chars": 12, "latency_ms": 340, "findings": {"PROTECTED_TERM": 2}, "region": ""}
    assert in_words(details, "chat.conversation") == [
        ("Characters", "12"),
        ("Found", "Protected term × 2"),
        ("Latency (ms)", "340"),
        ("Region", EMPTY),
    ]
    assert in_words({"hosting_class": "private_cloud", "ok": None}) == [
        ("Hosting class", "Private cloud"),
        ("Ok", EMPTY),
    ]


def test_a_setting_missing_on_both_sides_is_left_out_of_the_changes():
    assert changed_settings({"region": ""}, {"region": None, "name": "A"}) == [("Name", EMPTY, "A")]
