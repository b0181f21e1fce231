"""The scanner's promises, one entity type at a time: found, at the right offsets,
and near-misses rejected by their validators."""

import time

import pytest

from governance.scanning import Entity, scan


def found(text: str, **options) -> list[tuple[str, str]]:
    """``(type, original substring)`` for every finding, in order."""
    return [(str(f.type), text[f.start : f.end]) for f in scan(text, **options).findings]


def types(text: str, **options) -> set[str]:
    return {t for t, _ in found(text, **options)}


# --- e-mail ------------------------------------------------------------------------------


def test_it_finds_an_email_at_its_offsets():
    text = "Write to jane.doe+news@mail.example.co.uk, please."
    [finding] = scan(text).findings
    assert finding.type == Entity.EMAIL_ADDRESS
    assert (finding.start, finding.end) == (9, 41)
    assert text[finding.start : finding.end] == "jane.doe+news@mail.example.co.uk"


@pytest.mark.parametrize(
    "text", ["user@localhost", "an @ sign", "foo@bar", "a..b@example.com", "@example.com"]
)
def test_it_ignores_things_that_are_not_email_addresses(text):
    assert Entity.EMAIL_ADDRESS not in types(text)


# --- phone numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["+1 (415) 555-2671", "+44 20 7946 0958", "+49 30 901820", "(415) 555-2671", "020 7946 0958"],
)
def test_it_finds_phone_numbers(number):
    assert found(f"Call me on {number} tomorrow.") == [("PHONE_NUMBER", number)]


@pytest.mark.parametrize(
    "number",
    [
        "+44 7700 900123",  # UK mobile, in the range kept for examples and drama
        "+44 7700-900-123",
        "+44 (0) 7700 900123",
        "+447700900123",
        "+44 7911 123456",
        "+44 20 7946 0958",
        "+44.20.7946.0958",
        "+44 (0)20 7946 0958",
        "+49 30 1234567",
        "+49 (30) 1234567",
        "+49-30-1234567",
        "+33 6 12 34 56 78",
        "+33 6.12.34.56.78",
        "+33-6-12-34-56-78",
        "+1 415 555 0100",
        "+1 (415) 555-0100",
        "+1.415.555.0100",
        "+1-415-555-0100",
    ],
)
def test_it_finds_international_phone_numbers_however_they_are_grouped(number):
    assert found(f"Call me on {number} tomorrow.") == [("PHONE_NUMBER", number)]
    assert found(f"{number}") == [("PHONE_NUMBER", number)]


@pytest.mark.parametrize("number", ["+44 20 7946 0958", "+44 7700 900123"])
def test_a_number_written_with_its_country_is_found_before_a_colon_and_digit(number):
    """Dates with the hour of a time ("2024-03-15 10:30") are no phones; a number with its
    country's "+" is, whatever follows it: ":1" after it must not hide it."""
    assert found(f"Call {number}:1 after lunch.") == [("PHONE_NUMBER", number)]


def test_it_finds_a_bare_digit_phone_number_only_beside_a_phone_word():
    assert found("My mobile is 4155552671.") == [("PHONE_NUMBER", "4155552671")]
    assert found("Order 4155552671 shipped.") == []


@pytest.mark.parametrize(
    "text",
    [
        "Invoice 2024-03-15 is due.",
        "The meeting is on 15.03.2024 at 10:30.",
        "Revenue grew 12.5% to 1,234,567 in 2023.",
        "Ticket 12345678 was closed.",
        "Version 3.11.7 fixes it.",
        "Released as v2.14.1023 and 10.0.19045.3803 last week.",
        "Invoice INV-2024-000123 and order #10023456 are paid.",
        "Order number 20240315-0042 ships today.",
        "The call is at 10:30:00 on 2024-03-15, or 03/15/2024 at 14:45.",
        "Logged at 2024-03-15T10:30:00+01:00 and 2024-03-15T10:30:00.123456Z.",
        "Timestamp 2024-03-15 10:30:00 +0000 in the log.",
        "We shipped 1234567 units and 98765432 spare parts in 2023.",
        "The population grew from 8 336 817 to 8 804 190.",
        "Score moved +12 345 678 points; delta +1 234 5678.",
        "Reference 12 34 56 78 90 12 34 on the form.",
    ],
)
def test_it_does_not_take_plain_numbers_for_phone_numbers(text):
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Pay to DE89 3704 0044 0532 0130 00 by Friday", "IBAN_CODE"),
        ("Pay to GB82 WEST 1234 5698 7654 32 by Friday", "IBAN_CODE"),
        ("card: 4111 1111 1111 1111, thanks", "CREDIT_CARD"),
        ("card: +4111 1111 1111 1111, thanks", "CREDIT_CARD"),
    ],
)
def test_it_does_not_read_ibans_or_cards_as_phone_numbers(text, kind):
    assert types(text) == {kind}


def test_it_reads_national_phone_formats_of_the_regions_it_is_given():
    text = "Ruf an: 030 901820"
    assert found(text, phone_regions=("DE",)) == [("PHONE_NUMBER", "030 901820")]
    assert found(text, phone_regions=("US",)) == []
    assert found(text, phone_regions=["de"]) == [("PHONE_NUMBER", "030 901820")]


@pytest.mark.parametrize(
    ("region", "number"),
    [("IT", "02 1234 5678"), ("ES", "810 12 34 56"), ("NL", "010 123 4567")],
)
def test_it_reads_regions_with_and_without_a_trunk_prefix(region, number):
    # Italian numbers keep their leading 0; Spanish ones have no trunk prefix at all.
    assert found(f"tel {number} ok", phone_regions=("US", region)) == [("PHONE_NUMBER", number)]


# --- payment cards -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "card",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555 5555 5555 4444",
        "3782 822463 10005",
        "6011 1111 1111 1117",
        "3530111333300000",
        "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    ],
)
def test_it_finds_card_numbers_however_they_are_grouped(card):
    assert found(f"card: {card}, thanks") == [("CREDIT_CARD", card)]


def test_it_does_not_take_a_luhn_failure_for_a_card():
    # A 16-digit order number that fails Luhn is not a card.
    assert Entity.CREDIT_CARD not in types("Order 4111 1111 1111 1112 shipped")
    assert Entity.CREDIT_CARD not in types(
        "Order 1234567812345670 shipped"
    )  # Luhn-valid, no network


def test_it_finds_a_card_inside_a_longer_run_of_digits():
    assert found("Card 4111 1111 1111 1111 2027 expiry") == [("CREDIT_CARD", "4111 1111 1111 1111")]


def test_it_prefers_the_card_to_a_phone_reading_of_the_same_digits():
    text = "Please call 5555 5555 5555 4444"
    assert found(text) == [("CREDIT_CARD", "5555 5555 5555 4444")]


# --- IBAN --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iban",
    ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR14 2004 1010 0505 0001 3M02 606"],
)
def test_it_finds_ibans(iban):
    assert found(f"Pay to {iban} by Friday") == [("IBAN_CODE", iban)]


def test_it_rejects_an_iban_with_a_bad_checksum():
    assert found("Pay to DE89 3704 0044 0532 0130 01 by Friday") == []
    assert found("Pay to GB82WEST12345698765433 by Friday") == []


def test_it_finds_an_iban_written_in_lower_case():
    assert found("pay de89 3704 0044 0532 0130 00 now") == [
        ("IBAN_CODE", "de89 3704 0044 0532 0130 00")
    ]


def test_it_cuts_an_iban_back_from_following_capitals():
    assert found("DE89 3704 0044 0532 0130 00 IS MY ACCOUNT") == [
        ("IBAN_CODE", "DE89 3704 0044 0532 0130 00")
    ]


# --- national identifiers ----------------------------------------------------------------


def test_it_finds_a_formatted_ssn_without_context():
    assert found("Applicant: 536-22-1234.") == [("US_SSN", "536-22-1234")]


@pytest.mark.parametrize(
    "ssn", ["000-12-3456", "666-12-3456", "900-12-3456", "536-00-1234", "536-22-0000"]
)
def test_it_rejects_ssns_in_invalid_ranges(ssn):
    assert found(f"SSN {ssn}") == []


def test_it_finds_a_bare_ssn_only_beside_a_context_word():
    assert found("SSN: 536221234") == [("US_SSN", "536221234")]
    assert found("Ref 536221234") == []


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("ITIN 912-70-1234", "US_ITIN", "912-70-1234"),
        ("NHS number 943 476 5919", "UK_NHS", "943 476 5919"),
        ("NINO AB 12 34 56 C", "UK_NINO", "AB 12 34 56 C"),
        ("Steuer-ID 65929970489", "DE_TAX_ID", "65929970489"),
        ("NIR 2 55 08 14 168 025 38", "FR_NIR", "2 55 08 14 168 025 38"),
        ("BSN 111222333", "NL_BSN", "111222333"),
        ("DNI 12345678Z", "ES_NIF", "12345678Z"),
        ("NIE X1234567L", "ES_NIE", "X1234567L"),
        ("CF RSSMRA85T10A562S", "IT_FISCAL_CODE", "RSSMRA85T10A562S"),
        ("PESEL 44051401359", "PL_PESEL", "44051401359"),
        ("Aadhaar 2345 6789 0124", "IN_AADHAAR", "2345 6789 0124"),
        ("SIN 130 692 544", "CA_SIN", "130 692 544"),
        ("HETU 131052-308T", "FI_PERSONAL_IDENTITY_CODE", "131052-308T"),
    ],
)
def test_it_finds_national_identifiers(text, entity, value):
    assert found(text) == [(entity, value)]


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("BSN 111222334", "NL_BSN"),  # fails the eleven-test
        ("Steuer-ID 65929970488", "DE_TAX_ID"),
        ("NHS number 943 476 5918", "UK_NHS"),
        ("DNI 12345678A", "ES_NIF"),
        ("CF RSSMRA85T10A562T", "IT_FISCAL_CODE"),
        ("NINO GB 12 34 56 C", "UK_NINO"),  # GB is never issued as a prefix
        ("Ref 111222333", "NL_BSN"),  # a valid checksum, but no context word
        ("Ref 65929970489", "DE_TAX_ID"),
    ],
)
def test_it_rejects_national_identifier_near_misses(text, entity):
    assert entity not in types(text)


# --- IP addresses and URLs ---------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "192.168.1.20",
        "8.8.8.8",
        "2001:db8::8a2e:370:7334",
        "fe80::1ff:fe23:4567:890a",
        "::ffff:192.0.2.128",
    ],
)
def test_it_finds_ip_addresses(address):
    assert found(f"host {address} is down") == [("IP_ADDRESS", address)]


@pytest.mark.parametrize(
    "text", ["version 1.2.3.4.5", "999.1.1.1", "std::vector<int>", "at 12:30:45 sharp", "a::b"]
)
def test_it_ignores_things_that_look_like_ip_addresses(text):
    assert Entity.IP_ADDRESS not in types(text)


def test_it_finds_urls_without_trailing_punctuation():
    text = "See https://example.com/a_(b)?q=1, or (www.example.org/x)."
    assert found(text) == [
        ("URL", "https://example.com/a_(b)?q=1"),
        ("URL", "www.example.org/x"),
    ]


# --- crypto addresses --------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
        "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xde709f2102306220921060314715629080e2fb77",
    ],
)
def test_it_finds_crypto_addresses(address):
    assert found(f"send to {address} now") == [("CRYPTO", address)]


@pytest.mark.parametrize(
    "address",
    [
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3",  # base58check fails
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdp",  # bech32 checksum fails
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",  # EIP-55 case wrong
    ],
)
def test_it_rejects_crypto_addresses_with_bad_checksums(address):
    assert found(f"send to {address} now") == []


# --- secrets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "glpat-xxxxxxxxxxxxxxxxxxxx",
        "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx",
        "sk_live_abcdefghijklmnop12345678",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_it_finds_provider_tokens(secret):
    assert found(f"use {secret} here") == [("SECRET", secret)]


def test_it_finds_a_private_key_block_whole():
    block = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    assert found(f"my key:\n{block}\nthanks") == [("SECRET", block)]


def test_it_finds_a_truncated_private_key_block():
    text = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7x\nabc"
    assert found(text) == [("SECRET", text)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("password: hunter22", "hunter22"),
        ('{"db_password": "S3cr3t!pass"}', "S3cr3t!pass"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None),
        (
            "Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        ),
        ("the api key is 9f8e7d6c5b4a39281706f5e4d3c2b1a0", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
        ("postgres://app:Tr0ub4dor@db.internal/app", "Tr0ub4dor"),
    ],
)
def test_it_finds_credentials_after_a_key_word(text, value):
    secrets = [v for t, v in found(text) if t == "SECRET"]
    assert secrets == [value or text.split("=", 1)[1]]


@pytest.mark.parametrize(
    "text",
    [
        "The key point is simple.",
        "password: ********",
        "token: null",
        "password=${DB_PASSWORD}",
        "My passport number expired.",
        "Press any key to continue",
        "The token was accepted yesterday.",
    ],
)
def test_it_does_not_take_ordinary_words_for_credentials(text):
    assert Entity.SECRET not in types(text)


# --- people ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Meet Mr. John Smith tomorrow.", "John Smith"),
        ("Ask Dr Jane Doe.", "Jane Doe"),
        ("Prof. J. R. Tolkien wrote it", "J. R. Tolkien"),
        ("Frau Müller-Lüdenscheidt ruft an", "Müller-Lüdenscheidt"),
        ("Mrs O'Neil's report", "O'Neil"),
    ],
)
def test_it_finds_names_after_honorifics(text, name):
    assert found(text) == [("PERSON", name)]


@pytest.mark.parametrize("text", ["Mr. and Mrs. came", "Dr. who knows", "DrJane Doe", "Mr J."])
def test_it_needs_a_capitalised_name_after_the_honorific(text):
    assert found(text) == []


# --- overlaps and edges ------------------------------------------------------------------


def test_it_keeps_the_email_inside_a_url_and_shadows_the_url():
    text = "https://example.com/?contact=jane@example.com"
    result = scan(text)
    assert [(f.type, text[f.start : f.end]) for f in result.findings] == [
        ("EMAIL_ADDRESS", "jane@example.com")
    ]
    assert [f.type for f in result.shadowed] == ["URL"]


def test_it_keeps_a_token_inside_a_url():
    text = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
    assert found(text) == [("SECRET", text)]


def test_it_resolves_overlaps_the_same_way_every_time():
    text = "Mail jane@acme.com, card 4111 1111 1111 1111, https://acme.com/x?card=4111111111111111"
    assert len({tuple(scan(text).findings) for _ in range(5)}) == 1
    spans = [(f.start, f.end) for f in scan(text).findings]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_it_returns_nothing_for_empty_or_blank_text():
    assert scan("").findings == ()
    assert scan("   \n\t").findings == ()
    assert scan("\u200b\u200b").findings == ()


def test_it_scans_a_huge_message_and_keeps_offsets_right():
    filler = "All quiet on the western front, nothing to report today. " * 20_000  # ~1.1 MB
    text = filler + "mail jane@example.com. " + filler + "card 4111 1111 1111 1111"
    result = scan(text)
    assert [(str(f.type), text[f.start : f.end]) for f in result.findings] == [
        ("EMAIL_ADDRESS", "jane@example.com"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
    ]


def test_it_reports_each_finding_as_the_public_json_shape():
    [finding] = scan("jane@example.com").findings
    assert finding.as_dict() == {"type": "EMAIL_ADDRESS", "start": 0, "end": 16, "score": 0.95}
    assert finding.note  # how it was validated, for people reading the simulator


# --- context words -----------------------------------------------------------------------


def test_it_does_not_take_a_bare_reference_number_for_a_card():
    assert found("Please pay invoice 4111111111111111 today") == []
    assert found("Charge card for order 4111111111111111") == [("CREDIT_CARD", "4111111111111111")]
    assert found("order 4111 1111 1111 1111") == [("CREDIT_CARD", "4111 1111 1111 1111")]


def test_it_takes_context_only_from_the_same_sentence():
    assert found("Filed under 536221234. SSN forms are due.") == []
    assert found("Filed under 536221234. ssn forms are due.") == [("US_SSN", "536221234")]


def test_it_takes_context_only_for_the_nearest_number():
    text = "SSN 536-22-1234, ref 536221234"
    assert found(text) == [("US_SSN", "536-22-1234")]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("password: LqMgaGcrWkhdY", "LqMgaGcrWkhdY"),
        ("password: %Arcs1kW3UsJ", "%Arcs1kW3UsJ"),
        ("pwd=Tr0ub4dor", "Tr0ub4dor"),
    ],
)
def test_it_finds_passwords_of_any_kind_after_an_explicit_assignment(text, value):
    assert found(text) == [("SECRET", value)]


@pytest.mark.parametrize(
    "text", ["password: Required", "password=$DB_PASSWORD", "password: %PASSWORD%", "pwd: xxxxxx"]
)
def test_it_does_not_take_words_or_references_for_passwords(text):
    assert found(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "request id 076c5bcd-0560-4789-ad28-d46c426614174000",
        "commit 3f9a2b1c4d5e6f708192a3b4c5d6e7f8091a2b3c",
        "ISO 27001:2022 section 4.2.1",
        "colour #ff00aa, ext. 4412",
        "total $1,234,567.89 for 2019-2024",
        "part SKU-4111111111111111",
    ],
)
def test_it_does_not_flag_codes_that_merely_contain_numbers(text):
    assert found(text) == []


@pytest.mark.parametrize(
    "unit",
    [
        "1 ",  # one endless spaced-out number
        "x://",  # schemes that are not
        "www.",
        "1:2:",  # IPv6-ish
        "-----BEGIN RSA PRIVATE KEY-----\n",  # blocks that never end
        "call 4155552671 ",  # many phone numbers beside many context words
        "key=abc123 ",
        "e\u0301",
    ],
)
def test_it_scans_pathological_input_in_linear_time(unit):
    text = unit * (100_000 // len(unit))
    started = time.perf_counter()
    scan(text)
    # Linear work takes well under a second here; anything quadratic takes far longer.
    assert time.perf_counter() - started < 4
