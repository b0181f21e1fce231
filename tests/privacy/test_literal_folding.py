"""A value a request names is found however it is typed: full-width or mathematical letters,
digits of another script, a zero-width space, joiner, soft hyphen or bidi control inside it.

The detectors read text folded so (NFKC, invisible characters gone) and the subject index
records what they find, but the literal match read the text as stored: an erasure left
"Ｊａｎｅ Ｒｏｅ" in the text, the recipients list said "placeholders only" for a call that
carried it, and withholding "Tom Baker" left "Tom Ba\u200bker" in an access copy. Accents are
not folded: the index's keyed hash tells "José" from "Jose".
"""

import json

import pytest

from chat import services as chat
from chat.models import Conversation
from privacy import archive, erasure
from privacy.forms import name_refusal
from privacy.literals import holds_literal, literal_patterns, literal_spans, replace_spans
from privacy.scope import digest_of
from privacy.services import FieldRefused
from tests.privacy.conftest import make_conversation, mention, receive, run
from tests.privacy.test_archive_withhold import _copy_naming, _opened
from tests.privacy.test_recipients_in_clear import _chat, _entry, _erase

EMAIL = "jane.roe@example.org"
PHONE = "+44 20 7946 0958"
NAME = "Jane Roe"
WITHHELD = "[another person's name]"


def _erased(literal: str, text: str) -> str:
    return replace_spans(text, literal_spans(literal_patterns([literal]), text), "[erased]")


# --- Unit: the match, and where it lies in the text as typed -----------------------------


@pytest.mark.parametrize(
    ("literal", "text", "expected"),
    [
        # Full-width and mathematical letters, circled letters: NFKC reads them as Jane Roe.
        (NAME, "Ｊａｎｅ Ｒｏｅ wrote.", "[erased] wrote."),
        (NAME, "𝐉𝐚𝐧𝐞 𝐑𝐨𝐞, Ⓙⓐⓝⓔ Ⓡⓞⓔ.", "[erased], [erased]."),
        (NAME, "ﬁ Jane Roe ﬁ", "ﬁ [erased] ﬁ"),
        # Invisible characters inside the value go with it.
        (NAME, "Ja\u200bne Roe; Jane\u200d Roe; Jane\u00a0Roe.", "[erased]; [erased]; [erased]."),
        (NAME, "Jan\u00ade R\u2060oe and Ja\u202ene Roe\u202c.", "[erased] and [erased]\u202c."),
        (EMAIL, "Mail jane.roe@exam\u00adple.org now.", "Mail [erased] now."),
        (EMAIL, "Mail ｊａｎｅ．ｒｏｅ＠ｅｘａｍｐｌｅ．ｏｒｇ now.", "Mail [erased] now."),
        # Digits full-width, or of another script.
        (PHONE, "Call ＋４４ ２０ ７９４６ ０９５８.", "Call [erased]."),
        (PHONE, "Call +٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨.", "Call [erased]."),
        # Typed so by the officer, found as the text has it.
        ("Ｊａｎｅ\u200b Ｒｏｅ", "Jane Roe wrote.", "[erased] wrote."),
        # With the look-alike apostrophes and hyphens and the spacing of a name.
        ("Sean O'Brien", "Ｓｅａｎ  Ｏ’Ｂｒｉｅｎ, Sean O´Brien.", "[erased], [erased]."),
        ("Sean O´Brien", "Sean O'Brien, Sean O＇Brien.", "[erased], [erased]."),
        ("Mary-Ann Lee", "Mary\u2011Ann Lee, Ｍａｒｙ－Ａｎｎ Ｌｅｅ.", "[erased], [erased]."),
        # Whole tokens still: a folded longer word, name or address keeps the value.
        (
            "Ann",
            "Ａｎｎ, ａｎｎｕａｌ, Ann\u200bual, Jo－Ａｎｎ, ＡＮＮ’s.",
            "[erased], ａｎｎｕａｌ, Ann\u200bual, Jo－Ａｎｎ, [erased]’s.",
        ),
        (EMAIL, "ｍａｒｙ．jane.roe@example.org", "ｍａｒｙ．jane.roe@example.org"),
        (PHONE, "+44 20 7946 0958１", "+44 20 7946 0958１"),
        # Accents are not folded (the index tells them apart); their spellings are one.
        ("Jose Lopez", "José López, Jose Lopez.", "José López, [erased]."),
        ("José", "Jose\u0301, José, Jose.", "[erased], [erased], Jose."),
    ],
)
def test_a_literal_is_found_however_it_is_typed(literal, text, expected):
    assert _erased(literal, text) == expected


def test_the_whole_typed_span_goes_and_the_text_around_it_stays():
    text = "Dear Ｊａ\u200bｎｅ Ｒｏｅ, ﬁle ＋４４ ２０ ７９４６ ０９５８ — ‼ ok"
    patterns = literal_patterns([NAME, PHONE])
    where = sorted(literal_spans(patterns, text))
    assert [text[start:end] for start, end in where] == [
        "Ｊａ\u200bｎｅ Ｒｏｅ",
        "＋４４ ２０ ７９４６ ０９５８",
    ]
    assert replace_spans(text, where, "[erased]") == "Dear [erased], ﬁle [erased] — ‼ ok"


def test_a_value_is_held_however_it_is_typed():
    patterns = literal_patterns([NAME])
    assert holds_literal(patterns, "Draft a reply to Ｊａ\u200bｎｅ Ｒｏｅ.")
    assert not holds_literal(patterns, "Draft a reply to Ｊａｎｅｔ Ｒｏｅ.")
    assert not holds_literal([], "Jane Roe")


def test_spans_that_overlap_are_replaced_as_one():
    assert replace_spans("abcdefgh", [(5, 7), (1, 3), (2, 4)], "_") == "a_e_h"


def test_a_finding_with_an_invisible_character_inside_is_still_the_subjects(db):
    """The detector reads "jane.roe@exam\u00adple.org" as her address; its keyed hash as typed
    is another's, but as read it is hers."""
    text = "Write to jane.roe@exam\u00adple.org or ｊａｎｅ．ｒｏｅ＠ｅｘａｍｐｌｅ．ｏｒｇ."
    assert erasure.redact(text, {digest_of("email", EMAIL)}, []) == "Write to [erased] or [erased]."


def test_a_name_that_reads_as_a_common_word_is_refused():
    """Matched as read, "Ｔｈｅ" would erase every "the"."""
    assert "a common word" in name_refusal("Ｔｈｅ", "erasing")
    assert "fewer than 3 letters" in name_refusal("Ａ\u200b", "erasing")


# --- End to end: the erasure, the recipients, the withholding -----------------------------


def test_an_erasure_leaves_no_spelling_of_the_value_in_the_text(
    org, officers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    text = (
        f"Write to {EMAIL}. Ｊａｎｅ Ｒｏｅ (Ja\u200bne Roe) also uses jane.roe@exam\u00adple.org;"
        " the annual report of Ｊｏ－Ａｎｎ stays."
    )
    conversation = _chat(capture, org.carol, org.internal, text)
    org.external.reply = ["Noted, Ｊａｎｅ\u00a0Ｒｏｅ."]
    with capture(execute=True):
        chat.send_message(conversation=conversation, author=org.carol, text="Thank her.")

    run(receive(officers, identifiers=[("email", EMAIL), ("name", NAME)]), officers, capture)

    conversation = Conversation.objects.get(pk=conversation.pk)
    messages = list(conversation.messages.order_by("pk"))
    question, answer = messages[0], messages[-1]
    assert question.content == (
        "Write to [erased]. [erased] ([erased]) also uses [erased];"
        " the annual report of Ｊｏ－Ａｎｎ stays."
    )
    for stored in (question.sent_text, answer.content, conversation.title):
        assert not holds_literal(literal_patterns([EMAIL, NAME]), stored), stored
        assert "\u200b" not in stored and "\u00ad" not in stored, stored


def test_a_pseudonym_for_the_value_typed_otherwise_restores_to_erased(org):
    conversation = make_conversation(
        org.carol, org.confidential, texts=(f"Ask [PERSON_1], {EMAIL}",)
    )
    mention(conversation, "EMAIL_ADDRESS", EMAIL)
    conversation.set_pseudonyms(
        {
            "values": {"[PERSON_1]": "Ｊａｎｅ Ｒｏｅ"},
            "keys": {"PERSON:ｊａｎｅ ｒｏｅ": "[PERSON_1]"},
            "counters": {"PERSON": 1},
        }
    )
    conversation.save(update_fields=["pseudonyms_sealed"])
    erasure.erase(digests=[digest_of("email", EMAIL)], literals=[EMAIL, NAME])
    mapping = Conversation.objects.get(pk=conversation.pk).pseudonyms()["values"]
    assert mapping == {"[PERSON_1]": "[erased]"}


def test_a_name_typed_full_width_went_in_clear(org, officers, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    name = "Ｊａｎｅ Ｒｏ\u200bｅ"
    _chat(capture, org.carol, org.internal, f"Draft a reply to {name} ({EMAIL}) about the refund.")
    sent = str(org.external.last.body["messages"])
    assert "Ｊａｎｅ" in sent and EMAIL not in sent  # the premise: the name left as written

    erased = _erase(officers, capture, ("email", EMAIL), ("name", NAME))

    assert (_entry(erased)["calls"], _entry(erased)["in_clear"]) == (1, 1)


def test_a_name_typed_otherwise_is_withheld_from_an_access_copy(org, officers):
    request = _copy_naming(
        org,
        "Ｔｏｍ Ｂａ\u200bｋｅｒ met Tom Bakerson; Tom\u00a0Baker’s dog; Ｊａｎｅ Ｒｏｅ wrote.",
        name=NAME,
    )
    replaced = archive.withhold(request=request, actor=officers[0], terms=["Tom Baker", "Jane"])
    texts = json.dumps(_opened(request)[0]["mentions"], ensure_ascii=False)
    assert replaced == [("Tom Baker", 2, 0), ("Jane", 0, 1)]  # her own name stays hers
    assert f"{WITHHELD} met Tom Bakerson; {WITHHELD}’s dog; Ｊａｎｅ Ｒｏｅ wrote." in texts


def test_the_persons_own_name_typed_otherwise_is_refused_as_a_term(org, officers):
    """Matched as read, "Ａｌｉｃｅ" would withhold Alice's own first name from her copy."""
    request = _copy_naming(org, "Alice's invoice, says Dr Alice Example.")
    for term in ("Ａｌｉｃｅ", "Alice\u200b Example", "Ｅｘａｍｐｌｅ"):
        with pytest.raises(FieldRefused, match="part of, the name of the person"):
            archive.withhold(request=request, actor=officers[0], terms=[term])
