"""A refused "told on" on a request's page (WCAG 3.3.1, 4.1.3): the page comes back (422) with
the error beside the field that caused it, the field marked invalid and described by it, what
was typed kept, and the field focused on load; nothing is recorded.

It used to redirect with the error as a message far above the form, in a region already on the
page (never read out), the focus on <body> and the date reset to today.
"""

import datetime as dt
import html

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from privacy.models import RecipientNotice, RequesterNotice, SubjectRequest
from tests.privacy.conftest import receive
from tests.privacy.test_recipient_notices import HOW, VENDOR, backends, erasure  # noqa: F401
from tests.test_accessibility import Tree

TODAY = timezone.localdate
FUTURE = "2030-01-01"


def _autofocused(node: dict) -> bool:
    return "autofocus" in node["attrs"]


def _refused_field(response, name: str) -> dict:
    """The one field the page marks refused; it must be the field named ``name``."""
    assert response.status_code == 422
    tree = Tree(response.content.decode())
    invalid = tree.find(lambda n: n["attrs"].get("aria-invalid") == "true")
    assert [n["attrs"]["name"] for n in invalid] == [name]
    (field,) = invalid
    field["tree"] = tree
    return field


def _says(field: dict, error: str) -> None:
    """The error is the field's description (read out with it), and the field takes the focus
    when the page loads: the form's action has no #fragment, which would keep the browser
    from focusing it."""
    assert error in html.unescape(field["tree"].description_of(field))
    assert [n["attrs"].get("name") for n in field["tree"].find(_autofocused)] == [
        field["attrs"]["name"]
    ]
    form = field["parent"]
    while form["tag"] != "form":
        form = form["parent"]
    assert "#" not in form["attrs"]["action"]


# --- telling the requester ------------------------------------------------------------------


@pytest.fixture
def received(officers):
    return receive(officers, received_on=TODAY() - dt.timedelta(days=2))


def _tell(client, request, told_on: str, topic: str = "receipt"):
    url = reverse("privacy:request_tell", args=[request.public_id])
    return client.post(url, {"topic": topic, "channel": "email", "told_on": told_on})


def _nothing_told(request) -> None:
    assert not RequesterNotice.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_TOLD).exists()
    assert SubjectRequest.objects.get(pk=request.pk).status == request.status


@pytest.mark.parametrize(
    ("told_on", "error"),
    [
        (FUTURE, "The day they were told cannot be in the future."),
        (
            (TODAY() - dt.timedelta(days=3)).isoformat(),
            "They cannot have been told before the request was received",
        ),
        ("2026-02-30", "Enter a valid date."),
    ],
)
def test_a_refused_day_comes_back_beside_its_field_as_typed(
    client, officers, received, told_on, error
):
    client.force_login(officers[0])
    field = _refused_field(_tell(client, received, told_on), "told_on")
    _says(field, error)
    assert field["attrs"]["value"] == told_on
    _nothing_told(received)


def test_a_day_that_could_be_is_recorded(client, officers, received):
    client.force_login(officers[0])
    response = _tell(client, received, TODAY().isoformat())
    assert response.status_code == 302 and response["Location"].endswith("/#telling")
    assert RequesterNotice.objects.get().told_on == TODAY()


def test_a_topic_not_owed_is_still_said_in_a_message(client, officers, received):
    """Not the officer's typing but the request's state: no field to mark."""
    client.force_login(officers[0])
    response = _tell(client, received, TODAY().isoformat(), topic="outcome")
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "The request has no outcome yet" in page and 'aria-invalid="true"' not in page
    _nothing_told(received)


# --- telling the recipients of an erasure -----------------------------------------------------


@pytest.fixture
def owing(erasure):  # noqa: F811  (test_recipient_notices' erasure: VENDOR is owed a notice)
    return erasure


def _tell_recipient(client, request, told_on: str):
    url = reverse("privacy:request_recipient_told", args=[request.public_id])
    return client.post(url, {"backend": VENDOR, "told_on": told_on, "how": HOW})


def _no_recipient_told(request) -> None:
    assert not RecipientNotice.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_RECIPIENT_TOLD).exists()
    assert SubjectRequest.objects.get(pk=request.pk).status == request.status


@pytest.mark.parametrize(
    ("told_on", "error"),
    [
        (FUTURE, "The day the provider was told cannot be in the future."),
        (
            (TODAY() - dt.timedelta(days=1)).isoformat(),
            "The provider cannot have been told before the erasure was completed",
        ),
    ],
)
def test_a_refused_day_for_a_recipient_comes_back_beside_its_field_as_typed(
    client, officers, owing, told_on, error
):
    client.force_login(officers[0])
    response = _tell_recipient(client, owing, told_on)
    field = _refused_field(response, "told_on")
    _says(field, error)
    assert field["attrs"]["value"] == told_on
    assert f'value="{HOW}"' in html.unescape(response.content.decode())  # "how" kept too
    _no_recipient_told(owing)


def test_a_day_a_recipient_could_have_been_told_is_recorded(client, officers, owing):
    client.force_login(officers[0])
    response = _tell_recipient(client, owing, TODAY().isoformat())
    assert response.status_code == 302 and response["Location"].endswith("/#recipients-told")
    assert RecipientNotice.objects.get().told_on == TODAY()


def test_a_recipient_notice_without_how_focuses_how_and_keeps_the_day(client, officers, owing):
    client.force_login(officers[0])
    url = reverse("privacy:request_recipient_told", args=[owing.public_id])
    typed = TODAY().isoformat()
    response = client.post(url, {"backend": VENDOR, "told_on": typed, "how": " "})
    _says(_refused_field(response, "how"), "Say how the provider was told")
    assert f'value="{typed}"' in response.content.decode()
    _no_recipient_told(owing)


def test_over_rest_a_refused_day_is_an_error_of_its_field(officers, owing):
    from tests.api.test_rest import _client_of

    url = f"/api/privacy/requests/{owing.public_id}/recipients-told/"
    body = {"backend": VENDOR, "told_on": FUTURE, "how": HOW}
    refused = _client_of(officers[0]).post(url, body, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"told_on": ["The day the provider was told cannot be in the future."]}
    assert not RecipientNotice.objects.exists()
