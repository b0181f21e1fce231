"""A spreadsheet's column headings ("Term", "Term,Kind", "Company name") are not protected
terms: the console leaves a first row of them out and says so; a first real term stays."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.detection import read_terms
from governance.forms import HEADING_SHOWN_CHARS, TermListForm
from governance.models import ProtectedTermList


@pytest.mark.parametrize(
    ("text", "pasted", "terms", "heading"),
    [
        (
            "Term,Kind\r\nAcme,client\r\nGlobex,client\r\n",
            False,
            ["Acme", "client", "Globex", "client"],
            ("Term", "Kind"),
        ),
        ("name\nAcme Holdings\nGlobex\n", False, ["Acme Holdings", "Globex"], ("name",)),
        (
            "\n\nCompany name,Project codename\nAcme,Nightjar\n",
            False,
            ["Acme", "Nightjar"],
            ("Company name", "Project codename"),
        ),
        ("client_id\nAcme\n", False, ["Acme"], ("client_id",)),
        # Pasted lines are terms whole, commas and all: so is a line of headings.
        ("Term, Kind\nAcme, Inc.\nGlobex", True, ["Acme, Inc.", "Globex"], ("Term, Kind",)),
        ("Customer\nAcme\nGlobex\n", True, ["Acme", "Globex"], ("Customer",)),
        ("  TERMS  \r\n\r\nAcme\r\n", True, ["Acme"], ("TERMS",)),
    ],
)
def test_a_first_row_of_column_headings_is_left_out(text, pasted, terms, heading):
    assert read_terms(text, pasted=pasted, skip_heading=True) == (terms, heading)


@pytest.mark.parametrize(
    ("text", "pasted", "terms"),
    [
        ("Acme\nGlobex\n", True, ["Acme", "Globex"]),  # a first real term stays
        ("Acme, Inc.\nGlobex\n", True, ["Acme, Inc.", "Globex"]),
        ("Project Nightjar\nAtlas\n", True, ["Project Nightjar", "Atlas"]),  # one word is not
        # Several columns of terms, no headings: the first row is terms too.
        (
            "Acme Holdings,Nightjar\nGlobex,Falcon\n",
            False,
            ["Acme Holdings", "Nightjar", "Globex", "Falcon"],
        ),
        ("1,Acme\n2,Globex\n", False, ["1", "Acme", "2", "Globex"]),
        # Nothing follows it: a heading of nothing is no heading, and the term is kept.
        ("Name", True, ["Name"]),
        ("term,kind\n", False, ["term", "kind"]),
        # One pasted line is a comma-separated list of terms, never a heading row.
        ("Name, Acme, Globex", True, ["Name", "Acme", "Globex"]),
        # A digit makes a term of heading words: an account, a client or a project number.
        ("Client 4711\nGlobex\n", True, ["Client 4711", "Globex"]),
        (
            "Account 12345678,Account 87654321\nGlobex,Falcon\n",
            False,
            ["Account 12345678", "Account 87654321", "Globex", "Falcon"],
        ),
        ("Project-7\nAtlas\n", True, ["Project-7", "Atlas"]),
        ("Name,Staff ID 7731\nAcme,Falcon\n", False, ["Name", "Staff ID 7731", "Acme", "Falcon"]),
    ],
)
def test_a_first_row_of_terms_is_kept(text, pasted, terms):
    assert read_terms(text, pasted=pasted, skip_heading=True) == (terms, ())


def test_without_skipping_every_row_is_terms():
    """The REST API's form: a caller that lists its terms means every one of them."""
    assert read_terms("Name\nAcme", pasted=True) == (["Name", "Acme"], ())
    assert read_terms("Term,Kind\nAcme,client", pasted=False) == (
        ["Term", "Kind", "Acme", "client"],
        (),
    )


def _form(*, skip_headings=True, pasted="", upload=None) -> TermListForm:
    files = {"upload": SimpleUploadedFile("terms.csv", upload.encode())} if upload else None
    data = {"name": "Clients", "kind": "client", "pasted": pasted}
    return TermListForm(data, files, skip_headings=skip_headings)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ({"pasted": "Term, Kind\nAcme, Inc.\nGlobex"}, "Term, Kind"),
        ({"upload": "Term,Kind\r\nAcme,client\r\n"}, "Term, Kind"),
    ],
)
def test_the_form_says_which_row_it_left_out(given, shown):
    form = _form(**given)
    assert form.is_valid(), form.errors
    assert "Term" not in form.cleaned_data["terms"]
    assert "Term, Kind" not in form.cleaned_data["terms"]
    assert form.heading_notice == (
        f"The first row, “{shown}”, looked like column headings and was not added. "
        "If it is a term, save the list again with it further down."
    )


@pytest.mark.django_db
def test_a_list_of_real_terms_has_no_notice():
    form = _form(pasted="Acme\nGlobex")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["terms"] == ["Acme", "Globex"]
    assert form.heading_notice == ""


@pytest.mark.django_db
def test_a_long_heading_row_is_shortened_in_the_notice():
    cells = ["Name", "Kind", "Client", "Customer", "Company", "Code"] * 12
    form = _form(upload=",".join(cells) + "\nAcme\n")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["terms"] == ["Acme"]
    shown = ", ".join(cells)[: HEADING_SHOWN_CHARS - 1] + "…"
    assert f"“{shown}”" in form.heading_notice


@pytest.mark.django_db
def test_the_form_keeps_every_row_unless_asked():
    """The REST API uses this form too, without ``skip_headings``: it has no message to say
    a row was left out, and a caller's list of terms is meant whole."""
    form = _form(skip_headings=False, pasted="Name\nAcme")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["terms"] == ["Name", "Acme"]
    assert form.heading_notice == ""
    assert "column headings" not in str(form.fields["pasted"].help_text)


def test_the_help_text_says_headings_are_left_out():
    form = TermListForm(skip_headings=True)
    assert "A first line of column headings (“Term”, “Name”) is left out." in str(
        form.fields["pasted"].help_text
    )
    assert "A first row of column headings is left out." in str(form.fields["upload"].help_text)


def test_the_rest_api_keeps_a_listed_term_that_looks_like_a_heading(api):
    listed = api.post(
        "/api/governance/term-lists/",
        {"name": "Clients", "kind": "client", "terms": ["Name", "Acme"]},
        format="json",
    )
    assert listed.status_code == 201, listed.json()
    assert sorted(ProtectedTermList.objects.get().terms()) == ["Acme", "Name"]


# --- the console (needs /tmp/h2_view_patch.diff in governance/views/console.py) -------------


def test_the_console_leaves_the_headings_out_and_says_so(client, admin):
    client.force_login(admin)
    response = client.post(
        "/policy/term-lists/new/",
        {"name": "Clients", "kind": "client", "pasted": "Term, Kind\nAcme, Inc.\nGlobex"},
        follow=True,
    )
    page = response.content.decode()
    assert sorted(ProtectedTermList.objects.get().terms()) == ["Acme, Inc.", "Globex"]
    assert "“Clients” saved with 2 terms: “Acme, Inc.” · “Globex”." in page
    assert "The first row, “Term, Kind”, looked like column headings and was not added." in page
    assert (
        "A first line of column headings" in client.get("/policy/term-lists/new/").content.decode()
    )


def test_the_console_keeps_a_first_real_term(client, admin):
    client.force_login(admin)
    response = client.post(
        "/policy/term-lists/new/",
        {"name": "Clients", "kind": "client", "pasted": "Acme\nGlobex"},
        follow=True,
    )
    assert sorted(ProtectedTermList.objects.get().terms()) == ["Acme", "Globex"]
    assert "column headings and was not added" not in response.content.decode()
