"""Several identifiers of one kind: a request may name two email addresses (the REST API, a
follow-up that adds the kept account's own), and its follow-up erasure must give every one
again. The page's identifier boxes take one per line, each cleaned as before, the same one
twice refused; a follow-up missing one of two is refused beside its field with a count,
never the value."""

import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from privacy import services
from privacy.forms import FinishForm, IntakeForm
from privacy.models import SubjectRequest
from privacy.services import FieldRefused
from tests.api.test_rest import _client_of
from tests.privacy.conftest import make_conversation, mention, receive, release, run

HOME = "jane.roe@example.org"
WORK = "j.roe@roe-consulting.example"


def _page(response) -> str:
    return " ".join(html.unescape(response.content.decode()).split())


def _beside(page: str, field_id: str) -> str:
    """The refusal shown beside ``field_id``'s box."""
    return page.split(f'id="{field_id}_error"')[1].split("</div>")[0]


@pytest.fixture
def two_emails(org, officers, django_capture_on_commit_callbacks):
    """An erasure naming Jane Roe's two email addresses, completed while a hold kept Carol's
    conversation that names her home one; the hold since released."""
    kept = make_conversation(org.carol, org.internal, texts=(f"Write to {HOME}", "Noted"))
    mention(kept, "EMAIL_ADDRESS", HOME)
    hold = services.place_hold(actor=officers[1], reason="Litigation 4", conversation=kept)
    first = receive(officers, identifiers=[("email", HOME), ("email", WORK)])
    first = run(first, officers, django_capture_on_commit_callbacks)
    assert first.receipt["counts"]["withheld_conversations"] == 1
    release(hold, asked_by=officers[0], confirmed_by=officers[1])
    return first


# --- the follow-up, from the page ---------------------------------------------------------


def test_a_request_recorded_with_two_emails_is_followed_up_from_the_page(
    client, officers, two_emails
):
    client.force_login(officers[0])
    page = _page(client.get(reverse("privacy:request", args=[two_emails.public_id])))
    assert re.search(r'<textarea[^>]*id="finish_email"', page)
    assert "One per line, if they gave several." in page

    url = reverse("privacy:request_finish", args=[two_emails.public_id])
    finished = client.post(url, {"email": f"{HOME}\n{WORK.upper()}\n"})
    follow_up = SubjectRequest.objects.exclude(pk=two_emails.pk).get()
    assert finished.status_code == 302
    assert finished["Location"] == reverse("privacy:request", args=[follow_up.public_id])
    assert follow_up.identifiers() == [("email", HOME), ("email", WORK.upper())]
    assert set(two_emails.digests) <= set(follow_up.digests)


def test_one_of_two_emails_missing_is_refused_beside_the_email_field_with_a_count(
    client, officers, two_emails
):
    client.force_login(officers[0])
    url = reverse("privacy:request_finish", args=[two_emails.public_id])
    refused = client.post(url, {"email": HOME})
    assert refused.status_code == 422
    page = _page(refused)
    beside = _beside(page, "finish_email")
    assert (
        "The original erasure also named 1 email address (of 2) not given here: give the "
        f"subject's 2 email addresses (one per line) as they were given for "
        f"{two_emails.reference}."
    ) in beside
    assert WORK not in page  # the one missing is never said (nor kept to say it)
    assert "autofocus" in re.search(r'<textarea[^>]*id="finish_email"[^>]*>', page).group()
    assert f"{HOME}</textarea>" in page  # as typed
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_FOLLOW_UP_REFUSED)
    assert event.details["missing"] == 1
    assert SubjectRequest.objects.count() == 1


def test_it_says_when_one_of_the_emails_given_is_not_one_the_first_named(officers, two_emails):
    given = [("email", HOME), ("email", "jane@elsewhere.example")]
    with pytest.raises(FieldRefused) as refused:
        services.finish_erasure(request=two_emails, actor=officers[0], identifiers=given)
    assert refused.value.field == "email"
    assert str(refused.value) == (
        "The original erasure also named 1 email address (of 2) not given here: give the "
        f"subject's 2 email addresses (one per line) as they were given for "
        f"{two_emails.reference}. 1 of the 2 email addresses given here is not among those it "
        "named."
    )
    with pytest.raises(FieldRefused) as refused:
        services.finish_erasure(request=two_emails, actor=officers[0], identifiers=given[1:])
    assert str(refused.value).startswith("The original erasure also named 2 email addresses ")
    assert str(refused.value).endswith("The email address given here is not one it named.")


def test_both_of_two_kinds_missing_are_counted_by_kind(
    org, officers, django_capture_on_commit_callbacks
):
    kept = make_conversation(org.carol, org.internal, texts=(f"Write to {HOME}", "Noted"))
    mention(kept, "EMAIL_ADDRESS", HOME)
    hold = services.place_hold(actor=officers[1], reason="Litigation 4", conversation=kept)
    names = [("name", "Jane Roe"), ("name", "Jane Smith")]
    first = receive(officers, identifiers=[("email", HOME), ("email", WORK), *names])
    first = run(first, officers, django_capture_on_commit_callbacks)
    release(hold, asked_by=officers[0], confirmed_by=officers[1])
    with pytest.raises(FieldRefused) as refused:
        services.finish_erasure(
            request=first, actor=officers[0], identifiers=[("email", HOME), names[0]]
        )
    assert refused.value.field == "email"
    assert str(refused.value) == (
        "The original erasure also named 1 email address (of 2) and 1 name (of 2) not given "
        "here: give the subject's 2 email addresses (one per line) and 2 names (one per line) "
        f"as they were given for {first.reference}."
    )


# --- the boxes ------------------------------------------------------------------------------


def test_the_intake_page_records_two_emails_given_one_per_line(client, officers):
    client.force_login(officers[0])
    response = client.post(
        reverse("privacy:request_new"),
        {
            "kind": "erasure",
            "regime": "gdpr",
            "received_on": timezone.localdate().isoformat(),
            "email": f"\n {HOME} \n\n{WORK}\n",
            "name": "Jane Roe",
        },
    )
    assert response.status_code == 302
    request = SubjectRequest.objects.get()
    assert request.identifiers() == [("email", HOME), ("email", WORK), ("name", "Jane Roe")]
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_RECEIVED)
    assert event.details["identifier_kinds"] == ["email", "email", "name"]


def test_each_box_is_labelled_and_its_hint_tied_to_it(client, officers):
    client.force_login(officers[0])
    page = client.get(reverse("privacy:request_new")).content.decode()
    for name in ("email", "phone", "name", "other"):
        box = re.search(rf'<textarea[^>]*id="id_{name}"[^>]*>', page).group()
        assert f'aria-describedby="id_{name}_helptext"' in box
        assert f'<label for="id_{name}">' in page
        assert f'<p class="help" id="id_{name}_helptext">' in page


@pytest.mark.parametrize(
    ("typed", "refusal"),
    [
        (f"{HOME}\n{HOME.upper()}", "Lines 1 and 2 give the same email address: give each once."),
        (f"{HOME}\n\njane@", "Line 3: Enter a valid email address."),
        ("jane@", "Enter a valid email address."),
        ("x" * 255, "That is more than 254 characters: give one email address per line."),
    ],
    ids=["twice", "one malformed", "alone", "too long"],
)
def test_a_refused_email_is_said_beside_the_box_naming_its_line(client, officers, typed, refusal):
    client.force_login(officers[0])
    response = client.post(
        reverse("privacy:request_new"),
        {"kind": "erasure", "regime": "gdpr", "received_on": timezone.localdate(), "email": typed},
    )
    assert response.status_code == 422
    assert refusal in _beside(_page(response), "id_email")
    assert not SubjectRequest.objects.exists()


def test_each_line_is_cleaned_as_its_kind_was(db):
    form = FinishForm(
        {
            "phone": "+44 20 7946 0958\n+1 212 555 0100\n12",
            "name": "Jane Roe\nthe",
            "other": "GB29 NWBK 6016 1331 9268 19\ngb29nwbk60161331926819",
        }
    )
    assert not form.is_valid()
    assert form.errors["phone"] == [
        "Line 3: Give the number in digits, with its country code if you have it: "
        "+44 20 7946 0958, say."
    ]
    assert form.errors["name"] == [
        "Line 2: “the” is a common word: erasing it would change every message that uses it. "
        "Give the person's full name."
    ]
    assert form.errors["other"] == ["Lines 1 and 2 give the same identifier: give each once."]


def test_a_box_sent_back_is_as_tall_as_the_lines_typed_in_it(db):
    assert 'rows="2"' in str(FinishForm()["email"])  # room for a second one
    typed = FinishForm({"email": "a@example.org\nb@example.org\nc@"})
    assert not typed.is_valid()
    assert 'rows="3"' in str(typed["email"])  # the refused third line shows too


def test_blank_boxes_and_blank_lines_name_nothing(db):
    form = FinishForm({"email": "\n \n", "name": " Jane  Roe \n"})
    assert form.is_valid(), form.errors
    assert form.identifiers == [("name", "Jane  Roe")]


def test_a_staff_member_is_found_by_any_of_their_email_addresses(org, officers):
    given = {"kind": "access", "regime": "gdpr", "received_on": timezone.localdate()}
    form = IntakeForm({**given, "email": f"{HOME}\n{org.alice.email}", "staff_member": "on"})
    assert form.is_valid(), form.errors
    assert form.request_fields["subject_user"] == org.alice
    form = IntakeForm(
        {**given, "email": f"{org.carol.email}\n{org.alice.email}", "staff_member": "on"}
    )
    assert form.errors["email"] == [
        "These email addresses are 2 staff members' accounts: record a request for each person."
    ]
    form = IntakeForm({**given, "email": f"{HOME}\n{WORK}", "staff_member": "on"})
    assert form.errors["email"] == ["No staff account has any of these email addresses."]


# --- REST ------------------------------------------------------------------------------------


def test_rest_takes_several_of_a_kind_as_a_list_or_one_per_line(officers):
    client = _client_of(officers[0])
    intake = {"kind": "erasure", "regime": "gdpr", "received_on": str(timezone.localdate())}
    listed = client.post("/api/privacy/requests/", {**intake, "email": [HOME, WORK]}, format="json")
    assert listed.status_code == 201, listed.content
    request = SubjectRequest.objects.get(public_id=listed.json()["public_id"])
    assert request.identifiers() == [("email", HOME), ("email", WORK)]

    empty = client.post(
        "/api/privacy/requests/", {**intake, "name": ["Jo Doe", " "]}, format="json"
    )
    assert empty.status_code == 400
    assert empty.json()["name"] == [
        "Item 2 of the list is empty: leave it out, or give the identifier."
    ]
    twice = client.post(
        "/api/privacy/requests/", {**intake, "phone": "020 7946 0958\n02079460958"}, format="json"
    )
    assert twice.status_code == 400
    assert twice.json()["phone"] == ["Lines 1 and 2 give the same phone number: give each once."]
    assert SubjectRequest.objects.count() == 1
