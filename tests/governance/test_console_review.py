"""The policy console as a policy admin runs it: findings of a review, each pinned by a test."""

import re

import pytest
import regex

from governance.detection import RULE_TIMEOUT_SECONDS, detect
from governance.models import Backend, DetectionRule
from tests.factories import make_backend
from tests.governance.console import HTMX


def _rule_form(**overrides) -> dict:
    values = {
        "name": "Tickets",
        "reason": "Ticket numbers stay internal.",
        "kind": "regex",
        "pattern": r"TCK-\d+",
        "action": "block",
        "min_category": "",
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize(
    ("pattern", "case_sensitive", "slow_text"),
    [
        # Runs long enough to take seconds: 300 characters took ~49 ms, and the 50 ms
        # timeout below was then met or not by chance.
        (r"(x+x+)+y", "", "x" * 3000),
        (r"(Z+)+!", "", "Z" * 3000),
        (r"(A+)+$", "on", "A" * 3000 + "!"),
        (r"(?:[0-9]+-?)+[A-Z]", "", "1" * 3000 + "!"),
    ],
)
def test_it_refuses_patterns_that_backtrack_on_their_own_characters(
    client, admin, pattern, case_sensitive, slow_text
):
    """The probes were fixed strings (a…a!, 1…1x): a pattern that only backtracks on the
    characters it names was saved, and then blocked every message holding such a run as
    "the rule timed out"."""
    client.force_login(admin)
    response = client.post(
        "/policy/rules/new/",
        _rule_form(pattern=pattern, case_sensitive=case_sensitive),
        **HTMX,
    )
    assert response.status_code == 422, pattern
    assert b"catastrophic backtracking" in response.content
    assert not DetectionRule.objects.exists()
    compiled = regex.compile(pattern, 0 if case_sensitive else regex.IGNORECASE)
    with pytest.raises(TimeoutError):  # what a message would have run into
        compiled.search(slow_text, timeout=RULE_TIMEOUT_SECONDS)


def test_a_refused_slow_pattern_is_one_that_would_have_timed_out(db):
    DetectionRule.objects.create(
        name="Slow", reason="r", kind="regex", pattern=r"(x+x+)+y", action="warn"
    )
    (hit,) = detect("x" * 300).rule_hits
    assert "timed out" in hit.reason


@pytest.mark.parametrize(
    "pattern",
    [r"TCK-\d+", r"\b[A-Z]{2}\d{6}\b", r"(?i)project\s+(falcon|osprey)", r"[\w.+-]+@acme\.com"],
)
def test_it_still_accepts_ordinary_patterns(client, admin, pattern):
    client.force_login(admin)
    response = client.post("/policy/rules/new/", _rule_form(pattern=pattern))
    assert response.status_code == 302, response.content[:2000]


OLLAMA = {
    "name": "GPU box",
    "kind": "ollama",
    "base_url": "http://gpu-box:11434",
    "model": "llama3.2",
    "hosting_class": "on_prem",
}


@pytest.mark.parametrize("address", ["http://gpu-box:11434", "http://ollama:11434/"])
def test_it_takes_a_backend_on_a_single_label_host_name(client, admin, address):
    """The kind's own note gives http://gpu-box:11434, and a container network names its
    services so (http://ollama:11434); both were refused as "Enter a valid URL."."""
    client.force_login(admin)
    response = client.post("/policy/backends/new/", {**OLLAMA, "base_url": address})
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert Backend.objects.get(name="GPU box").base_url == address


def test_the_api_takes_a_single_label_host_name_too(admin):
    from rest_framework.test import APIClient

    from api.services import create_token

    _, secret = create_token(user=admin, name="t", expires_in_days=None, actor=admin)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = api.post("/api/governance/backends/", OLLAMA, format="json")
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    "address", ["http://gpu box:11434", "http://-gpu-:11434", "https://", "http://a_b:1/"]
)
def test_it_still_refuses_an_address_that_is_not_one(client, admin, address):
    client.force_login(admin)
    response = client.post("/policy/backends/new/", {**OLLAMA, "base_url": address}, **HTMX)
    assert response.status_code == 422
    assert "Enter a valid URL." in response.content.decode()
    assert not Backend.objects.exists()


def test_the_simulators_errors_are_tied_to_their_fields(client, admin):
    """The fields said aria-describedby="id_text_error", and no element had that id."""
    client.force_login(admin)
    response = client.post("/policy/simulator/", {"text": "", "category": "7"})
    assert response.status_code == 422
    html = response.content.decode()
    for name in ("text", "user", "category"):
        assert re.search(f'aria-describedby="[^"]*id_{name}_error"', html), name
        assert f'id="id_{name}_error"' in html, name


def test_the_simulator_shows_what_a_rule_matches_and_replaces(client, admin, member):
    """The page says "See exactly … what it replaces", yet a rule's matches were not shown:
    a policy admin trying a new rule saw its reason, not which words it caught."""
    from governance.models import Category

    public = Category.objects.create(number=1, slug="public", name="Public", summary="s")
    public.clearances.create(user=member)
    public.approvals.create(backend=make_backend())
    DetectionRule.objects.create(
        name="Tickets", reason="Ticket ids stay inside.", kind="regex", pattern=r"TCK-\d+",
        action="pseudonymise",
    )  # fmt: skip
    client.force_login(admin)
    response = client.post(
        "/policy/simulator/",
        {"text": "See TCK-123 and TCK-9, thanks", "user": member.public_id, "category": "1"},
    )
    html = response.content.decode()
    for ticket in ("TCK-123", "TCK-9"):
        assert f'<mark class="finding finding-redacted" title="Rule “Tickets”">{ticket}' in html, (
            html[html.index('id="simulation"') :]
        )
    assert "Findings (2)" in html


def test_a_backends_history_says_which_connection_tests_failed(client, admin):
    """Four "Connection tested" lines, and no telling which of them worked."""
    from audit.models import AuditEvent
    from audit.services import record

    backend = make_backend()
    for outcome in (AuditEvent.Outcome.SUCCESS, AuditEvent.Outcome.FAILURE):
        record(
            action=AuditEvent.Action.BACKEND_TESTED,
            actor=admin,
            target=backend,
            outcome=outcome,
            message="Connection tested",
        )
    client.force_login(admin)
    html = client.get(f"/policy/backends/{backend.public_id}/").content.decode()
    history = html[html.index('id="history-heading"') :]
    assert history.count("Connection tested") == 2
    assert history.count("failed") == 1


def test_the_finding_matrixs_errors_are_tied_to_their_rows(client, admin):
    from tests.factories import make_category

    category = make_category(number=2, slug="internal", name="Internal")
    client.force_login(admin)
    response = client.post(
        f"/policy/categories/{category.slug}/findings/", {"EMAIL_ADDRESS": "shout"}, **HTMX
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'aria-describedby="id_EMAIL_ADDRESS_error"' in html
    assert 'id="id_EMAIL_ADDRESS_error"' in html


def test_a_refused_backend_form_says_the_typed_key_must_be_typed_again(client, admin):
    """The key field came back empty after an error elsewhere, without a word: saving the
    corrected form made a backend with no key."""
    client.force_login(admin)
    form = {**OLLAMA, "kind": "openai", "base_url": "https://api.example.com/v1", "name": ""}
    response = client.post("/policy/backends/new/", {**form, "credential": "sk-live-123"}, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "sk-live-123" not in html
    assert "Type the key again: Steward does not show it back." in html
    response = client.post("/policy/backends/new/", form, **HTMX)  # no key was typed
    assert "Type the key again" not in response.content.decode()


@pytest.mark.parametrize(
    ("url", "prompt"),
    [
        ("/policy/rules/new/", "Choose what a match does"),
        ("/policy/backends/new/", "Choose the kind of backend"),
        ("/policy/term-lists/new/", "Choose what the terms are"),
    ],
)
def test_an_empty_choice_says_what_to_choose(client, admin, url, prompt):
    """The selects opened on Django's bare "---------"."""
    client.force_login(admin)
    html = client.get(url).content.decode()
    assert "---------" not in html
    assert f'<option value="" selected>{prompt}</option>' in html


def test_match_case_is_refused_for_keywords_which_always_match_in_any_case(client, admin):
    """The "Match case" box was accepted for keywords and then ignored: they match folded."""
    DetectionRule.objects.create(
        name="Acme", reason="r", kind="keywords", pattern="Acme", case_sensitive=True,
        action="warn",
    )  # fmt: skip
    assert detect("a note about ACME").rule_hits  # what ticking it did: nothing
    client.force_login(admin)
    response = client.post(
        "/policy/rules/new/",
        _rule_form(kind="keywords", pattern="Falcon", case_sensitive="on"),
        **HTMX,
    )
    assert response.status_code == 422
    assert "Keywords match in any case" in response.content.decode()
    assert 'id="id_case_sensitive_error"' in response.content.decode()
    assert DetectionRule.objects.count() == 1
