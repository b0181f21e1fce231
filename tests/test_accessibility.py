"""What a screen reader is told, checked on the HTML the pages send (no browser).

The browser half (contrast, keyboard, focus) is tests/browser/test_accessibility.py.
"""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from chat.models import Message
from governance.roles import Role
from tests.factories import make_done_answer, make_user


class Tree(HTMLParser):
    """Just enough DOM to follow ids and ancestors: each element a dict with its tag,
    attrs, parent, children and text (its own and its descendants')."""

    VOID = {"input", "br", "img", "meta", "link", "hr", "source", "wbr", "area", "col"}

    def __init__(self, html: str):
        super().__init__()
        self.root = {"tag": "#root", "attrs": {}, "parent": None, "children": [], "text": ""}
        self.current = self.root
        self.elements: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        node = {"tag": tag, "attrs": attributes, "parent": self.current, "children": [], "text": ""}
        self.current["children"].append(node)
        self.elements.append(node)
        if tag not in self.VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node["tag"] != tag:
            node = node["parent"]
        if node is not self.root:
            self.current = node["parent"]

    def handle_data(self, data):
        node = self.current
        while node is not None:
            node["text"] += data
            node = node["parent"]

    def find(self, predicate) -> list[dict]:
        return [node for node in self.elements if predicate(node)]

    def by_id(self, element_id: str) -> dict:
        (node,) = self.find(lambda n: n["attrs"].get("id") == element_id)
        return node

    def description_of(self, node: dict) -> str:
        """The text a screen reader reads as the element's description."""
        ids = node["attrs"].get("aria-describedby", "").split()
        return " ".join(self.by_id(i)["text"].strip() for i in ids if self.find(_has_id(i)))


def _has_id(element_id):
    return lambda node: node["attrs"].get("id") == element_id


def _classes(node) -> list[str]:
    return node["attrs"].get("class", "").split()


def _ancestors(node):
    node = node["parent"]
    while node is not None:
        yield node
        node = node["parent"]


def _is_live(node) -> bool:
    return node["attrs"].get("aria-live") in ("polite", "assertive") or node["attrs"].get(
        "role"
    ) in ("status", "alert")


def _invalid_fields(tree: Tree) -> list[dict]:
    return tree.find(
        lambda n: n["tag"] in ("input", "textarea", "select") and n["attrs"].get("aria-invalid")
    )


def _errors_not_described(tree: Tree) -> list[tuple[str, str]]:
    """(field id, error) for every error printed beside a field that its field does not
    name in aria-describedby."""
    untied = []
    for field in _invalid_fields(tree):
        described = tree.description_of(field)
        for sibling in field["parent"]["children"]:
            error = sibling["text"].strip()
            if "field-error" in _classes(sibling) and error not in described:
                untied.append((field["attrs"]["id"], error))
    return untied


# --- the chat -------------------------------------------------------------------------------


@pytest.fixture
def streaming_answer(member):
    answer = make_done_answer(member, "The first words of the answer")
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.STREAMING)
    return answer


def test_it_keeps_an_answer_being_written_out_of_any_live_region(client, member, streaming_answer):
    """Each chunk re-renders the whole answer so far: inside a live region, a screen reader
    would read it again from its first word at every update. The turn is marked busy
    until it ends, and the thread itself is not a live region."""
    client.force_login(member)
    url = reverse("chat:conversation", args=[streaming_answer.conversation.public_id])
    tree = Tree(client.get(url).content.decode())

    turn = tree.by_id(f"turn-{streaming_answer.public_id}")
    assert turn["attrs"].get("aria-busy") == "true"
    (answer,) = [n for n in turn["children"] if "md" in _classes(n)]
    assert [n["attrs"].get("id") for n in [answer, *_ancestors(answer)] if _is_live(n)] == []


def test_it_has_one_status_region_to_say_an_answer_ended(client, member, streaming_answer):
    """The end of an answer (finished, failed or stopped) is announced once, briefly, in a
    region of its own outside the thread: the page's script writes into it."""
    client.force_login(member)
    url = reverse("chat:conversation", args=[streaming_answer.conversation.public_id])
    tree = Tree(client.get(url).content.decode())

    status = tree.by_id("answer-status")
    assert status["attrs"].get("role") == "status"
    assert "message-list" not in [n["attrs"].get("id") for n in _ancestors(status)]


def test_a_finished_answer_is_not_busy(client, member):
    answer = make_done_answer(member, "All done.")
    client.force_login(member)
    page = client.get(reverse("chat:conversation", args=[answer.conversation.public_id]))
    assert "aria-busy" not in page.content.decode()


def test_the_preview_updates_inside_a_live_region_that_stays(client, member):
    """A live region replaced whole is a new region, which screen readers may not announce:
    the message box's preview swaps #preview inside a region that stays on the page."""
    answer = make_done_answer(member)
    client.force_login(member)
    page = client.get(reverse("chat:conversation", args=[answer.conversation.public_id]))
    tree = Tree(page.content.decode())

    preview = tree.by_id("preview")
    assert not _is_live(preview)
    assert _is_live(preview["parent"])
    composer_text = tree.by_id("composer-text")
    assert composer_text["attrs"]["hx-target"] == "#preview"
    assert composer_text["attrs"]["hx-swap"] == "outerHTML"


# --- field errors -----------------------------------------------------------------------------


def test_the_sign_in_page_ties_each_field_error_to_its_field(client, db):
    """A screen reader on a refused field says why, not only "invalid entry"."""
    response = client.post(reverse("account_login"), {"login": "", "password": ""})
    tree = Tree(response.content.decode())

    login = tree.by_id("id_login")
    assert login["attrs"].get("aria-invalid") == "true"
    assert "This field is required." in tree.description_of(login)
    assert _errors_not_described(tree) == []


def test_console_forms_tie_each_field_error_to_its_field(client, admin):
    """governance/partials/field.html gives the errors the id Django's widgets point to
    (``aria-describedby="id_<field>_error"``)."""
    client.force_login(admin)
    response = client.post(
        reverse("governance:rule_new"),
        {"name": "", "kind": "regex", "pattern": "(", "action": "block", "reason": "x"},
        HTTP_HX_REQUEST="true",
    )
    tree = Tree(response.content.decode())

    assert {n["attrs"]["id"] for n in _invalid_fields(tree)} >= {"id_name", "id_pattern"}
    assert "Give the rule a name." in tree.description_of(tree.by_id("id_name"))
    assert _errors_not_described(tree) == []


def test_account_forms_tie_each_field_error_to_its_field(client, member):
    """allauth's forms (password, two-factor code, email, reset) as Steward renders them."""
    client.force_login(member)
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": "not-my-password", "password1": "x", "password2": "y"},
    )
    tree = Tree(response.content.decode())

    assert "id_oldpassword" in {n["attrs"]["id"] for n in _invalid_fields(tree)}
    assert tree.description_of(tree.by_id("id_oldpassword"))
    assert _errors_not_described(tree) == []


# --- headings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["account_change_password", "mfa_index", "account_email"])
def test_account_pages_start_with_their_h1(client, db, name):
    """The account menu's "Your account" is no heading ahead of the page's own h1."""
    client.force_login(make_user("ada@example.com", Role.STAFF))
    tree = Tree(client.get(reverse(name)).content.decode())
    headings = [n["tag"] for n in tree.elements if n["tag"] in ("h1", "h2", "h3")]
    assert headings and headings[0] == "h1", headings


def test_a_failed_sign_in_describes_both_fields_with_its_reason(client, db):
    make_user("ada@example.com", Role.STAFF)
    response = client.post(
        reverse("account_login"), {"login": "ada@example.com", "password": "not-it"}
    )
    tree = Tree(response.content.decode())
    for field in ("id_login", "id_password"):
        node = tree.by_id(field)
        assert node["attrs"].get("aria-invalid") == "true"
        assert "not correct" in tree.description_of(node), tree.description_of(node)


def test_each_role_box_is_described_by_what_the_role_may_do(client, admin):
    client.force_login(admin)
    tree = Tree(client.get(reverse("governance:users")).content.decode())
    boxes = tree.find(lambda n: n["tag"] == "input" and n["attrs"].get("name") == "roles")
    assert len(boxes) == 4
    assert all(tree.description_of(box) for box in boxes)
    assert "Manages categories" in " ".join(tree.description_of(box) for box in boxes)


def test_a_refused_invitation_describes_its_fields_and_role_group(client, admin):
    client.force_login(admin)
    response = client.post(
        reverse("governance:users"),
        {"email": "not an address", "full_name": "x" * 151},
        HTTP_HX_REQUEST="true",
    )
    tree = Tree(response.content.decode())
    assert {n["attrs"]["id"] for n in _invalid_fields(tree)} >= {"id_email", "id_full_name"}
    assert tree.description_of(tree.by_id("id_full_name"))
    (roles,) = tree.find(lambda n: n["tag"] == "fieldset" and "Roles" in n["text"])
    assert "role" in tree.description_of(roles).lower()


def test_the_kind_of_a_request_is_a_named_group_its_error_describes(client, privacy_officer):
    client.force_login(privacy_officer)
    response = client.post(
        reverse("privacy:request_new"), {"email": "jane@example.org"}, HTTP_HX_REQUEST="true"
    )
    tree = Tree(response.content.decode())
    (kind,) = tree.find(lambda n: n["tag"] == "fieldset" and n["attrs"].get("aria-describedby"))
    assert [n["text"] for n in kind["children"] if n["tag"] == "legend"] == ["Kind"]
    assert "Choose what the person asks for" in tree.description_of(kind)


# --- results that change without a page load ------------------------------------------------


def test_a_people_search_says_what_it_found_in_a_status_that_stays(client, admin):
    client.force_login(admin)
    page = Tree(client.get(reverse("governance:users")).content.decode())
    assert _is_live(page.by_id("people-search-status"))
    found = client.get(
        reverse("governance:users") + "?q=ada", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="people-list"
    ).content.decode()
    status = Tree(found).by_id("people-search-status")
    assert status["attrs"]["hx-swap-oob"] == "innerHTML"
    assert status["text"].strip() == "1 account matches “ada”."


def test_audit_filters_say_what_they_found_in_a_status_that_stays(client, reader):
    client.force_login(reader)
    page = Tree(client.get(reverse("audit:events")).content.decode())
    assert _is_live(page.by_id("event-results-status"))
    found = client.get(
        reverse("audit:events") + "?action=auth.logout",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="event-results",
    ).content.decode()
    status = Tree(found).by_id("event-results-status")
    assert status["text"].strip() == "No events match these filters."
