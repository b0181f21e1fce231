"""Without STEWARD_PRIVACY_CONTACT the letter gives no address to write to: the officer is
warned on screen (never on paper), and can print the letter or copy its text."""

import pytest
from django.urls import reverse

from tests.privacy.conftest import receive, reject
from tests.test_accessibility import Tree

WARNING = (
    "Ask whoever runs Steward to record the controller's and its data protection officer's "
    "names and contact details, so the person knows where to write; until then add your "
    "address before sending."
)


@pytest.fixture
def answered(officers, org):
    """A request about Alice, closed, so that it has a letter for her and the officers."""
    request = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    return reject(request, officers, ground="no_data", reason="Nothing found")


def _letter(client, user, request) -> str:
    client.force_login(user)
    response = client.get(reverse("privacy:request_letter", args=[request.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def _off_paper(node) -> bool:
    """Whether ``node`` or an element around it is left out of print."""
    while node is not None:
        if "no-print" in node["attrs"].get("class", "").split():
            return True
        node = node["parent"]
    return False


def test_an_officer_is_warned_on_screen_when_no_contact_is_set(
    client, officers, answered, settings
):
    settings.STEWARD_PRIVACY_CONTACT = ""
    page = Tree(_letter(client, officers[1], answered))
    (warning,) = page.find(lambda n: n["tag"] == "p" and WARNING in " ".join(n["text"].split()))
    assert _off_paper(warning)


def test_no_warning_once_the_contact_is_set(client, officers, answered, settings):
    settings.STEWARD_PRIVACY_CONTACT = "Data Protection Officer, dpo@example.com"
    assert "STEWARD_PRIVACY_CONTACT" not in _letter(client, officers[1], answered)


def test_the_person_it_is_about_is_not_told_about_settings(client, org, answered, settings):
    settings.STEWARD_PRIVACY_CONTACT = ""
    assert "STEWARD_PRIVACY_CONTACT" not in _letter(client, org.alice, answered)


def test_the_letter_can_be_printed_and_its_text_copied_off_paper(client, officers, answered):
    """Print (steward.js's data-print) and Copy text (steward.js's data-copy: the letter,
    less its notes for the screen); neither button is printed."""
    page = Tree(_letter(client, officers[1], answered))
    (printing,) = page.find(lambda n: n["tag"] == "button" and "data-print" in n["attrs"])
    (copying,) = page.find(lambda n: n["tag"] == "button" and "data-copy" in n["attrs"])
    assert printing["text"].strip() == "Print" and copying["text"].strip() == "Copy text"
    assert copying["attrs"]["data-copy"] == "#letter"
    assert copying["attrs"]["data-copy-without"] == ".no-print"
    assert page.by_id("letter")["tag"] == "article"
    assert _off_paper(printing) and _off_paper(copying)
