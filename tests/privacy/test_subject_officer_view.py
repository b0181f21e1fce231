"""A privacy officer a request is about (linked to their account, or naming their own email
without it) reads it as the person does: nothing the person would not be told. Not a proposed
rejection (its ground, its reason, who proposed it, when), nor the desk's working on it (the
trail of its steps, the identifiers, the note, the scope, what the requester was told, an
execution's error). Every other officer sees everything, as before. The desk, the request's
page, the daily reminder and the REST API all hold to it."""

import datetime as dt
import html

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from governance.roles import Role
from privacy import reminders, services
from privacy.models import SubjectRequest
from tests.api.test_rest import _client_of
from tests.factories import make_user
from tests.privacy.conftest import receive

REASON = "Nothing held about Omar: he asked for a colleague's data."
PROPOSED = "rejection proposed"  # the desk line, the trail's event and the page's card say it
ABOUT = ["linked", "by email"]


@pytest.fixture
def tess(db):
    """A third privacy officer, whom nothing here is about."""
    return make_user("tess@corp.example", Role.PRIVACY_OFFICER, full_name="Tess")


def _about_omar(officers, how: str, **overrides) -> SubjectRequest:
    """A request about Omar (the second officer): linked to his account, or naming his email
    as an outside person's would be; recorded, verified and scoped by Priya."""
    priya, omar = officers
    linked = {"subject_user": omar} if how == "linked" else {}
    request = receive(
        officers,
        identifiers=[("email", omar.email), ("name", "Omar Haddad")],
        note="Asked after the HR dispute",
        **linked,
        **overrides,
    )
    request = services.verify_identity(request=request, actor=priya, method="Called back")
    return services.scope_request(request=request, actor=priya)


def _proposed(officers, how: str) -> SubjectRequest:
    request = _about_omar(officers, how)
    return services.propose_rejection(
        request=request, actor=officers[0], ground="unfounded", reason=REASON
    )


def _text(response) -> str:
    assert response.status_code == 200
    return " ".join(html.unescape(response.content.decode()).split())


def _desk_line(client, request) -> str:
    page = _text(client.get(reverse("privacy:desk")))
    return page.split(f">{request.reference}<")[1].split("</tr>")[0]


def _page(client, request) -> str:
    return _text(client.get(reverse("privacy:request", args=[request.public_id])))


# --- the desk --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ABOUT)
def test_the_desk_line_says_nothing_of_a_proposal_to_the_officer_it_is_about(
    client, officers, tess, how
):
    request = _proposed(officers, how)
    client.force_login(officers[1])
    line = _desk_line(client, request)
    assert PROPOSED not in line.lower() and "#rejection" not in line
    assert "Scoped" in line  # the line itself stays: the person sees where it stands
    client.force_login(tess)
    assert "Rejection proposed: waiting for a second officer" in _desk_line(client, request)


# --- the request's page ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ABOUT)
def test_the_page_shows_the_officer_it_is_about_what_the_person_is_told(
    client, officers, tess, how
):
    request = _proposed(officers, how)
    client.force_login(officers[1])
    page = _page(client, request)
    assert PROPOSED not in page.lower()
    assert REASON not in page and SubjectRequest.RejectionGround.UNFOUNDED.label not in page
    assert "Audit trail" not in page and "Data-subject request scoped" not in page
    assert "Omar Haddad" not in page and "HR dispute" not in page
    assert "Telling the requester" not in page and "Recipients" not in page
    assert "A second privacy officer checks and approves it" in page  # as the person reads it
    assert "This request is about you: another privacy officer handles it." in page

    client.force_login(tess)
    page = _page(client, request)
    assert "Data-subject request's rejection proposed" in page and REASON in page
    assert "Audit trail" in page and "Omar Haddad" in page and "HR dispute" in page


def test_once_rejected_the_officer_it_is_about_reads_the_outcome_not_the_proposal(
    client, officers, tess
):
    request = _proposed(officers, "linked")
    services.confirm_rejection(
        request=request, actor=tess, proposed_at=request.rejection_proposed_at
    )
    client.force_login(officers[1])
    page = _page(client, request)
    assert f"Rejected: {REASON}" in page  # the decision, as the person is told it
    assert PROPOSED not in page.lower() and "Data-subject request rejected" not in page


def test_the_officer_it_is_about_reads_no_execution_error(client, officers):
    request = _about_omar(officers, "by email")
    SubjectRequest.objects.filter(pk=request.pk).update(
        status=SubjectRequest.Status.FAILED, error="Backend ledger-7 refused the redaction"
    )
    client.force_login(officers[1])
    page = _page(client, request)
    assert "ledger-7" not in page and "The execution stopped before the end." in page
    client.force_login(officers[0])
    assert "ledger-7" in _page(client, request)


# --- the daily reminder ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ABOUT)
def test_the_reminder_to_the_officer_it_is_about_leaves_out_its_proposal(officers, how):
    """Two officers: Priya proposed rejecting a request about Omar, so nobody may confirm
    it. Her reminder says so; his lists what else is due, without it."""
    priya, omar = officers
    today = timezone.localdate()
    request = _proposed(officers, how)
    overdue = receive(officers, received_on=today - dt.timedelta(days=40))

    assert reminders.send() == 2
    mails = {tuple(sent.to): sent for sent in mail.outbox}
    assert sorted(mails) == [(omar.email,), (priya.email,)]
    his, hers = mails[(omar.email,)], mails[(priya.email,)]
    assert overdue.reference in his.body and overdue.reference in hers.body
    assert request.reference not in his.body and "proposed rejection" not in his.body
    assert "no officer may take further" not in his.subject
    assert f"{request.reference} (" in hers.body and "its proposed rejection" in hers.body
    assert "1 request no officer may take further" in hers.subject


def test_an_officer_with_nothing_left_to_read_gets_no_reminder(officers):
    _proposed(officers, "by email")
    assert reminders.send() == 1
    (sent,) = mail.outbox
    assert sent.to == [officers[0].email]


# --- REST ------------------------------------------------------------------------------------

#: What the REST API does not show an officer a request is about: null, whether or not there
#: is a proposal (an empty value would tell them there is none).
HIDDEN = (
    "rejection_ground",
    "rejected_reason",
    "rejection_proposed_by",
    "rejection_proposed_at",
    "scope",
    "error",
)


@pytest.mark.parametrize("how", ABOUT)
def test_rest_shows_the_officer_it_is_about_nothing_of_a_proposal(officers, tess, how):
    request = _proposed(officers, how)
    path = f"/api/privacy/requests/{request.public_id}/"
    his = _client_of(officers[1])
    shown = his.get(path).json()
    assert {field: shown[field] for field in HIDDEN} == dict.fromkeys(HIDDEN)
    assert shown["status"] == "scoped" and shown["reference"] == request.reference
    (listed,) = [row for row in his.get("/api/privacy/requests/").json()["results"]]
    assert {field: listed[field] for field in HIDDEN} == dict.fromkeys(HIDDEN)
    assert REASON not in his.get("/api/privacy/requests/").content.decode()

    theirs = _client_of(tess).get(path).json()
    assert theirs["rejected_reason"] == REASON and theirs["rejection_proposed_by"] == "Priya"
    assert theirs["rejection_ground"] == "unfounded" and theirs["scope"] is not None


def test_rest_shows_the_officer_it_is_about_the_outcome_once_rejected(officers, tess):
    request = _proposed(officers, "linked")
    services.confirm_rejection(
        request=request, actor=tess, proposed_at=request.rejection_proposed_at
    )
    shown = _client_of(officers[1]).get(f"/api/privacy/requests/{request.public_id}/").json()
    assert shown["status"] == "rejected"
    assert shown["rejected_reason"] == REASON and shown["rejection_ground"] == "unfounded"
    assert shown["rejection_proposed_by"] is None and shown["rejection_proposed_at"] is None


def test_rest_shows_an_officer_everything_of_requests_about_others(officers):
    request = receive(officers)
    services.propose_rejection(
        request=request, actor=officers[0], ground="no_data", reason="Not ours"
    )
    shown = _client_of(officers[1]).get(f"/api/privacy/requests/{request.public_id}/").json()
    assert shown["rejected_reason"] == "Not ours" and shown["rejection_proposed_by"] == "Priya"
