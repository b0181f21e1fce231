"""The records of processing (GDPR Art. 30): one per active category, generated from the
live policy, on a page and as CSV, for privacy officers, policy admins and auditors."""

import csv
import html
import io

import pytest

from governance.models import Approval
from privacy.records import NOTHING_SENT, SECURITY_MEASURES
from tests.factories import make_backend, make_category, make_user

PROCESSOR = "OpenAI Ireland Ltd"
SAFEGUARD = "Standard contractual clauses (2021/914), module 2"


@pytest.fixture
def policy(db):
    """Two categories; the on-premise model serves both, the external one only Public."""
    public = make_category(description="Drafting from material already published.")
    internal = make_category(
        number=2, slug="internal", name="Internal", summary="Day-to-day work.", retention_days=30
    )
    make_category(number=4, slug="prohibited", name="Prohibited", summary="Never.", blocks_all=True)
    local = make_backend(name="Local Ollama")
    external = make_backend(
        name="OpenAI",
        kind="openai",
        base_url="https://api.openai.com/v1",
        hosting_class="external_api",
        region="us",
        processor=PROCESSOR,
        transfer_safeguard=SAFEGUARD,
    )
    Approval.objects.create(category=public, backend=local, preference=10)
    Approval.objects.create(category=public, backend=external, preference=20)
    Approval.objects.create(category=internal, backend=local)
    return {"public": public, "internal": internal, "external": external}


def _rows(client) -> list[dict]:
    response = client.get("/privacy/records.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "records-of-processing-" in response["Content-Disposition"]
    text = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _sent_to(rows) -> set[tuple[str, str]]:
    """Where each category's messages go (the audit trail's and the accounts' rows aside)."""
    return {(row["Category"], row["Recipient"]) for row in rows if row["Category"]}


def test_the_page_lists_each_category_with_its_recipients_from_the_database(
    client, privacy_officer, policy
):
    client.force_login(privacy_officer)
    page = html.unescape(client.get("/privacy/records/").content.decode())
    for words in (
        "1 · Public",
        "Drafting from material already published.",  # the description is the purpose
        "Day-to-day work.",  # no description: the summary
        "OpenAI",
        f"Processor: {PROCESSOR} · external API, region us",
        "Processor: The organisation itself",  # on-premise, no processor named
        f"Transfer safeguard: {SAFEGUARD}",
        "Transfer safeguard: Not a transfer: the organisation's own servers",  # on-premise
        "90 days after the last message",
        "30 days after the last message",
        NOTHING_SENT,
        *SECURITY_MEASURES,
    ):
        assert words in page, words


def test_the_csv_has_a_row_per_category_and_recipient(client, privacy_officer, policy):
    client.force_login(privacy_officer)
    rows = _rows(client)
    assert _sent_to(rows) == {
        ("1 · Public", "Local Ollama"),
        ("1 · Public", "OpenAI"),
        ("2 · Internal", "Local Ollama"),
        ("4 · Prohibited", ""),
    }
    openai = next(row for row in rows if row["Recipient"] == "OpenAI")
    assert (openai["Processor"], openai["Hosting"], openai["Region"]) == (
        PROCESSOR,
        "external API",
        "us",
    )
    assert openai["Transfer safeguard"] == SAFEGUARD
    assert openai["Retention"].startswith("90 days")
    assert "Encryption at rest" in openai["Security measures"]


def test_data_categories_say_what_leaves_in_clear_and_what_pseudonymised(
    client, privacy_officer, policy
):
    """From the finding matrix: its defaults below the confidential level, and an override."""
    internal = policy["internal"]
    internal.finding_actions = {"PERSON": "allow"}
    internal.save()
    client.force_login(privacy_officer)
    rows = {row["Category"]: row for row in _rows(client)}
    public = rows["1 · Public"]["Data categories"]
    assert "Pseudonymised when recognised: " in public and "email addresses" in public
    assert "people's names" not in public.split("Pseudonymised when recognised: ")[0]
    internal_data = rows["2 · Internal"]["Data categories"]
    in_clear = next(part for part in internal_data.split("; ") if part.startswith("In clear:"))
    assert "people's names" in in_clear
    assert rows["4 · Prohibited"]["Data categories"] == NOTHING_SENT


def test_the_records_change_when_an_approval_does(client, privacy_officer, policy):
    client.force_login(privacy_officer)
    assert ("2 · Internal", "OpenAI") not in _sent_to(_rows(client))
    Approval.objects.create(category=policy["internal"], backend=policy["external"])
    assert ("2 · Internal", "OpenAI") in _sent_to(_rows(client))
    Approval.objects.filter(category=policy["public"], backend=policy["external"]).delete()
    assert ("1 · Public", "OpenAI") not in _sent_to(_rows(client))
    assert "OpenAI" in client.get("/privacy/records/").content.decode()  # still Internal's


def test_a_disabled_backend_receives_nothing_and_is_no_recipient(client, privacy_officer, policy):
    policy["external"].enabled = False
    policy["external"].save()
    client.force_login(privacy_officer)
    assert ("1 · Public", "OpenAI") not in _sent_to(_rows(client))


def test_a_cell_a_spreadsheet_would_run_is_defused(client, privacy_officer, policy):
    policy["external"].processor = '=HYPERLINK("http://evil")'
    policy["external"].save()
    client.force_login(privacy_officer)
    openai = next(row for row in _rows(client) if row["Recipient"] == "OpenAI")
    assert openai["Processor"].startswith("'=")


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (("privacy_officer",), 200),
        (("policy_admin",), 200),
        (("auditor",), 200),
        (("staff",), 403),
        ((), 403),
    ],
)
def test_who_may_read_the_records(client, policy, roles, expected):
    from governance.roles import Role

    user = make_user("someone@example.com", *(Role(role) for role in roles))
    client.force_login(user)
    assert client.get("/privacy/records/").status_code == expected
    assert client.get("/privacy/records.csv").status_code == expected


def test_the_privacy_desk_and_the_policy_console_link_to_the_records(
    client, privacy_officer, admin, policy
):
    client.force_login(privacy_officer)
    assert 'href="/privacy/records/"' in client.get("/privacy/").content.decode()
    client.force_login(admin)
    assert 'href="/privacy/records/"' in client.get("/policy/").content.decode()
