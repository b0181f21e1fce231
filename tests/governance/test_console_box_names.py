"""The console's errors name the boxes to tick as the page labels them."""

import re
from html import unescape

from governance.models import Backend
from tests.governance.console import backend_form


def test_it_names_the_dpa_box_as_the_page_labels_it(client, admin):
    """An expiry date with the agreement not ticked: the error said to tick “DPA signed”, a
    box the page does not have (it reads "A data processing agreement is signed")."""
    client.force_login(admin)

    response = client.post("/policy/backends/new/", backend_form(dpa_signed=None))

    assert response.status_code == 422
    text = unescape(response.content.decode())
    error = re.search(r'id="id_dpa_expires_on_error"><p>(.*?)</p>', text).group(1)
    box = re.search(r"tick “(.*?)”", error, re.IGNORECASE).group(1)
    assert re.search(rf'<label><input[^>]*id="id_dpa_signed"[^>]*> {re.escape(box)}</label>', text)
    assert 'value="2030-01-31"' in text  # the date typed is kept
    assert not Backend.objects.exists()


def test_it_says_an_uploaded_term_file_is_empty_in_its_own_words(client, admin):
    """A file of 0 bytes met Django's "The submitted file is empty." before the form's own
    "This file is empty." (which a file of blank lines got): one message for one problem."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(admin)
    for content in (b"", b"\n \n"):
        upload = SimpleUploadedFile("clients.csv", content, content_type="text/csv")
        response = client.post(
            "/policy/term-lists/new/", {"name": "Clients", "kind": "client", "upload": upload}
        )
        assert response.status_code == 422
        assert "This file is empty." in response.content.decode()
        assert 'value="Clients"' in response.content.decode()  # the name typed is kept
