"""Pasted protected terms: one a line, commas kept; a single line is a comma-separated list;
the save says how many and shows the first few, once."""

import pytest
from rest_framework.test import APIClient

from api.services import create_token
from governance.detection import detect, read_terms
from governance.forms import TermListForm
from governance.models import ProtectedTermList

COMPANIES = "Acme, Inc.\nUmbrella Inc.\nGlobex Corporation\n"


@pytest.mark.parametrize(
    ("pasted", "terms"),
    [
        (COMPANIES, ["Acme, Inc.", "Umbrella Inc.", "Globex Corporation"]),
        ("  Acme, Inc. \r\n\r\n Initech\r\n", ["Acme, Inc.", "Initech"]),
        # A line wholly quoted is a CSV cell: how the REST API writes a list of terms.
        ('"Globex, Inc"\n"Say ""hi"""\nInitech', ["Globex, Inc", 'Say "hi"', "Initech"]),
        ('O"Neil & Sons\n"half', ['O"Neil & Sons', '"half']),  # not a cell: kept as typed
        # One line: a comma-separated list, as the box and the API have always said.
        ("Acme, Globex, Initech", ["Acme", "Globex", "Initech"]),
        ('Globex, "Acme, Inc."', ["Globex", "Acme, Inc."]),
        ('\n  "Acme, Inc."  \n', ["Acme, Inc."]),
    ],
)
def test_pasted_lines_are_terms_and_one_line_is_a_list(pasted, terms):
    assert read_terms(pasted, pasted=True)[0] == terms


def _saved_list() -> ProtectedTermList:
    return ProtectedTermList.objects.get()


def test_a_pasted_company_name_keeps_its_comma_and_others_names_pass(client, admin):
    client.force_login(admin)
    client.post(
        "/policy/term-lists/new/", {"name": "Clients", "kind": "client", "pasted": COMPANIES}
    )
    assert sorted(_saved_list().terms()) == ["Acme, Inc.", "Globex Corporation", "Umbrella Inc."]
    found = detect("Umbrella Inc. renewed; Acme, Inc. did not").scan.findings
    text = "Umbrella Inc. renewed; Acme, Inc. did not"
    assert sorted(text[f.start : f.end] for f in found) == ["Acme, Inc.", "Umbrella Inc."]
    assert detect("Inc. is short for incorporated").scan.findings == ()


def test_the_save_says_how_many_and_shows_the_first_five_once(client, admin):
    client.force_login(admin)
    pasted = "\n".join(
        ["Acme, Inc.", "Globex", "Initech", "Hooli", "Umbrella", "Soylent", "Acme, Inc."]
    )
    response = client.post(
        "/policy/term-lists/new/",
        {"name": "Clients", "kind": "client", "pasted": pasted},
        follow=True,
    )
    page = response.content.decode()
    assert (
        "“Clients” saved with 6 terms: “Acme, Inc.” · “Globex” · “Initech” · “Hooli” · "
        "“Umbrella” and 1 more." in page
    )
    # Once: the next visit of the list's page, and the lists' page, show none of them.
    for url in [f"/policy/term-lists/{_saved_list().public_id}/", "/policy/term-lists/"]:
        again = client.get(url).content.decode()
        assert "Acme" not in again and "Soylent" not in again
        assert "6</strong> terms" in again or ">6<" in again


def test_a_long_term_is_shortened_in_the_message(client, admin):
    client.force_login(admin)
    long_name = "Very Long Company Name " * 5
    response = client.post(
        "/policy/term-lists/new/",
        {"name": "Clients", "kind": "client", "pasted": long_name},
        follow=True,
    )
    page = response.content.decode()
    assert "saved with 1 term: “Very Long Company Name Very Long" in page
    assert long_name.strip() not in page


def test_replacing_the_terms_shows_them_and_a_rename_shows_none(client, admin):
    term_list = ProtectedTermList.objects.create(name="Clients", kind="client")
    term_list.set_terms(["Acme"])
    term_list.save()
    client.force_login(admin)
    url = f"/policy/term-lists/{term_list.public_id}/"
    replaced = client.post(
        url, {"name": "Clients", "kind": "client", "pasted": "Hooli, Inc.\nInitech"}, follow=True
    )
    assert "“Clients” saved with 2 terms: “Hooli, Inc.” · “Initech”." in replaced.content.decode()
    renamed = client.post(url, {"name": "Key clients", "kind": "client"}, follow=True)
    assert "“Key clients” saved with 2 terms." in renamed.content.decode()


def test_the_help_text_says_how_the_box_is_read():
    help_text = TermListForm().fields["pasted"].help_text
    assert "One term per line, commas and all" in help_text
    assert "A single line is read as a comma-separated list" in help_text


def test_the_rest_api_keeps_the_commas_of_a_list_of_terms(admin):
    _, token = create_token(user=admin, name="t", expires_in_days=None, actor=admin)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    listed = api.post(
        "/api/governance/term-lists/",
        {"name": "Clients", "kind": "client", "terms": ["Acme, Inc.", 'Say "hi" Ltd', "Globex"]},
        format="json",
    )
    assert listed.status_code == 201, listed.json()
    assert sorted(_saved_list().terms()) == ["Acme, Inc.", "Globex", 'Say "hi" Ltd']
    one_line = api.patch(
        f"/api/governance/term-lists/{_saved_list().public_id}/",
        {"terms": "Hooli, Initech"},
        format="json",
    )
    assert one_line.status_code == 200 and one_line.json()["term_count"] == 2
