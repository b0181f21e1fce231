"""An accessibility review of the officers' request pages: what a result, a disabled button or
a refused option says reaches a screen reader where the focus is, and each sentence is
addressed to whoever reads it."""

import html
import re
from collections import Counter

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from privacy import services
from privacy.forms import IntakeForm, RejectForm, WithholdForm
from privacy.models import LegalHold, SubjectRequest
from privacy.services import identifiers
from tests.asked_here import asked
from tests.privacy.conftest import SUBJECT_EMAIL, make_conversation, mention, receive, release, run
from tests.privacy.test_archive_withhold import copy  # noqa: F401 (a fixture)

S = SubjectRequest.Status
Ground = SubjectRequest.RejectionGround


def _page(client, request) -> str:
    response = client.get(reverse("privacy:request", args=[request.public_id]))
    assert response.status_code == 200
    return _text(response)


def _text(response) -> str:
    return " ".join(html.unescape(response.content.decode()).split())


def _tag(page: str, pattern: str) -> str:
    """The first opening tag in ``page`` matching ``pattern`` (a regex inside the tag)."""
    found = re.search(rf"<[^>]*{pattern}[^>]*>", page)
    assert found, pattern
    return found.group()


def _approve_button(page: str) -> str:
    return re.search(r"<button[^>]*>Approve and execute", page).group()


def _scoped(officers, by):
    request = receive(officers)
    request = services.verify_identity(request=request, actor=by, method="Called back")
    return services.scope_request(request=request, actor=by)


# --- withholding names in an access copy ------------------------------------------------------


def _check_url(request) -> str:
    return reverse("privacy:request_check_copy", args=[request.public_id])


def test_the_counts_describe_the_box_that_takes_the_focus(client, copy, officers):  # noqa: F811
    client.force_login(officers[0])
    done = client.post(_check_url(copy), {"terms": "Tom Baker\nZed Zebulon"})

    page = _text(done)
    box = _tag(page, 'id="withhold_terms"')
    assert "autofocus" in box
    assert 'aria-describedby="withhold-counts withhold_terms_helptext"' in box
    counts = page.split('id="withhold-counts"')[1].split("</ul>")[0]
    assert "Tom Baker: 4 replaced" in counts
    assert "Zed Zebulon: 0 replaced" in counts
    assert "(not found: already withheld, or spelled otherwise in the messages)" in counts


def test_before_any_withholding_the_box_is_described_by_its_help_only(client, copy, officers):  # noqa: F811
    client.force_login(officers[0])
    page = _text(client.get(asked(client, _check_url(copy))))
    assert 'aria-describedby="withhold_terms_helptext"' in _tag(page, 'id="withhold_terms"')
    assert 'id="withhold-counts"' not in page


def test_the_check_copy_page_has_its_own_title(client, copy, officers):  # noqa: F811
    client.force_login(officers[0])
    page = _text(client.get(asked(client, _check_url(copy))))
    assert f"<title>Check the copy: {copy.reference} · Steward</title>" in page
    request_page = _page(client, copy)
    assert f"<title>{copy.reference} · Steward</title>" in request_page


def test_withholding_the_persons_own_name_is_not_asked_for(client, copy, officers):  # noqa: F811
    form = WithholdForm({"terms": "the"})
    assert not form.is_valid()
    assert "Give the other person's full name." in form.errors["terms"][0]


def test_reading_the_mentions_is_recorded_once_per_visit_and_named(client, copy, officers):  # noqa: F811
    client.force_login(officers[0])
    client.get(asked(client, _check_url(copy)))
    client.post(_check_url(copy), {"terms": "Tom Baker"})
    client.post(_check_url(copy), {"terms": "Al"})  # refused: the page comes back

    read = AuditEvent.objects.filter(action=AuditEvent.Action.DSR_DOWNLOADED)
    assert [event.details["what"] for event in read] == ["mentions"]
    assert "Data-subject archive or receipt downloaded (mentions read)" in _page(client, copy)


# --- a proposed rejection --------------------------------------------------------------------


def test_where_it_stands_leads_the_second_officer_to_a_proposed_rejection(client, officers):
    priya, omar = officers
    request = _scoped(officers, priya)
    services.propose_rejection(request=request, actor=omar, ground=Ground.UNFOUNDED, reason="x")
    client.force_login(priya)

    page = _page(client, request)
    stands = page.split("<h2>Where it stands</h2>")[1].split("</section>")[0]
    assert "A rejection is proposed" in stands and 'href="#rejection"' in stands
    assert "approves it" not in stands
    assert "Not scoped yet" not in page


def test_no_data_held_proposed_before_scoping_says_nothing_shows_it_yet(client, officers):
    priya, omar = officers
    request = services.verify_identity(request=receive(officers), actor=priya, method="Call")
    services.propose_rejection(request=request, actor=omar, ground=Ground.NO_DATA, reason="x")
    client.force_login(priya)

    page = _page(client, request)
    confirm = page.split('id="rejection"')[1].split("Confirm the rejection")[0]
    assert "Not scoped yet: nothing shows yet that no data is held" in confirm


# --- approving -------------------------------------------------------------------------------


def test_the_disabled_approve_button_says_why_in_words_it_points_to(client, officers):
    priya, omar = officers
    request = _scoped(officers, priya)
    client.force_login(priya)

    page = _page(client, request)
    button = _tag(page, 'aria-describedby="approve-why"')
    assert "disabled" in button and "title=" not in button
    why = page.split('id="approve-why"')[1].split("</p>")[0]
    assert "You scoped it: another privacy officer approves it." in why
    assert "Priya" not in page.split("<h2>Where it stands</h2>")[1].split("</section>")[0]
    assert "someone other than Priya" not in page

    client.force_login(omar)
    page = _page(client, request)
    assert 'id="approve-why"' not in page and "disabled" not in _approve_button(page)


def test_approval_waiting_for_a_rejection_says_why_beside_the_button(client, officers):
    priya, omar = officers
    request = _scoped(officers, priya)
    services.propose_rejection(request=request, actor=priya, ground=Ground.UNFOUNDED, reason="x")
    client.force_login(omar)

    page = _page(client, request)
    assert "disabled" in _tag(page, 'aria-describedby="approve-why"')
    assert "A rejection is proposed" in page.split('id="approve-why"')[1].split("</p>")[0]


# --- radio groups ----------------------------------------------------------------------------


def test_each_option_of_a_refused_group_is_described_by_its_error():
    form = RejectForm({"reason": "Too many"})
    assert not form.is_valid()
    options = [str(option.tag()) for option in form["ground"]]
    assert all('aria-describedby="reject_ground_error"' in option for option in options)
    assert "autofocus" in options[0] and "autofocus" not in "".join(options[1:])

    intake = IntakeForm({"regime": "gdpr"})
    assert not intake.is_valid()
    assert str(intake["kind"]).count('aria-describedby="id_kind_error"') == 2


def test_a_group_not_refused_has_no_description():
    options = [str(option.tag()) for option in RejectForm()["ground"]]
    assert not any("aria-describedby" in option for option in options)


# --- the intake form -------------------------------------------------------------------------


def test_identifiers_refused_each_are_not_also_said_to_be_missing():
    form = IntakeForm({"kind": "erasure", "regime": "gdpr", "received_on": "", "email": "x"})
    assert not form.is_valid()
    assert "Give at least one identifier" not in str(form.non_field_errors())
    assert form.errors["email"]


def test_kind_refused_in_words_and_the_law_asked_plainly():
    form = IntakeForm({"regime": "gdpr", "email": SUBJECT_EMAIL})
    assert not form.is_valid()
    assert form.errors["kind"] == [
        "Choose what the person asks for: a copy of their data or erasure."
    ]
    assert form["regime"].label == "Under which law"


# --- the follow-up erasure -------------------------------------------------------------------


@pytest.fixture
def left_behind(org, officers, django_capture_on_commit_callbacks):
    """An erasure of an email address and a name, which left a held conversation behind,
    the hold since released."""
    kept = make_conversation(org.carol, org.internal, texts=(f"Mail {SUBJECT_EMAIL}",))
    mention(kept, "EMAIL_ADDRESS", SUBJECT_EMAIL)
    hold = services.place_hold(actor=officers[1], reason="Litigation 4", conversation=kept)
    named = receive(officers, identifiers=[("email", SUBJECT_EMAIL), ("name", "Jane Roe")])
    request = run(named, officers, django_capture_on_commit_callbacks)
    release(LegalHold.objects.get(pk=hold.pk), asked_by=officers[0], confirmed_by=officers[1])
    return request


def test_the_follow_up_form_says_which_kinds_the_first_named_in_plain_words(
    client, officers, left_behind
):
    client.force_login(officers[0])
    page = _page(client, left_behind)
    form = page.split("Erase what was withheld")[0].rsplit("<form", 1)[1]
    assert "This erasure named 1 email address and 1 name" in form
    assert "keyed hash" not in form and "refused while" not in form


def test_a_follow_up_refused_as_a_whole_takes_the_focus_to_why(
    client, officers, left_behind, monkeypatch
):
    monkeypatch.setattr(
        identifiers, "_identifiers_named", lambda request: Counter()
    )  # the event is gone
    client.force_login(officers[0])
    url = reverse("privacy:request_finish", args=[left_behind.public_id])
    refused = client.post(url, {"email": SUBJECT_EMAIL})

    assert refused.status_code == 422
    error = _tag(_text(refused), 'class="field-error" role="alert"')
    assert 'tabindex="-1"' in error and "autofocus" in error


# --- the next step ---------------------------------------------------------------------------


def test_the_next_step_says_a_request_is_running_and_the_buttons_say_what_they_do(client, officers):
    priya, omar = officers
    client.force_login(priya)
    page = _page(client, receive(officers, identifiers=[("name", "Jane Roe")]))
    assert ">Record the identity check</button>" in page

    request = _scoped(officers, priya)
    SubjectRequest.objects.filter(pk=request.pk).update(status=S.EXECUTING)
    page = _page(client, request)
    step = page.split("<h2>Next step</h2>")[1].split("</section>")[0]
    assert "It is running" in step


def test_other_actions_do_not_offer_an_extension_that_is_refused(client, officers):
    request = receive(officers)
    SubjectRequest.objects.filter(pk=request.pk).update(extended=True)
    client.force_login(officers[0])
    summary = _page(client, request).split("<summary>Other actions:")[1].split("</summary>")[0]
    assert "extend" not in summary.lower() and "reject the request" in summary
