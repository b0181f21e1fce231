"""Where the controller and its data protection officer are not recorded, a privacy officer
is told in their words what is missing and who records it (they don't run the server);
the setting's name is for the operator, folded away under "For the operator", off paper."""

import pytest
from django.urls import reverse

from tests.privacy.conftest import receive, reject
from tests.test_accessibility import Tree

SETTING = "STEWARD_PRIVACY_CONTACT"


def _words(node) -> str:
    return " ".join(node["text"].split())


def _only_for_the_operator(page: str) -> None:
    """The setting is named in one place: a closed "For the operator", not printed."""
    tree = Tree(page)
    (details,) = tree.find(lambda n: n["tag"] == "code" and SETTING in n["text"])
    while details["tag"] != "details":
        details = details["parent"]
    assert details["attrs"]["class"].split() == ["operator-notes", "no-print"]
    assert "open" not in details["attrs"]
    (summary,) = [child for child in details["children"] if child["tag"] == "summary"]
    assert _words(summary) == "For the operator"
    assert page.count(SETTING) == 1


def _get(client, user, url: str) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_records_say_who_records_the_controller(client, privacy_officer, settings):
    settings.STEWARD_PRIVACY_CONTACT = ""
    page = _get(client, privacy_officer, reverse("privacy:records"))

    (gap,) = Tree(page).find(
        lambda n: n["tag"] == "p" and "warn-text" in n["attrs"].get("class", "").split()
    )
    assert _words(gap) == (
        "Gap: the controller and its data protection officer are not recorded. Ask whoever "
        "runs Steward to record their names and contact details; access copies name them too."
    )
    _only_for_the_operator(page)


@pytest.fixture
def answered(officers, org):
    request = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    return reject(request, officers, ground="no_data", reason="Nothing found")


def test_the_letter_says_who_records_the_address_to_write_to(client, officers, answered, settings):
    settings.STEWARD_PRIVACY_CONTACT = ""
    url = reverse("privacy:request_letter", args=[answered.public_id])
    page = _get(client, officers[1], url)

    (warning,) = Tree(page).find(lambda n: n["tag"] == "p" and "no address" in n["text"])
    assert _words(warning) == (
        "This letter gives no address to write to. Ask whoever runs Steward to record the "
        "controller's and its data protection officer's names and contact details, so the "
        "person knows where to write; until then add your address before sending."
    )
    _only_for_the_operator(page)
