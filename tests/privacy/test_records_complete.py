"""The records of processing hold what GDPR Art. 30(1) asks for: the controller and its data
protection officer (or a gap saying they are not recorded), the categories of data subjects,
Steward's own processing beyond chat (the audit trail, the staff accounts), and a visible gap
where a model outside the EU/EEA has no processor or transfer safeguard recorded. They never
claim that every name is pseudonymised: the scanner only recognises some."""

import csv
import html
import io
import re

import pytest

from governance.models import Approval
from privacy import records
from tests.factories import make_backend, make_category

CONTACT = "Example Ltd, Data Protection Officer, dpo@example.com"
SAFEGUARD = "Standard contractual clauses (2021/914), module 2"


@pytest.fixture
def policy(db):
    """Public goes to the on-premise model and to an external one in the US that records
    neither who runs it nor a safeguard; Internal to the on-premise model only."""
    public = make_category()
    internal = make_category(number=2, slug="internal", name="Internal", retention_days=30)
    local = make_backend(name="Local Ollama")
    external = make_backend(
        name="OpenAI",
        kind="openai",
        base_url="https://api.openai.com/v1",
        hosting_class="external_api",
        region="us",
    )
    Approval.objects.create(category=public, backend=local, preference=10)
    Approval.objects.create(category=public, backend=external, preference=20)
    Approval.objects.create(category=internal, backend=local)
    return {"public": public, "internal": internal, "external": external}


def _page(client, user) -> str:
    client.force_login(user)
    response = client.get("/privacy/records/")
    assert response.status_code == 200
    return " ".join(re.sub(r"<[^>]+>", " ", html.unescape(response.text)).split())


def _rows(client, user) -> list[dict]:
    client.force_login(user)
    text = client.get("/privacy/records.csv").content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _row(rows, activity: str, category: str = "", recipient: str | None = None) -> dict:
    (row,) = [
        row
        for row in rows
        if row["Processing activity"] == activity
        and row["Category"] == category
        and (recipient is None or row["Recipient"] == recipient)
    ]
    return row


# --- names: pseudonymised only when recognised ------------------------------------------------


def test_the_records_say_names_are_pseudonymised_only_when_recognised(
    client, privacy_officer, policy
):
    page = _page(client, privacy_officer)
    assert records.NAMES_CAVEAT in page
    public = _row(_rows(client, privacy_officer), "Chat", "1 · Public", "Local Ollama")
    data = public["Data categories"]
    assert "people's names" in data.split("Pseudonymised when recognised: ")[1]
    assert records.NAMES_CAVEAT in data
    assert "Pseudonymised: " not in data  # only what Steward recognises is
    assert "Pseudonymised when recognised: " in data


def test_a_category_that_lets_names_through_makes_no_claim_about_them(
    client, privacy_officer, policy
):
    internal = policy["internal"]
    internal.finding_actions = {"PERSON": "allow"}
    internal.save()
    row = _row(_rows(client, privacy_officer), "Chat", "2 · Internal", "Local Ollama")
    assert records.NAMES_CAVEAT not in row["Data categories"]
    in_clear = next(p for p in row["Data categories"].split("; ") if p.startswith("In clear:"))
    assert "people's names" in in_clear


def test_the_security_measures_claim_no_more_than_what_is_recognised(db):
    pseudonymisation = next(m for m in records.SECURITY_MEASURES if "Pseudonymisation" in m)
    assert "recognises" in pseudonymisation
    assert "sent as written" in pseudonymisation


# --- Art. 30(1)(a): the controller and the data protection officer ---------------------------


def test_the_controller_and_dpo_are_named_on_the_page_and_in_every_csv_row(
    client, privacy_officer, policy, settings
):
    settings.STEWARD_PRIVACY_CONTACT = CONTACT
    page = _page(client, privacy_officer)
    assert f"Controller and data protection officer {CONTACT}" in page
    assert "STEWARD_PRIVACY_CONTACT" not in page
    rows = _rows(client, privacy_officer)
    assert {row["Controller and data protection officer"] for row in rows} == {CONTACT}


def test_without_a_contact_the_controller_is_a_gap_to_fix(
    client, privacy_officer, policy, settings
):
    settings.STEWARD_PRIVACY_CONTACT = ""
    page = _page(client, privacy_officer)
    assert "Gap: the controller and its data protection officer are not recorded" in page
    assert "STEWARD_PRIVACY_CONTACT" in page  # what to set
    rows = _rows(client, privacy_officer)
    assert {row["Controller and data protection officer"] for row in rows} == {"Not recorded"}


# --- Art. 30(1)(c): the categories of data subjects ------------------------------------------


def test_each_record_names_its_data_subjects(client, privacy_officer, policy):
    page = _page(client, privacy_officer)
    for subjects in records.CHAT_SUBJECTS:
        assert subjects in page
    rows = _rows(client, privacy_officer)
    public = _row(rows, "Chat", "1 · Public", "OpenAI")["Data subjects"]
    assert "Staff who use Steward" in public
    assert "customers" in public
    assert all(row["Data subjects"] for row in rows)


# --- Steward's own processing: the audit trail and the staff accounts -------------------------


def test_the_audit_trail_and_the_staff_accounts_have_records_of_their_own(
    client, privacy_officer, policy
):
    page = _page(client, privacy_officer)
    for words in ("Audit trail", "Staff accounts", "the IP address", "Without a time limit"):
        assert words in page, words
    rows = _rows(client, privacy_officer)
    audit = _row(rows, "Audit trail")
    assert "IP address" in audit["Data categories"]
    assert "never the text" in audit["Data categories"]
    assert audit["Retention"].startswith("Without a time limit")
    assert "No one outside the organisation" in audit["Recipient"]
    accounts = _row(rows, "Staff accounts")
    for words in ("Name and email address", "Roles"):
        assert words in accounts["Data categories"], words
    assert "erasure" in accounts["Retention"]
    desk = _row(rows, "Data-subject requests and legal holds")  # a review found it missing
    assert "outside people" in desk["Data subjects"] and "30 days" in desk["Data categories"]
    assert "Data-subject requests and legal holds" in page
    assert {row["Processing activity"] for row in rows} == {
        "Chat",
        "Audit trail",
        "Staff accounts",
        "Data-subject requests and legal holds",
    }


# --- transfers outside the EU/EEA with nothing recorded ---------------------------------------


def test_a_model_outside_the_eea_with_nothing_recorded_is_flagged_on_the_page_and_in_the_csv(
    client, privacy_officer, policy
):
    page = _page(client, privacy_officer)
    assert "Gap: no transfer safeguard recorded" in page
    assert "Gap: no processor recorded" in page
    rows = _rows(client, privacy_officer)
    openai = _row(rows, "Chat", "1 · Public", "OpenAI")
    assert openai["Transfer gap"] == "no processor recorded; no transfer safeguard recorded"
    local = _row(rows, "Chat", "1 · Public", "Local Ollama")
    assert local["Transfer gap"] == ""  # on-premise: no transfer
    assert local["Transfer safeguard"] == "Not a transfer: the organisation's own servers"


def test_the_flag_goes_once_the_processor_and_the_safeguard_are_recorded(
    client, privacy_officer, policy
):
    external = policy["external"]
    external.processor = "OpenAI Ireland Ltd"
    external.transfer_safeguard = SAFEGUARD
    external.save()
    assert "Gap: no" not in _page(client, privacy_officer).replace("Gap: the controller", "")
    rows = _rows(client, privacy_officer)
    assert {row["Transfer gap"] for row in rows} == {""}


@pytest.mark.parametrize(
    ("hosting", "region", "processor", "safeguard", "gaps"),
    [
        ("external_api", "us", "", "", ["no processor recorded", "no transfer safeguard recorded"]),
        ("external_api", "", "OpenAI Ireland Ltd", "", ["no transfer safeguard recorded"]),
        ("external_api", "us-east", "", SAFEGUARD, ["no processor recorded"]),
        ("private_cloud", "us-east-1", "AWS", "", ["no transfer safeguard recorded"]),
        ("external_api", "eu-west-2", "AWS", "", ["no transfer safeguard recorded"]),  # London
        ("external_api", "eu", "", "", []),
        ("private_cloud", "eu-central-1", "", "", []),
        ("private_cloud", "europe-west4", "", "", []),
        ("private_cloud", "westeurope", "", "", []),
        ("on_prem", "", "", "", []),
        ("external_api", "us", "OpenAI Ireland Ltd", SAFEGUARD, []),
    ],
)
def test_transfer_gaps(db, hosting, region, processor, safeguard, gaps):
    backend = make_backend(
        name="Model",
        hosting_class=hosting,
        region=region,
        processor=processor,
        transfer_safeguard=safeguard,
    )
    assert records.transfer_gaps(backend) == gaps
