"""Releasing a legal hold: never by the person it holds, and a refused release keeps what
was typed and says why."""

import pytest
from django.urls import reverse

from privacy import services
from privacy.models import LegalHold
from privacy.services import PrivacyError
from tests.api.test_rest import _client_of
from tests.privacy.conftest import make_conversation

ABOUT_YOU = "This hold is about you: another privacy officer releases it."


@pytest.fixture
def holds_on_priya(org, officers):
    """Priya is a privacy officer who chats too: one hold on her account, one on a
    conversation of hers, both placed by Omar."""
    priya, omar = officers
    conversation = make_conversation(priya, org.internal)
    return (
        services.place_hold(actor=omar, reason="Investigation 17", user=priya),
        services.place_hold(actor=omar, reason="Investigation 17", conversation=conversation),
    )


def test_an_officer_cannot_release_a_hold_on_their_own_content(officers, holds_on_priya):
    """Else they could release it and delete the conversations it keeps."""
    priya, omar = officers
    for hold in holds_on_priya:
        with pytest.raises(PrivacyError, match=ABOUT_YOU):
            services.release_hold(hold=hold, actor=priya, reason="Done")
        assert LegalHold.objects.get(pk=hold.pk).active
        services.release_hold(hold=hold, actor=omar, reason="Done")
        assert not LegalHold.objects.get(pk=hold.pk).active


def test_the_holds_page_offers_no_release_of_a_hold_about_you(client, officers, holds_on_priya):
    priya, omar = officers
    client.force_login(priya)
    page = client.get(reverse("privacy:holds")).content.decode()
    assert page.count("About you: another privacy officer releases it.") == 2
    assert "Investigation 17" not in page  # what it is for is not shown to its subject
    for hold in holds_on_priya:
        assert reverse("privacy:hold_release", args=[hold.public_id]) not in page
        refused = client.post(
            reverse("privacy:hold_release", args=[hold.public_id]), {"reason": "Done"}
        )
        assert refused.status_code == 422 and ABOUT_YOU in refused.content.decode()
    client.force_login(omar)
    page = client.get(reverse("privacy:holds")).content.decode()
    assert "About you" not in page and "Investigation 17" in page
    assert reverse("privacy:hold_release", args=[holds_on_priya[0].public_id]) in page


def test_the_rest_api_refuses_it_too(officers, holds_on_priya):
    refused = _client_of(officers[0]).post(
        f"/api/privacy/holds/{holds_on_priya[0].public_id}/release/", {"reason": "Done"}
    )
    assert refused.status_code == 400 and ABOUT_YOU in str(refused.json())
    assert LegalHold.objects.get(pk=holds_on_priya[0].pk).active


@pytest.mark.parametrize(
    ("typed", "complaint"),
    [
        ("x" * 501, "501"),
        ("", "required"),
    ],
)
def test_a_refused_release_says_why_and_keeps_the_typed_reason(
    client, officers, holds_on_priya, typed, complaint
):
    priya, omar = officers
    hold = holds_on_priya[0]
    client.force_login(omar)
    refused = client.post(reverse("privacy:hold_release", args=[hold.public_id]), {"reason": typed})
    page = refused.content.decode()
    assert refused.status_code == 422
    assert complaint in page and "Say why the hold is released" not in page
    assert f'value="{typed}"' in page
    assert LegalHold.objects.get(pk=hold.pk).active
