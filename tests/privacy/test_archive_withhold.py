"""Withholding before release what the detector missed in an access copy's mentions: other
people's names an officer gives, one per line, each replaced as a whole word (GDPR Art. 15(4))
in data.json and summary.html; the terms themselves kept nowhere, the trail holding counts."""

import io
import json
import logging
import re
import zipfile

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from chat.models import SubjectMention
from privacy import archive
from privacy.forms import WithholdForm
from privacy.models import SubjectRequest
from privacy.scope import digest_of
from privacy.services import FieldRefused, PrivacyError
from tests.asked_here import asked
from tests.privacy.conftest import make_conversation, mention
from tests.privacy.test_access_copy_contents import _pseudonymised

NAME = "[another person's name]"
PHONE = "+44 20 7946 0111"  # someone else's, which the detector finds


@pytest.fixture
def copy(org) -> SubjectRequest:
    """Alice's completed access request: Carol's conversation names her, and Tom Baker (whom
    the detector does not find) in her message, its title and the model's answer; Alice's own
    conversation names him too."""
    carol = make_conversation(
        org.carol,
        org.confidential,
        texts=(
            f"Ask Tom Baker about {org.alice.email}'s invoice; TOM BAKER knows, on {PHONE}.",
            "Tom Baker can answer [EMAIL_1]. The Tombaker account and Tom Bakerson stay.",
        ),
    )
    _pseudonymised(carol, EMAIL_1=org.alice.email)
    mention(carol, "EMAIL_ADDRESS", org.alice.email)
    SubjectMention.objects.create(  # the title names her too
        digest=digest_of("email", org.alice.email),
        kind="EMAIL_ADDRESS",
        conversation=carol,
        message=None,
    )
    make_conversation(org.alice, org.internal, texts=("Tom Baker is my manager", "Noted."))
    return _completed_copy(org.alice, "Alice Example")


def _completed_copy(user, name: str, *, staff: bool = True) -> SubjectRequest:
    """A completed access request about ``user``'s email and ``name`` (their account's
    request when ``staff``, else an outside person's), its copy built."""
    request = SubjectRequest.objects.create(
        reference="DSR-2026-0042",
        kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.GDPR,
        status=SubjectRequest.Status.COMPLETED,
        subject_user=user if staff else None,
        digests=[digest_of("email", user.email), digest_of("name", name)],
        received_on=timezone.localdate(),
        due_on=timezone.localdate(),
        completed_at=timezone.now(),
    )
    sealed, counts = archive.build(request, recipients=[], progress=lambda done: None)
    request.archive_sealed = sealed
    request.receipt = {"counts": counts}
    request.save()
    return request


def _opened(request: SubjectRequest) -> tuple[dict, str]:
    request.refresh_from_db()
    with zipfile.ZipFile(io.BytesIO(archive.open_archive(request))) as bundle:
        return json.loads(bundle.read("data.json")), bundle.read("summary.html").decode()


def _mention_texts(data: dict) -> str:
    return json.dumps(data["mentions"], ensure_ascii=False)


# --- the service ----------------------------------------------------------------------------


def test_it_withholds_a_name_in_other_peoples_messages_titles_and_answers(copy, officers):
    before, _ = _opened(copy)
    assert "Tom Baker" in _mention_texts(before)  # what the detector missed

    replaced = archive.withhold(request=copy, actor=officers[0], terms=["tom baker"])

    data, summary = _opened(copy)
    # The message (twice, whatever its case), its title, and the model's answer.
    assert replaced == [("tom baker", 4, 0)]
    texts = _mention_texts(data)
    assert not re.search(r"\btom baker\b", texts, re.IGNORECASE) and texts.count(NAME) == 4
    # A whole word only: longer words and addresses that contain it stay.
    assert "Tombaker" in texts and "Tom Bakerson" in texts
    mentions = summary.partition("Messages by others that mention you")[2]
    assert mentions.count("Tom Baker") == mentions.count("Tom Bakerson") == 1
    assert mentions.count("another person&#x27;s name") == 4
    assert "also withheld other people" in mentions
    # The person's own conversation is theirs: their words stay.
    assert data["conversations"][0]["messages"][0]["text"] == "Tom Baker is my manager"
    assert data["names_withheld"] == 4


def test_it_records_only_how_many_terms_and_replacements(copy, officers, caplog):
    caplog.set_level(logging.DEBUG)
    archive.withhold(request=copy, actor=officers[0], terms=["Tom Baker", "Ursula Vance"])

    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_ARCHIVE_WITHHELD)
    assert event.actor == officers[0]
    assert event.details == {"kind": "access", "regime": "gdpr", "terms": 2, "replaced": 4}
    stored = json.dumps([event.details, event.message, event.before, event.after])
    assert "Tom" not in stored and "Nobody" not in stored
    assert "Tom Baker" not in caplog.text and "Ursula Vance" not in caplog.text
    assert archive.withholdings(copy) == [
        {"terms": 2, "replaced": 4, "by": "Priya", "at": event.occurred_at}
    ]


def test_a_longer_term_goes_first_and_what_is_withheld_stays_whole(copy, officers):
    """Longest first: "Baker" finds no half of "Tom Baker". What is withheld stays whole:
    "person" leaves "[another person's phone number]" alone."""
    replaced = archive.withhold(
        request=copy, actor=officers[0], terms=["Baker", "person", "Tom Baker"]
    )

    assert replaced == [("Baker", 0, 0), ("person", 0, 0), ("Tom Baker", 4, 0)]
    texts = _mention_texts(_opened(copy)[0])
    assert texts.count(NAME) == 4 and "[another person's phone number]" in texts


def test_more_terms_are_applied_again_before_release_but_not_after(copy, officers):
    archive.withhold(request=copy, actor=officers[0], terms=["Tom Baker"])
    again = archive.withhold(request=copy, actor=officers[1], terms=["invoice"])
    assert again == [("invoice", 1, 0)]
    assert "invoice" not in _mention_texts(_opened(copy)[0])
    assert _opened(copy)[0]["names_withheld"] == 5

    archive.release(request=copy, actor=officers[0])
    with pytest.raises(PrivacyError, match="already released"):
        archive.withhold(request=copy, actor=officers[0], terms=["account"])
    assert "account" in _mention_texts(_opened(copy)[0])


def test_the_person_the_copy_is_for_does_not_withhold_from_it(copy, org):
    from django.contrib.auth.models import Group

    from governance.roles import Role

    org.alice.groups.add(Group.objects.get(name=Role.PRIVACY_OFFICER.group_name))
    with pytest.raises(PrivacyError, match="Someone other than the person"):
        archive.withhold(request=copy, actor=org.alice, terms=["Tom Baker"])
    assert "Tom Baker" in _mention_texts(_opened(copy)[0])


def test_the_persons_own_name_is_not_withheld_from_them(copy, officers, org):
    for own in ("alice example", "ALICE  MARTIN"):
        with pytest.raises(FieldRefused, match="the name of the person the copy is for") as refused:
            archive.withhold(request=copy, actor=officers[0], terms=["Tom Baker", own])
        assert refused.value.field == "terms"
    assert "Tom Baker" in _mention_texts(_opened(copy)[0])
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_ARCHIVE_WITHHELD).exists()


def test_a_copy_no_longer_kept_is_not_withheld_from(copy, officers):
    SubjectRequest.objects.filter(pk=copy.pk).update(archive_sealed=b"")
    with pytest.raises(PrivacyError, match="no archive"):
        archive.withhold(request=copy, actor=officers[0], terms=["Tom Baker"])


# --- the form -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "refusal"),
    [
        ("", "Give at least one name"),
        ("   \n  ", "Give at least one name"),
        ("Tom Baker\nAl", "“Al” has fewer than 3 letters"),
        ("the", "“the” is a common word"),
        ("Tom Baker\nof the", "“of the” is made of common words"),
        ("x" * 151, "one name per line"),
    ],
)
def test_the_form_refuses_what_would_change_every_message(typed, refusal):
    form = WithholdForm({"terms": typed})
    assert not form.is_valid()
    assert refusal in " ".join(form.errors["terms"])


def test_the_form_gives_each_term_once_as_typed():
    form = WithholdForm({"terms": " Tom Baker \r\n\r\ntom baker\nJane Doe-Smith\n"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["terms"] == ["Tom Baker", "Jane Doe-Smith"]


# --- the page -------------------------------------------------------------------------------


def _check_url(request: SubjectRequest) -> str:
    return f"/privacy/requests/{request.public_id}/check-copy/"


def test_the_officer_sees_how_many_each_term_replaced(client, copy, officers):
    client.force_login(officers[0])
    page = client.get(f"/privacy/requests/{copy.public_id}/").content.decode()
    assert "Withhold before release" in page and "Release to the person" in page

    done = client.post(_check_url(copy), {"terms": "Tom Baker\nUrsula Vance"})

    assert done.status_code == 200
    shown = done.content.decode()
    assert "Tom Baker: 4 replaced" in shown and "Ursula Vance: 0 replaced" in shown
    # The mentions as they now read, below: the page's link to them stays on this page.
    assert shown.count("<mark>[another person&#x27;s name]</mark>") == 4
    assert NAME not in _mention_texts(_opened(copy)[0]).replace(NAME, "", 4)
    # Later, the page says what was done, by whom, without the terms.
    later = client.get(f"/privacy/requests/{copy.public_id}/").content.decode()
    assert "Tom Baker" not in later and "Ursula Vance" not in later
    assert "2 names, 4 replacements" in later


def test_bad_terms_come_back_beside_the_field_as_typed(client, copy, officers):
    client.force_login(officers[0])
    refused = client.post(_check_url(copy), {"terms": "Tom Baker\nAl"})

    assert refused.status_code == 422
    shown = refused.content.decode()
    assert "“Al” has fewer than 3 letters" in shown and "field-error" in shown
    assert "Tom Baker\nAl</textarea>" in shown
    assert "Tom Baker" in _mention_texts(_opened(copy)[0])


def test_the_persons_own_name_comes_back_beside_the_field(client, copy, officers, org):
    client.force_login(officers[0])
    refused = client.post(_check_url(copy), {"terms": f"Tom Baker\n{org.alice.full_name}"})

    assert refused.status_code == 422
    assert "the name of the person the copy is for" in refused.content.decode()
    assert "Tom Baker" in _mention_texts(_opened(copy)[0])


def test_the_officer_reads_the_mentions_with_what_is_withheld_marked(client, copy, officers):
    client.force_login(officers[0])
    archive.withhold(request=copy, actor=officers[0], terms=["Tom Baker"])

    shown = client.get(asked(client, _check_url(copy))).content.decode()

    assert shown.count("<mark>[another person&#x27;s name]</mark>") == 4
    assert "<mark>[another person&#x27;s phone number]</mark>" in shown and PHONE not in shown
    assert "Tombaker account" in shown
    read = AuditEvent.objects.get(action=AuditEvent.Action.DSR_DOWNLOADED)
    assert read.actor == officers[0] and read.details["what"] == "mentions"


def test_nobody_checks_a_released_copy_nor_the_person_their_own(client, copy, officers, org):
    client.force_login(org.alice)
    assert client.post(_check_url(copy), {"terms": "Tom Baker"}).status_code == 403
    assert client.get(asked(client, _check_url(copy))).status_code == 403

    archive.release(request=copy, actor=officers[0])
    client.force_login(officers[1])
    page = client.get(f"/privacy/requests/{copy.public_id}/").content.decode()
    assert "Withhold before release" not in page
    refused = client.post(_check_url(copy), {"terms": "Tom Baker"}, follow=True)
    assert "already released" in refused.content.decode()
    assert "Tom Baker" in _mention_texts(_opened(copy)[0])
    assert client.get(asked(client, _check_url(copy)), follow=True).redirect_chain


# --- over REST ------------------------------------------------------------------------------


def test_rest_withholds_as_the_page_does_and_refuses_as_its_form(copy, officers, org):
    from tests.api.test_rest import _client_of

    url = f"/api/privacy/requests/{copy.public_id}/withhold/"
    client = _client_of(officers[0])
    done = client.post(url, {"terms": ["Tom Baker", "Ursula Vance"]}, format="json")
    assert done.status_code == 200, done.content
    assert done.json() == {
        "withheld": [
            {"name": "Tom Baker", "replaced": 4, "kept_as_theirs": 0},
            {"name": "Ursula Vance", "replaced": 0, "kept_as_theirs": 0},
        ]
    }
    assert NAME in _mention_texts(_opened(copy)[0])
    for terms in ("the", ["Jo"], 3, [], ""):
        refused = client.post(url, {"terms": terms}, format="json")
        assert refused.status_code == 400 and list(refused.json()) == ["terms"], terms
    own = client.post(url, {"terms": "Alice Example"}, format="json")  # the person's own name
    assert own.status_code == 400 and "the name of the person" in own.json()["terms"][0]
    assert _client_of(org.alice).post(url, {"terms": ["Tom"]}, format="json").status_code == 403


def test_the_persons_name_or_a_part_of_it_is_never_withheld(org, officers):
    """Withholding "Alice" replaced the requester's own first name in "Dr Alice Example", and
    the copy then told her it was another person's (a review found it)."""
    request = _copy_naming(org, "Dr Alice Example met Tom Example; Alice Example's and Tom's.")
    for term in ("Alice", "Example", "Dr Alice Example", "alice  EXAMPLE"):
        with pytest.raises(FieldRefused, match="part of, the name of the person"):
            archive.withhold(request=request, actor=officers[0], terms=[term])
    replaced = archive.withhold(request=request, actor=officers[0], terms=["Tom Example", "Tom"])
    texts = _mention_texts(_opened(request)[0])
    assert replaced == [("Tom Example", 1, 0), ("Tom", 1, 0)]
    assert "Dr Alice Example met [another person" in texts and "Alice Example's and" in texts


def test_an_outside_requesters_name_stays_theirs_where_the_text_writes_it_whole(org, officers):
    request = _copy_naming(org, "Ms Jane Roe wrote; Jane told Jane Doe.", name="Jane Roe")
    replaced = archive.withhold(request=request, actor=officers[0], terms=["Jane"])
    texts = _mention_texts(_opened(request)[0])
    assert replaced == [("Jane", 2, 1)]  # her own stays; the others are withheld as asked
    assert "Ms Jane Roe wrote" in texts


def _copy_naming(org, text: str, *, name: str = "") -> SubjectRequest:
    """A completed access request whose copy holds Carol's message ``text`` naming the person:
    Alice Example (her account, as "Your data" records her request), or an outside person
    named ``name``."""
    org.alice.full_name = "Alice Example"
    org.alice.save()
    carol = make_conversation(
        org.carol, org.confidential, texts=(f"{text} {org.alice.email}", "ok")
    )
    mention(carol, "EMAIL_ADDRESS", org.alice.email)
    return _completed_copy(org.alice, name or "Alice Example", staff=not name)
