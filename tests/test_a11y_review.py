"""A second accessibility review's findings (WCAG 2.2 AA, axe-core and the keyboard), checked
on the HTML the pages send.

What needs a browser (a focused control under the chat's message box, the audit links'
sizes, the filters' state after a swap) is in tests/browser/.
"""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import record
from governance.demo import seed_demo_organisation
from governance.models import Category, User
from tests.chat.test_views import _answered
from tests.test_accessibility import Tree, _invalid_fields

pytestmark = pytest.mark.django_db


# --- the audit filters: each refused field is described by its own error ---------------------


def _filtered(client, reader, query: dict, **headers) -> Tree:
    record(action=AuditEvent.Action.LOGIN, actor=reader)
    client.force_login(reader)
    response = client.get(reverse("audit:events"), query, **headers)
    assert response.status_code == 422
    return Tree(response.content.decode())


def test_a_refused_day_is_described_by_its_error_and_by_when_days_begin(client, reader):
    """The day's description (#filter-days) kept Django from adding the field's error."""
    tree = _filtered(client, reader, {"since": "2026-13-45", "until": "2026-12-01"})
    since, until = tree.by_id("id_since"), tree.by_id("id_until")
    assert since["attrs"].get("aria-invalid") == "true"
    assert "Days run midnight to midnight" in tree.description_of(since)
    assert "Enter a valid date." in tree.description_of(since)
    assert "aria-invalid" not in until["attrs"]
    assert "Enter a valid date." not in tree.description_of(until)


def test_an_unknown_actor_is_described_by_its_error(client, reader):
    """Django pointed the field at id_actor_error, which the page did not have."""
    tree = _filtered(client, reader, {"actor": "nobody@example.com"})
    actor = tree.by_id("id_actor")
    assert [field["attrs"]["id"] for field in _invalid_fields(tree)] == ["id_actor"]
    assert tree.description_of(actor) == "Actor email: No account has this email address."


def test_the_swapped_list_names_each_error_as_its_field_is_described_by(client, reader):
    """Filtered in place, only the list comes back: steward.js marks the fields from it."""
    tree = _filtered(
        client,
        reader,
        {"since": "yesterday", "actor": "nobody@example.com"},
        HTTP_HX_REQUEST="true",
    )
    assert tree.find(lambda n: n["attrs"].get("id") == "id_actor") == []  # no form in a swap
    errors = {n["attrs"]["id"]: n["text"].strip() for n in tree.find(_an_error)}
    assert errors == {
        "id_since_error": "From: Enter a valid date.",
        "id_actor_error": "Actor email: No account has this email address.",
    }


def _an_error(node: dict) -> bool:
    return node["tag"] == "li" and node["attrs"].get("id", "").endswith("_error")


# --- named regions, radios and buttons ---------------------------------------------------------


def test_the_records_table_is_a_region_named_apart_from_its_section(client, privacy_officer):
    seed_demo_organisation()
    client.force_login(privacy_officer)
    tree = Tree(client.get(reverse("privacy:records")).content.decode())
    (region,) = tree.find(lambda n: n["attrs"].get("role") == "region")
    heading = tree.by_id("records-heading")["text"].strip()
    assert "aria-labelledby" not in region["attrs"]
    assert region["attrs"]["aria-label"] == f"{heading} table"


def test_each_category_radio_is_named_by_its_category_and_described_by_its_summary(client, db):
    """The whole card was the name, link and all ("1 Public Information already public…
    What belongs here?"). The label holds the chip alone (number and name: the browser
    test reads "1 Public"), and the card's link is outside it."""
    seed_demo_organisation()
    client.force_login(User.objects.get(email="alice@example.com"))
    tree = Tree(client.get(reverse("chat:home")).content.decode())
    radios = tree.find(lambda n: n["tag"] == "input" and n["attrs"].get("name") == "category")
    labels = [_label_of(tree, radio) for radio in radios]
    assert [label["text"].strip() for label in labels] == ["1Public", "2Internal"]
    assert all(radio["parent"]["tag"] != "label" for radio in radios)
    assert [label["children"][0]["attrs"]["class"] for label in labels] == [
        "cat cat-1",
        "cat cat-2",
    ]
    public = tree.description_of(radios[0])
    assert public == "Information already public: published docs, general knowledge, open source."


def _label_of(tree: Tree, field: dict) -> dict:
    (label,) = tree.find(
        lambda n: n["tag"] == "label" and n["attrs"].get("for") == field["attrs"]["id"]
    )
    return label


def test_each_answers_copy_has_a_name_of_its_own(client, db):
    """Two "Copy the answer" in one thread: a screen reader's list of buttons could not
    tell them apart."""
    seed_demo_organisation()
    alice = User.objects.get(email="alice@example.com")
    internal = Category.objects.get(number=2)
    conversation, _, _ = _answered(alice, internal, "First question", "Paris is the capital.")
    _answered(alice, internal, "Second question", "**Berlin** is.", conversation=conversation)
    _answered(
        alice,
        internal,
        "Third",
        "![A map](https://example.com/m.png) of it",
        conversation=conversation,
    )
    client.force_login(alice)
    url = reverse("chat:conversation", args=[conversation.public_id])
    tree = Tree(client.get(url).content.decode())
    copies = tree.find(lambda n: n["tag"] == "button" and "data-copy" in n["attrs"])
    names = [copy["attrs"]["aria-label"] for copy in copies]
    assert names == [
        "Copy the answer that begins “Paris is the capital.”",
        "Copy the answer that begins “Berlin is.”",  # its words, not its Markdown
        "Copy the answer that begins “A map of it”",  # as the page shows an image
    ]
    assert all(copy["text"].strip() == "Copy" for copy in copies)  # its name starts with it
