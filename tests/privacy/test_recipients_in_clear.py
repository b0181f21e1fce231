"""Whether a recipient got the person's data in clear is read from what was sent, not only
from the identifiers the detector recognised.

A DPO's review: a name typed without a title is not recognised, so it went to the API as
written, yet the erasure page, the letter and the access copy said the provider had
received placeholders only, and the officer could not record that it was told. The
execution now looks for the values the request names in what each conversation sent (the
question as sent, the answers sent back with the history) before it changes anything.
"""

import html

import pytest
from django.urls import reverse

from chat import services as chat
from chat.models import Message
from governance.models import HostingClass
from privacy import recipients, scope
from privacy.models import SubjectRequest
from tests.factories import make_backend
from tests.privacy.conftest import receive, run

API = "OpenAI business API"  # the demo's: external, keeps inputs 30 days
NAME = "Jane Roe"
EMAIL = "jane.roe@example.org"


def _chat(capture, author, category, *texts):
    conversation = chat.start_conversation(owner=author, category=category)
    for text in texts:
        with capture(execute=True):
            chat.send_message(conversation=conversation, author=author, text=text)
    return conversation


def _erase(officers, capture, *identifiers):
    return run(receive(officers, identifiers=list(identifiers)), officers, capture)


def _entry(request, backend=API) -> dict:
    return next(e for e in request.receipt["recipients"] if e["backend"] == backend)


def test_a_name_typed_without_a_title_went_in_clear_and_its_provider_is_owed_a_notice(
    org, officers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    _chat(capture, org.carol, org.internal, f"Draft a reply to {NAME} ({EMAIL}) about the refund.")
    sent = str(org.external.last.body["messages"])
    assert NAME in sent and EMAIL not in sent  # the premise: the name left as written

    erasure = _erase(officers, capture, ("email", EMAIL), ("name", NAME))

    assert erasure.status == SubjectRequest.Status.COMPLETED
    assert _entry(erasure) | {"hosting_class": "x"} == {
        "backend": API,
        "hosting_class": "x",
        "region": _entry(erasure)["region"],
        "calls": 1,
        "in_clear": 1,
        "unchecked": 0,
    }
    found = {row.backend: row.reason for row in recipients.of_erasure(erasure).rows}
    assert found == {API: ""}
    assert [r.reference for r in recipients.erasures_to_tell()] == [erasure.reference]


def test_only_the_calls_from_the_message_that_named_them_on_count_as_in_clear(
    org, officers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    _chat(
        capture,
        org.carol,
        org.internal,
        f"Draft a reply to {EMAIL} about the refund.",
        "Make it shorter.",
        f"Sign it for {NAME}'s manager.",
        "Thanks.",
    )
    erasure = _erase(officers, capture, ("email", EMAIL), ("name", NAME))
    assert (_entry(erasure)["calls"], _entry(erasure)["in_clear"]) == (4, 2)


def test_an_answer_that_named_them_counts_from_the_call_that_wrote_it(
    org, officers, django_capture_on_commit_callbacks
):
    """The provider keeps what it answered, and the answer goes back with the history."""
    capture = django_capture_on_commit_callbacks
    conversation = _chat(capture, org.carol, org.internal, f"Draft a reply to {EMAIL}.")
    org.external.reply = [f"Dear {NAME}, ", "thank you."]
    for text in ("Make it shorter.", "Thanks."):
        with capture(execute=True):
            chat.send_message(conversation=conversation, author=org.carol, text=text)
    erasure = _erase(officers, capture, ("email", EMAIL), ("name", NAME))
    assert (_entry(erasure)["calls"], _entry(erasure)["in_clear"]) == (3, 2)


def test_what_was_replaced_everywhere_is_still_placeholders_only(
    org, officers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    _chat(capture, org.carol, org.internal, f"Draft a reply to {EMAIL} about the refund.")
    erasure = _erase(officers, capture, ("email", EMAIL), ("name", NAME))
    assert (_entry(erasure)["in_clear"], _entry(erasure)["unchecked"]) == (0, 0)
    assert recipients.of_erasure(erasure).rows[0].reason == recipients.PLACEHOLDERS
    assert recipients.erasures_to_tell() == []


def test_a_conversation_whose_text_is_not_kept_cannot_show_placeholders_only(
    org, officers, django_capture_on_commit_callbacks
):
    """A category that keeps no text leaves nothing to look in: its calls are unchecked, and
    their provider is owed a notice to be safe."""
    capture = django_capture_on_commit_callbacks
    org.internal.retention_days = None
    org.internal.save()
    _chat(capture, org.carol, org.internal, f"Draft a reply to {EMAIL} about the refund.")
    erasure = _erase(officers, capture, ("email", EMAIL), ("name", NAME))
    assert (_entry(erasure)["in_clear"], _entry(erasure)["unchecked"]) == (0, 1)
    assert recipients.of_erasure(erasure).rows[0].reason == ""
    assert [r.reference for r in recipients.erasures_to_tell()] == [erasure.reference]


def test_the_scope_before_approval_still_reads_the_indexes_only(
    org, officers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    _chat(capture, org.carol, org.internal, f"Draft a reply to {NAME} ({EMAIL}).")
    digests = [scope.digest_of("email", EMAIL)]
    (entry,) = scope.recipients(digests=digests, subject_user_id=None)
    assert entry["in_clear"] == 0 and "unchecked" not in entry
    (entry,) = scope.recipients(digests=digests, subject_user_id=None, literals=[NAME])
    assert (entry["in_clear"], entry["unchecked"]) == (1, 0)


def test_a_name_sent_before_the_first_indexed_mention_counts_from_the_call_that_carried_it(
    org, officers, django_capture_on_commit_callbacks, monkeypatch
):
    """The name went out in the first message, the address (the index's first mention) in
    the second, after the API's key went and the next call failed over to the local model:
    the API held the name and was missing from the receipt (a review found it)."""
    capture = django_capture_on_commit_callbacks
    conversation = _chat(capture, org.carol, org.internal, f"Draft a short note to {NAME}.")
    monkeypatch.delenv("STEWARD_TEST_OPENAI_KEY")
    with capture(execute=True):
        chat.send_message(conversation=conversation, author=org.carol, text=f"Write to {EMAIL}.")
    assert len(org.external.requests) == 1 and NAME in str(org.external.requests[0].body)
    erasure = _erase(officers, capture, ("email", EMAIL), ("name", NAME))
    assert (_entry(erasure)["calls"], _entry(erasure)["in_clear"]) == (1, 1)
    assert [r.reference for r in recipients.erasures_to_tell()] == [erasure.reference]


def test_a_question_sent_again_with_other_placeholders_leaves_its_first_call_unchecked(
    org, officers, django_capture_on_commit_callbacks
):
    """Sent with the name as written, failed, then retried after the name joined a staff
    list: the stored text is the retry's, with a placeholder. What the first call sent is
    gone, so it cannot show placeholders only (it read so, a review found)."""
    from governance.models import ProtectedTermList

    capture = django_capture_on_commit_callbacks
    conversation = chat.start_conversation(owner=org.carol, category=org.internal)
    org.external.fail = 500
    with capture(execute=True):
        sent = chat.send_message(
            conversation=conversation, author=org.carol, text=f"Reply to {NAME} ({EMAIL})."
        )
    org.external.fail = None
    staff = ProtectedTermList(name="Staff", kind="staff")
    staff.set_terms([NAME])
    staff.save()
    with capture(execute=True):
        chat.retry_answer(answer=Message.objects.get(pk=sent.answer.pk), author=org.carol)
    assert [NAME in str(r.body) for r in org.external.requests] == [True, False]
    erasure = _erase(officers, capture, ("email", EMAIL), ("name", NAME))
    entry = _entry(erasure)
    assert (entry["calls"], entry["in_clear"], entry["unchecked"]) == (2, 0, 1)
    assert recipients.of_erasure(erasure).rows[0].reason == ""


def test_a_staff_members_own_conversation_is_in_clear_whatever_it_replaced(
    org, officers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    own = org.alice.email
    _chat(capture, org.alice, org.internal, f"I am off sick again; reply to HR from {own}.")
    erasure = run(
        receive(officers, identifiers=[("email", own)], subject_user=org.alice), officers, capture
    )
    assert (_entry(erasure)["calls"], _entry(erasure)["in_clear"]) == (1, 1)


def test_a_message_naming_them_twice_is_in_clear_if_either_went_as_written(
    org, officers, django_capture_on_commit_callbacks
):
    """Its phone number replaced and its address allowed: the scope before approval (the
    indexes only) said placeholders only when the phone's index row came last."""
    capture = django_capture_on_commit_callbacks
    org.internal.finding_actions = {"EMAIL_ADDRESS": "allow"}
    org.internal.save()
    _chat(capture, org.carol, org.internal, f"Call her on +44 20 7946 0958 or write to {EMAIL}.")
    digests = [scope.digest_of("email", EMAIL), scope.digest_of("phone", "+44 20 7946 0958")]
    (entry,) = scope.recipients(digests=digests, subject_user_id=None)
    assert (entry["calls"], entry["in_clear"]) == (1, 1)


def test_the_letter_and_the_page_no_longer_say_placeholders_only(
    client, org, officers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    _chat(capture, org.carol, org.internal, f"Draft a reply to {NAME} ({EMAIL}).")
    erasure = _erase(officers, capture, ("email", EMAIL), ("name", NAME))
    client.force_login(officers[1])
    page = html.unescape(
        client.get(reverse("privacy:request", args=[erasure.public_id])).content.decode()
    )
    assert "received placeholders only" not in page
    assert "1 of 1 call in clear" in page
    letter = html.unescape(
        client.get(reverse("privacy:request_letter", args=[erasure.public_id])).content.decode()
    )
    assert "placeholders only" not in letter


# --- an officer may tell a provider that needed no notice -------------------------------


@pytest.fixture
def zero_retention(db):
    return make_backend(
        name="Zero API", hosting_class=HostingClass.EXTERNAL_API, provider_retention_days=0
    )


def _with_recipients(request, *entries):
    receipt = {**request.receipt, "recipients": list(entries)}
    SubjectRequest.objects.filter(pk=request.pk).update(receipt=receipt)
    return SubjectRequest.objects.get(pk=request.pk)


def _listed(backend, hosting="external_api", in_clear=0):
    return {
        "backend": backend,
        "hosting_class": hosting,
        "region": "us-east-1",
        "calls": 2,
        "in_clear": in_clear,
        "unchecked": 0,
    }


def test_an_officer_may_record_a_notice_a_provider_was_not_owed_but_not_to_an_own_server(
    client, officers, zero_retention, django_capture_on_commit_callbacks
):
    erasure = _erase(officers, django_capture_on_commit_callbacks, ("email", EMAIL))
    erasure = _with_recipients(
        erasure,
        _listed("Zero API", in_clear=2),
        _listed("Placeholder API"),
        _listed("Own model", hosting="on_prem"),
    )
    client.force_login(officers[1])
    url = reverse("privacy:request", args=[erasure.public_id])
    page = html.unescape(client.get(url).content.decode())
    assert page.count("Tell anyway") == 2

    for backend in ("Zero API", "Placeholder API"):
        recipients.record_notice(
            request=erasure,
            actor=officers[1],
            backend=backend,
            told_on=erasure.completed_at.date(),
            how="email to privacy@vendor.example",
        )
    with pytest.raises(recipients.PrivacyError, match="runs on the organisation's own servers"):
        recipients.record_notice(
            request=erasure, actor=officers[1], backend="Own model",
            told_on=erasure.completed_at.date(), how="memo",
        )  # fmt: skip
    told = {row.backend for row in recipients.of_erasure(erasure).told}
    assert told == {"Zero API", "Placeholder API"}
    page = html.unescape(client.get(url).content.decode())
    assert "Tell anyway" not in page and page.count("Told on") == 2


@pytest.mark.parametrize(
    ("in_clear", "unchecked", "words"),
    [
        (0, 0, "all 4 messages with your data replaced by placeholders"),
        (0, 4, "all 4 messages whose text we do not keep: we cannot tell how it held your data"),
        (
            1,
            2,
            "4 messages: 1 with your data in clear; 1 with it replaced by placeholders; "
            "2 whose text we do not keep, so we cannot tell",
        ),
        (
            0,
            1,
            "4 messages: 3 with your data replaced by placeholders; "
            "1 whose text we do not keep, so we cannot tell",
        ),
    ],
)
def test_the_access_copy_says_of_which_messages_it_cannot_tell(db, in_clear, unchecked, words):
    from privacy.disclosure import recipients_told

    entry = _listed("Some API", in_clear=in_clear) | {"calls": 4, "unchecked": unchecked}
    assert recipients_told([entry])[0]["how_sent"] == words
