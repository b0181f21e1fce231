"""Placeholders: stable within a conversation, restored only where the mapping is."""

from chat.pseudonyms import Pseudonymiser, canonical
from governance.policy import Span


def test_it_replaces_spans_with_numbered_placeholders():
    text = "Mail ann@example.com or call +44 20 7946 0958."
    spans = [Span(5, 20, "EMAIL_ADDRESS"), Span(29, 45, "PHONE_NUMBER")]
    sent, replaced = Pseudonymiser().apply(text, spans)
    assert sent == "Mail [EMAIL_1] or call [PHONE_1]."
    assert replaced == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}


def test_the_same_value_in_another_spelling_keeps_its_placeholder():
    pseudonymiser = Pseudonymiser()
    assert pseudonymiser.placeholder("EMAIL_ADDRESS", "Ann@Example.com") == "[EMAIL_1]"
    assert pseudonymiser.placeholder("EMAIL_ADDRESS", "ann@example.com") == "[EMAIL_1]"
    assert pseudonymiser.placeholder("EMAIL_ADDRESS", "bob@example.com") == "[EMAIL_2]"
    assert pseudonymiser.placeholder("PHONE_NUMBER", "+44 20 7946 0958") == "[PHONE_1]"
    assert pseudonymiser.placeholder("PHONE_NUMBER", "+442079460958") == "[PHONE_1]"


def test_a_mapping_carries_over_between_messages():
    first = Pseudonymiser()
    first.placeholder("PERSON", "Dr Jane Roe")
    second = Pseudonymiser(first.mapping)
    assert second.placeholder("PERSON", "dr  jane roe") == "[PERSON_1]"
    assert not second.changed
    assert second.placeholder("PERSON", "Mr John Doe") == "[PERSON_2]" and second.changed


def test_restore_puts_back_known_placeholders_only():
    pseudonymiser = Pseudonymiser()
    pseudonymiser.placeholder("EMAIL_ADDRESS", "ann@example.com")
    restored = pseudonymiser.restore("Write to [EMAIL_1], not [EMAIL_9] or [EMAIL_1")
    assert restored == "Write to ann@example.com, not [EMAIL_9] or [EMAIL_1"


def test_secrets_and_national_ids_get_their_own_labels():
    pseudonymiser = Pseudonymiser()
    assert pseudonymiser.placeholder("SECRET", "sk-live-abc") == "[SECRET_1]"
    assert pseudonymiser.placeholder("US_SSN", "123-45-6789") == "[ID_1]"
    assert pseudonymiser.placeholder("RULE", "Project Falcon") == "[REDACTED_1]"


def test_canonical_forms_ignore_separators_and_case():
    assert canonical("IBAN_CODE", "de89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert canonical("CREDIT_CARD", "4111-1111-1111-1111") == "4111111111111111"
    assert canonical("EMAIL_ADDRESS", " Ann@Example.COM ") == "ann@example.com"
    assert canonical("PHONE_NUMBER", "020 7946 0958") == "+442079460958"
