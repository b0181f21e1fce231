"""How far an erasure reaches: the subject's name as a whole word only, what they write while it
runs, their SSO identity and their access archives; and a receipt that counts each thing once."""

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.urls import reverse

from api import services as api
from chat import services as chat
from chat.models import Conversation
from privacy import erasure, purge, services
from privacy.models import SubjectRequest
from privacy.scope import digest_of
from tests.privacy.conftest import SUBJECT_EMAIL, make_conversation, mention, receive, run

EMAIL = SUBJECT_EMAIL
PHONE = "+44 20 7946 0958"


def _send(capture, conversation, author, text):
    with capture(execute=True):
        return chat.send_message(conversation=conversation, author=author, text=text)


def _first_text(conversation) -> str:
    return Conversation.objects.get(pk=conversation.pk).messages.order_by("pk").first().content


# --- Whole words only --------------------------------------------------------------------


def test_a_name_is_erased_as_a_word_never_inside_other_words(
    org, officers, django_capture_on_commit_callbacks
):
    """Redaction cannot be undone: "Ann" erases Ann, not the letters of "annual" or "Jo-Ann"."""
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    _send(
        django_capture_on_commit_callbacks,
        conversation,
        org.carol,
        f"Reply to {EMAIL}: Ann asked whether the annual planning with Jo-Ann moves (Ann's).",
    )
    request = receive(officers, identifiers=[("email", EMAIL), ("name", "Ann")])
    run(request, officers, django_capture_on_commit_callbacks)
    text = _first_text(conversation)
    assert "[erased] asked" in text and "([erased]'s)" in text, text
    assert "the annual planning with Jo-Ann moves" in text, text


def test_an_email_or_a_phone_is_erased_whole_never_inside_a_longer_one(
    org, officers, django_capture_on_commit_callbacks
):
    """Another address that ends with the subject's, or a number that starts with theirs, is
    someone else's and stays."""
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    _send(
        django_capture_on_commit_callbacks,
        conversation,
        org.carol,
        f"Write to {EMAIL} or call {PHONE}; not mary.{EMAIL} nor {PHONE}1.",
    )
    request = receive(officers, identifiers=[("email", EMAIL), ("phone", PHONE)])
    run(request, officers, django_capture_on_commit_callbacks)
    text = _first_text(conversation)
    assert text.startswith("Write to [erased] or call [erased];"), text
    assert text.endswith(f"not mary.{EMAIL} nor {PHONE}1."), text


def test_a_title_cut_inside_the_address_is_taken_again_from_the_redacted_message(
    org, officers, django_capture_on_commit_callbacks
):
    """A title is the first message's start, cut at 80 characters: cut inside the address, no
    detector finds it whole, and "…write to jane.roe@…" kept part of it after erasure. A
    title now stops between words, before the address; one that holds it whole is taken
    again from the redacted message."""
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    lead = "Please draft a polite reply about the late refund to the customer at "
    text = f"{lead}{EMAIL} today."  # the first 79 characters end with "jane.roe@e"
    _send(django_capture_on_commit_callbacks, conversation, org.carol, text)
    title = Conversation.objects.get(pk=conversation.pk).title
    assert title == lead.rstrip() + "…"  # none of the address
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    lead = "Please reply about the refund to "
    text = f"{lead}{EMAIL} today, and say sorry for the long wait, twice."
    _send(django_capture_on_commit_callbacks, conversation, org.carol, text)
    title = Conversation.objects.get(pk=conversation.pk).title
    assert title.endswith("…") and EMAIL in title
    run(receive(officers), officers, django_capture_on_commit_callbacks)
    title = Conversation.objects.get(pk=conversation.pk).title
    assert EMAIL[:4] not in title and title.startswith(lead) and "[erased]" in title, title


def test_a_title_naming_what_was_replaced_is_taken_again_from_the_message_as_sent(
    org, officers, django_capture_on_commit_callbacks
):
    """A title taken from the message as sent names what was replaced ("[secret or
    credential]"): taken again from it redacted, it still names the key and cuts nothing
    of the address in clear (the category lets addresses go in clear, not keys)."""
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    key = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" * 2
    lead = "Use the key " + key + " to reply to the late refund of "
    _send(django_capture_on_commit_callbacks, conversation, org.carol, f"{lead}{EMAIL} today.")
    title = Conversation.objects.get(pk=conversation.pk).title
    named_lead = "Use the key [secret or credential] to reply to the late refund of "
    assert title == named_lead.rstrip() + "…" and key not in title, title  # stops before it
    run(receive(officers), officers, django_capture_on_commit_callbacks)
    title = Conversation.objects.get(pk=conversation.pk).title
    assert title == chat.title_from(f"{named_lead}[erased] today."), title


def test_a_title_the_owner_typed_is_redacted_as_it_is(
    org, officers, django_capture_on_commit_callbacks
):
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    _send(django_capture_on_commit_callbacks, conversation, org.carol, f"Write to {EMAIL}.")
    chat.rename_conversation(conversation=conversation, actor=org.carol, title=f"Refund {EMAIL}")
    run(receive(officers), officers, django_capture_on_commit_callbacks)
    assert Conversation.objects.get(pk=conversation.pk).title == "Refund [erased]"


@pytest.mark.parametrize(
    ("literal", "text", "expected"),
    [
        (
            "Ann",
            "Ann, annual, Jo-Ann, Ann-Marie, ANN.",
            "[erased], annual, Jo-Ann, Ann-Marie, [erased].",
        ),
        (PHONE, f"Call {PHONE}, ({PHONE}) or x{PHONE}.", "Call [erased], ([erased]) or x[erased]."),
        (PHONE, f"Not {PHONE}1 nor {PHONE}-12.", f"Not {PHONE}1 nor {PHONE}-12."),
        (EMAIL, f"<{EMAIL}>, {EMAIL}.", "<[erased]>, [erased]."),
        (EMAIL, f"mary.{EMAIL}, {EMAIL}.uk, x{EMAIL}", f"mary.{EMAIL}, {EMAIL}.uk, x{EMAIL}"),
        (" Ann ", "Ann; annual", "[erased]; annual"),
        # The words of a name as typed, however far apart: its keyed hash ignores the spacing.
        ("Jane  Roe", "Jane Roe wrote to jane\nroe.", "[erased] wrote to [erased]."),
        ("Jane Roe", "Jane \t Roe; JaneRoe", "[erased]; JaneRoe"),
        # Its apostrophe and hyphen as a phone or a word processor types them.
        ("Sean O'Brien", "Sean O\u2019Brien and Sean O'Brien", "[erased] and [erased]"),
        ("Mary-Ann Lee", "Mary\u2010Ann Lee, Mary-Ann Lee", "[erased], [erased]"),
    ],
)
def test_a_literal_matches_whole_tokens_whatever_its_edges(db, literal, text, expected):
    """A value that starts or ends with a word character must not continue a longer word or
    address there; one that starts with "+" (a phone) is matched wherever it begins."""
    assert erasure.redact(text, set(), erasure.literal_patterns([literal])) == expected


def test_a_pseudonym_is_erased_only_when_its_value_holds_the_name_as_a_word(org, db):
    """In someone else's mapping, a placeholder standing for the subject restores to
    ``[erased]``; one standing for "Annabel Lee" or "Annual Reports Ltd" still restores."""
    conversation = make_conversation(
        org.carol, org.confidential, texts=(f"Ask [PERSON_1], [PERSON_2], [PERSON_3], {EMAIL}",)
    )
    mention(conversation, "EMAIL_ADDRESS", EMAIL)
    values = {"[PERSON_1]": "Ann Roe", "[PERSON_2]": "Annabel Lee", "[PERSON_3]": "Annual Reports"}
    conversation.set_pseudonyms(
        {
            "values": values,
            "keys": {f"PERSON:{v.lower()}": p for p, v in values.items()},
            "counters": {"PERSON": 3},
        }
    )
    conversation.save(update_fields=["pseudonyms_sealed"])
    erasure.erase(digests=[digest_of("email", EMAIL)], literals=[EMAIL, "Ann"])
    mapping = Conversation.objects.get(pk=conversation.pk).pseudonyms()["values"]
    assert mapping == {
        "[PERSON_1]": "[erased]",
        "[PERSON_2]": "Annabel Lee",
        "[PERSON_3]": "Annual Reports",
    }


# --- What the subject writes while their erasure runs ------------------------------------


def test_a_conversation_started_during_the_erasure_is_erased_too(
    org, officers, django_capture_on_commit_callbacks, monkeypatch
):
    """A request already under way when the account closed may still write: the erasure goes
    over the subject's conversations again at the end, until none is left."""
    make_conversation(org.alice, org.internal)
    other = chat.start_conversation(owner=org.carol, category=org.confidential)
    _send(django_capture_on_commit_callbacks, other, org.carol, f"Ping {org.alice.email} later.")
    redact = erasure._redact_conversation
    written = []

    def alice_keeps_chatting(conversation, *args):
        if not written:  # while the erasure works on others' conversations
            mine = make_conversation(org.alice, org.internal, texts=(f"I am {org.alice.email}",))
            mention(mine, "EMAIL_ADDRESS", org.alice.email)
            written.append(mine.pk)
        return redact(conversation, *args)

    monkeypatch.setattr(erasure, "_redact_conversation", alice_keeps_chatting)
    request = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    request = run(request, officers, django_capture_on_commit_callbacks)
    counts = request.receipt["counts"]
    assert written and counts["account"] is True
    assert counts["own_conversations"] == 2 and counts["redacted_conversations"] == 1
    assert not Conversation.objects.filter(owner=org.alice).exists()


def test_the_account_cannot_write_once_its_erasure_has_begun(
    org, officers, client, django_capture_on_commit_callbacks, monkeypatch
):
    """It is closed before anything it owns is read: her signed-in session and her API token
    stop working, so nothing new can come in behind the erasure."""
    make_conversation(org.alice, org.internal)
    client.force_login(org.alice)
    assert client.get(reverse("chat:home")).status_code == 200
    _, raw = api.create_token(user=org.alice, name="ci", expires_in_days=None, actor=org.alice)
    shred = purge.shred
    seen = []

    def while_shredding(candidates, **kwargs):
        org.alice.refresh_from_db()
        seen.append(org.alice.is_active)
        seen.append(client.get(reverse("chat:home")).status_code)
        with pytest.raises(api.TokenRefused, match="deactivated"):
            api.authenticate(raw)
        return shred(candidates, **kwargs)

    monkeypatch.setattr(purge, "shred", while_shredding)
    request = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    request = run(request, officers, django_capture_on_commit_callbacks)
    assert seen[:2] == [False, 302]  # signed out: sent to the sign-in page
    assert request.receipt["counts"]["account_deactivated"] is True


def test_an_account_held_meanwhile_is_kept_closed(
    org, officers, django_capture_on_commit_callbacks, monkeypatch
):
    """A hold placed on the subject while their erasure runs keeps their account and what they
    own (nothing of theirs goes after it); the account stays closed, as the receipt says."""
    make_conversation(org.alice, org.internal)
    other = make_conversation(org.carol, org.confidential, texts=(f"Ping {org.alice.email}",))
    mention(other, "EMAIL_ADDRESS", org.alice.email)
    redact = erasure._redact_conversation

    def a_hold_on_alice_meanwhile(conversation, *args):
        services.place_hold(actor=officers[0], reason="Litigation 21", user=org.alice)
        make_conversation(org.alice, org.internal)  # written as the hold came
        return redact(conversation, *args)

    monkeypatch.setattr(erasure, "_redact_conversation", a_hold_on_alice_meanwhile)
    request = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    request = run(request, officers, django_capture_on_commit_callbacks)
    counts = request.receipt["counts"]
    assert counts["own_conversations"] == 1 and counts["withheld_conversations"] == 1
    assert counts["account"] is False and counts["account_withheld"] is True
    assert counts["account_deactivated"] is True
    org.alice.refresh_from_db()
    assert not org.alice.is_active and not org.alice.email.endswith("@erased.invalid")
    assert Conversation.objects.filter(owner=org.alice).count() == 1


def test_a_held_subject_is_not_closed_by_their_erasure(
    org, officers, django_capture_on_commit_callbacks
):
    """Under a hold nothing of theirs goes, so nothing needs to be stopped: they keep working."""
    services.place_hold(actor=officers[0], reason="Litigation 22", user=org.alice)
    make_conversation(org.alice, org.internal)
    request = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    request = run(request, officers, django_capture_on_commit_callbacks)
    assert request.receipt["counts"]["account_deactivated"] is False
    org.alice.refresh_from_db()
    assert org.alice.is_active


def test_each_withheld_conversation_counts_once(org, officers, django_capture_on_commit_callbacks):
    """A held subject's own conversation that also mentions them is one withheld conversation."""
    services.place_hold(actor=officers[0], reason="Litigation 20", user=org.alice)
    mine = chat.start_conversation(owner=org.alice, category=org.internal)
    _send(
        django_capture_on_commit_callbacks,
        mine,
        org.alice,
        f"Sign my reply as {org.alice.email} please.",
    )
    request = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    request = run(request, officers, django_capture_on_commit_callbacks)
    assert Conversation.objects.filter(owner=org.alice).count() == 1
    counts = request.receipt["counts"]
    assert counts["withheld_conversations"] == 1 and counts["redacted_conversations"] == 0


# --- The account's other traces ----------------------------------------------------------


def test_erasure_removes_the_sso_identity(org, officers, django_capture_on_commit_callbacks):
    """The identity provider's link (its uid, and the claims it sent: email, name) goes with
    the account, and the tokens it issued with it."""
    account = SocialAccount.objects.create(
        user=org.alice,
        provider="openid_connect",
        uid="oidc-sub-alice-123",
        extra_data={"email": org.alice.email, "name": org.alice.full_name, "sub": "x"},
    )
    SocialToken.objects.create(account=account, token="access", token_secret="refresh")
    request = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    request = run(request, officers, django_capture_on_commit_callbacks)
    assert request.receipt["counts"]["account"] is True
    assert not SocialAccount.objects.filter(user=org.alice).exists()
    assert not SocialToken.objects.exists()


def test_a_held_account_keeps_its_sso_identity(org, officers):
    """Who they are is part of what a hold keeps."""
    SocialAccount.objects.create(user=org.alice, provider="openid_connect", uid="oidc-alice")
    services.place_hold(actor=officers[0], reason="Litigation 23", user=org.alice)
    assert erasure.erase_account(org.alice) is False
    assert SocialAccount.objects.filter(user=org.alice).exists()


def test_erasure_drops_the_subjects_access_archives(
    org, officers, django_capture_on_commit_callbacks
):
    """An archive is a copy of the subject's conversations sealed with the master key:
    shredding the conversations' keys does not reach it, so the erasure drops it, and says
    how many it dropped. Someone else's archive stays."""
    make_conversation(org.alice, org.internal, texts=("My secret plan for Q3", "Sure"))
    make_conversation(org.carol, org.internal, texts=("Carol's plan", "Sure"))
    archives = []
    for subject in (org.alice, org.alice, org.carol):
        access = receive(
            officers,
            kind=SubjectRequest.Kind.ACCESS,
            identifiers=[("email", subject.email)],
            subject_user=subject,
        )
        archives.append(run(access, officers, django_capture_on_commit_callbacks))
    assert all(access.archive_sealed for access in archives)

    request = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    request = run(request, officers, django_capture_on_commit_callbacks)
    assert request.receipt["counts"]["archives"] == 2
    for access in archives:
        access.refresh_from_db()
    assert [bytes(access.archive_sealed) == b"" for access in archives] == [True, True, False]
    assert [access.archive_dropped_at is not None for access in archives] == [True, True, False]


def test_erasure_drops_an_outside_persons_access_archive_found_by_their_identifiers(
    org, officers, django_capture_on_commit_callbacks
):
    """Someone outside the company has no account to find their archive by: an access
    request that named the same address (or phone) is theirs."""
    make_conversation(org.carol, org.internal, texts=(f"Refund for {EMAIL}", "Sure"))
    access = [
        run(
            receive(officers, kind=SubjectRequest.Kind.ACCESS, identifiers=identifiers),
            officers,
            django_capture_on_commit_callbacks,
        )
        for identifiers in ([("email", EMAIL)], [("email", "someone.else@example.org")])
    ]
    assert all(request.archive_sealed for request in access)
    erasure_request = receive(officers, identifiers=[("email", EMAIL), ("phone", PHONE)])
    erasure_request = run(erasure_request, officers, django_capture_on_commit_callbacks)
    assert erasure_request.receipt["counts"]["archives"] == 1
    for request in access:
        request.refresh_from_db()
    assert [bytes(request.archive_sealed) == b"" for request in access] == [True, False]
