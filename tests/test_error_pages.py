"""What a person sees when a request cannot be read: a page of Steward's, in words."""

import pytest
from django.conf import settings

from governance.roles import Role
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_a_body_larger_than_a_form_takes_is_413_and_says_nothing_was_kept(client):
    """A 3 MB paste into a form: Django stops reading at 2.5 MB; it was a bare
    "Bad Request (400)"."""
    client.force_login(make_user("alice@example.com", Role.STAFF))
    big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = client.post("/privacy/your-data/", {"note": big})
    assert response.status_code == 413
    page = response.content.decode()
    assert "larger than 2.5 MB" in page and "Nothing was saved" in page
    assert "<html" in page  # Steward's page, with its header


def test_a_form_of_too_many_fields_is_400_in_words(client):
    client.force_login(make_user("alice@example.com", Role.STAFF))
    fields = {f"f{n}": "1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    response = client.post("/privacy/your-data/", fields)
    assert response.status_code == 400
    assert "could not be read" in response.content.decode()


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_request_for_another_host_is_400_in_words(client, signed_in):
    """The allowed-hosts check is a 400 too: its page must not ask for the host again."""
    if signed_in:
        client.force_login(make_user("alice@example.com", Role.STAFF))
    response = client.get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert "could not be read" in response.content.decode()
