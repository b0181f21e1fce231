"""Protected-term lists: paste or upload; terms sealed, counted, never shown again."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from governance.models import ProtectedTermList
from tests.governance.console import HTMX, only_event, policy_events

TERMS = "Acme Holdings\nProject Nightjar\nJosé Müller"


def _everything(response) -> str:
    return response.content.decode() + json.dumps(dict(response.headers))


def test_pasted_terms_are_sealed_and_counted(client, admin):
    client.force_login(admin)
    response = client.post(
        "/policy/term-lists/new/", {"name": "Clients", "kind": "client", "pasted": TERMS}
    )
    term_list = ProtectedTermList.objects.get()
    assert response.status_code == 302
    assert term_list.term_count == 3
    assert b"Nightjar" not in bytes(term_list.terms_sealed)
    assert "Project Nightjar" in term_list.terms()
    event = only_event()
    assert event.after == {
        "name": "Clients",
        "kind": "client",
        "term_count": 3,
        "is_active": True,
        "terms replaced": True,
    }
    assert "Nightjar" not in json.dumps([event.before, event.after, event.details, event.message])


def test_a_csv_upload_works_and_the_terms_never_show(client, admin):
    client.force_login(admin)
    upload = SimpleUploadedFile(
        "clients.csv", "name,code\r\nAcme Holdings,Nightjar\r\n".encode("utf-8-sig")
    )
    client.post("/policy/term-lists/new/", {"name": "Clients", "kind": "client", "upload": upload})
    term_list = ProtectedTermList.objects.get()
    assert term_list.term_count == 2  # every non-empty cell, the heading row left out
    for response in [
        client.get(f"/policy/term-lists/{term_list.public_id}/"),
        client.get(f"/policy/term-lists/{term_list.public_id}/", **HTMX),
        client.get("/policy/term-lists/"),
    ]:
        assert "Nightjar" not in _everything(response)
        assert "Acme" not in _everything(response)
    assert (
        "2</strong> terms"
        in client.get(f"/policy/term-lists/{term_list.public_id}/").content.decode()
    )


def test_bad_files_are_explained(client, admin):
    client.force_login(admin)
    for content, message in [
        (b"", "This file is empty."),
        (b"   \n\n", "This file is empty."),
        ("Müller".encode("latin-1"), "This file is not UTF-8 text"),
        (b"x" * (4 * 1024 * 1024 + 1), "the limit is 4 MB"),
        (b",,,\n,,", "No terms found."),
    ]:
        upload = SimpleUploadedFile("terms.csv", content)
        response = client.post(
            "/policy/term-lists/new/",
            {"name": "Clients", "kind": "client", "upload": upload},
            **HTMX,
        )
        assert response.status_code == 422, message
        assert b"<html" not in response.content and b'id="term-list-form"' in response.content
        assert message in response.content.decode(), message
    assert ProtectedTermList.objects.count() == 0
    assert policy_events() == []


def test_a_new_list_needs_terms(client, admin):
    client.force_login(admin)
    response = client.post("/policy/term-lists/new/", {"name": "Clients", "kind": "client"})
    assert response.status_code == 422
    assert b"Paste the terms or upload a CSV file." in response.content
    assert ProtectedTermList.objects.count() == 0


def test_renaming_keeps_the_terms_and_replacing_counts_them(client, admin):
    term_list = ProtectedTermList.objects.create(name="Clients", kind="client")
    term_list.set_terms(["Acme"])
    term_list.save()
    client.force_login(admin)
    client.post(
        f"/policy/term-lists/{term_list.public_id}/", {"name": "Key clients", "kind": "client"}
    )
    term_list.refresh_from_db()
    assert term_list.terms() == ["Acme"]
    assert (only_event().before, only_event().after) == (
        {"name": "Clients"},
        {"name": "Key clients"},
    )
    client.post(
        f"/policy/term-lists/{term_list.public_id}/",
        {"name": "Key clients", "kind": "client", "pasted": "Globex\nInitech"},
    )
    term_list.refresh_from_db()
    assert term_list.terms() == ["Globex", "Initech"]
    replaced = policy_events()[0]
    assert replaced.before == {"term_count": 1}
    assert replaced.after == {"term_count": 2, "terms replaced": True}


def test_switching_off_and_deleting(client, admin):
    term_list = ProtectedTermList.objects.create(name="Clients", kind="client")
    client.force_login(admin)
    page = client.get(f"/policy/term-lists/{term_list.public_id}/").content.decode()
    assert 'data-confirm="Delete “Clients”' in page
    client.post(f"/policy/term-lists/{term_list.public_id}/state/", {"active": "0"})
    assert ProtectedTermList.objects.get().is_active is False
    response = client.post(f"/policy/term-lists/{term_list.public_id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/policy/term-lists/"
    assert ProtectedTermList.objects.count() == 0
    assert [e.message for e in policy_events()] == ["Term list deleted", "Term list edited"]


def test_a_form_error_keeps_the_terms_just_typed(client, admin):
    """An error sends the form back with the paste box as it was: the person who typed the
    terms fixes the name and saves again instead of typing them all again. Saved terms are
    still never shown (see the other tests); these are not saved yet, and the page is
    no-store."""
    client.force_login(admin)
    client.post("/policy/term-lists/new/", {"name": "Clients", "kind": "client", "pasted": "Acme"})
    term_list = ProtectedTermList.objects.get()
    for name in ["", "Clients"]:  # a field's error; the model's (a taken name)
        response = client.post(
            "/policy/term-lists/new/" if name else f"/policy/term-lists/{term_list.public_id}/",
            {"name": name, "kind": "client", "pasted": TERMS},
            **HTMX,
        )
        assert response.status_code == 422, name
        page = response.content.decode()
        assert "Acme Holdings\nProject Nightjar\nJosé Müller</textarea>" in page, name
        assert "Paste the terms again" not in page
        assert "no-store" in response["Cache-Control"]


def test_a_form_error_asks_for_an_uploaded_file_again(client, admin):
    """A browser cannot put a file back in the form an error returns: say so."""
    client.force_login(admin)
    upload = SimpleUploadedFile("terms.csv", b"Acme\nNightjar\n")
    response = client.post(
        "/policy/term-lists/new/", {"name": "", "kind": "client", "upload": upload}, **HTMX
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "Choose the file again" in page
    assert "Nightjar" not in page
