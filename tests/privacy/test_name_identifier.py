"""A name to erase is replaced as a whole word wherever it appears in the reached
conversations: a common word, or a one- or two-letter one, would change every message that
uses it. The intake (page and API) and the follow-up erasure refuse it, saying why."""

import datetime as dt

import pytest
from django.urls import reverse

from privacy.forms import FinishForm, IntakeForm
from privacy.models import SubjectRequest
from tests.api.test_rest import _client_of

pytestmark = pytest.mark.django_db


def _intake(**overrides) -> IntakeForm:
    data = {"kind": "erasure", "regime": "gdpr", "received_on": dt.date.today().isoformat()}
    return IntakeForm(data={**data, **overrides})


@pytest.mark.parametrize("name", ["the", "The", "  THE ", "and", "for", "you", "of the", "Jo"])
def test_a_common_word_or_a_short_single_word_is_refused_as_a_name(name):
    form = _intake(email="zed.q@acme-corp.com", name=name)
    assert not form.is_valid()
    assert "name" in form.errors
    finish = FinishForm(data={"name": name})
    assert not finish.is_valid() and "name" in finish.errors


def test_the_refusal_says_why_in_words():
    form = _intake(name="the")
    assert form.errors["name"] == [
        "“the” is a common word: erasing it would change every message that uses it. "
        "Give the person's full name."
    ]
    short = _intake(name="Jo")
    assert "“Jo” has fewer than 3 letters" in short.errors["name"][0]
    assert "Give the person's full name." in short.errors["name"][0]


@pytest.mark.parametrize("name", ["Cher", "Ann", "Jane Roe", "Jo Li", "Mary-Ann O'Neil", "Zoë"])
def test_a_real_name_is_kept_even_a_single_word(name):
    form = _intake(name=name)
    assert form.is_valid(), form.errors
    assert ("name", name.strip()) in form.identifiers


def test_the_intake_page_refuses_a_common_word_and_records_nothing(client, officers):
    client.force_login(officers[0])
    response = client.post(
        reverse("privacy:request_new"),
        {
            "kind": "erasure",
            "regime": "gdpr",
            "received_on": dt.date.today().isoformat(),
            "email": "zed.q@acme-corp.com",
            "name": "the",
        },
    )
    assert response.status_code == 422
    assert "is a common word: erasing it would change every message" in response.content.decode()
    assert not SubjectRequest.objects.exists()


def test_the_api_intake_refuses_a_common_word(officers):
    refused = _client_of(officers[0]).post(
        "/api/privacy/requests/",
        {
            "kind": "erasure",
            "regime": "gdpr",
            "received_on": dt.date.today().isoformat(),
            "email": "zed.q@acme-corp.com",
            "name": "the",
        },
        format="json",
    )
    assert refused.status_code == 400
    assert "is a common word" in refused.content.decode()
    assert not SubjectRequest.objects.exists()
