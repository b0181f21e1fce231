"""The console's forms say what to give, in the field's terms, where Django said "This field
is required." or "Ensure this value is greater than or equal to 0."."""

import pytest

from tests.factories import make_category
from tests.governance.console import HTMX

STOCK = ("This field is required.", "Ensure this value", "Enter a whole number.")


@pytest.mark.parametrize(
    ("path", "data", "said"),
    [
        (
            "/policy/categories/new/",
            {"number": "-1", "slug": "", "name": "", "summary": "", "retention_days": "-3"},
            [
                "Levels go from 1 (public) to 9.",
                "Give a short name for addresses, such as internal or client-data.",
                "Give the category a name.",
                "Write the one line people see when they pick it.",
                "Give a whole number of days, or leave it empty to keep no text.",
            ],
        ),
        (
            "/policy/backends/new/",
            {"name": "", "kind": "ollama", "model": "", "context_tokens": "-1",
             "provider_retention_days": "-1"},
            [
                "Give the backend a name.",
                "name as the provider spells it, such as llama3.2.",
                "Give a whole number of tokens, such as 32000",
                "Give a whole number of days (0: the provider keeps nothing)",
            ],
        ),
        (
            "/policy/rules/new/",
            {"name": ""},
            [
                "Give the rule a name.",
                "Write the reason the sender reads when a message matches.",
                "Choose keywords or a regular expression.",
                "Write what to look for: keywords, or a regular expression.",
                "Choose what a match does.",
            ],
        ),
        (
            "/policy/term-lists/new/",
            {"name": ""},
            ["Give the list a name.", "Choose what the terms are."],
        ),
        (
            "/policy/clearances/",
            {"party": ""},
            [
                "Choose the category to clear them for.",
                "Type a group&#x27;s name, such as Staff, or a person&#x27;s email address.",
            ],
        ),
    ],
)  # fmt: skip
def test_empty_or_out_of_range_fields_say_what_to_give(client, admin, path, data, said):
    client.force_login(admin)
    response = client.post(path, data, **HTMX)
    page = response.content.decode()
    assert response.status_code == 422
    assert [words for words in said if words not in page] == []
    assert [words for words in STOCK if words in page] == []


def test_the_short_name_is_called_what_it_is(client, admin):
    """The field read "Slug"."""
    client.force_login(admin)
    page = client.get("/policy/categories/new/").content.decode()
    assert "Short name in addresses and the API" in page and ">Slug<" not in page


def test_the_clearance_help_names_the_group_as_it_is_called(client, admin):
    """The help said "Policy admins"; the group is "Policy admin"."""
    make_category()
    client.force_login(admin)
    page = client.get("/policy/clearances/").content.decode()
    assert "Staff, Policy admin…" in page and "Policy admins" not in page


def test_a_persons_page_says_who_can_see_sign_ins(client, admin, member):
    """It said "sign-ins are in the audit trail", which a policy admin cannot open."""
    client.force_login(admin)
    page = client.get(f"/policy/users/{member.public_id}/").content.decode()
    assert "an auditor can see them in the audit trail" in page


def test_an_invitation_to_no_address_says_what_to_type(client, admin):
    client.force_login(admin)
    response = client.post("/policy/users/", {"email": "", "roles": ["staff"]}, **HTMX)
    assert "Type the person&#x27;s work email address." in response.content.decode()


def test_the_records_of_processing_fields_show_examples_as_help_not_as_values(client, admin):
    """A grey "OpenAI Ireland Ltd" in every empty Processor box, on-premise backends too,
    read as a recorded value."""
    client.force_login(admin)
    page = client.get("/policy/backends/new/").content.decode()
    assert 'placeholder="OpenAI Ireland Ltd"' not in page
    assert 'placeholder="Standard contractual clauses' not in page
    assert "e.g. OpenAI Ireland Ltd. Empty: we run it ourselves." in page
