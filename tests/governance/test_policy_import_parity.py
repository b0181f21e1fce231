"""A policy file is refused what the console refuses (review of the policy console).

The console's forms keep a category's level fixed once created, levels within 1-9,
retention within 100 years (none for a prohibited category), backend addresses free
of credentials, and approval preferences within 1-1000. An imported file must not be
a way round any of them; it is refused with the place of each problem, nothing applied.
"""

import pytest
import yaml

from audit.models import AuditEvent
from governance.demo import seed_demo_organisation
from governance.models import Approval, Backend, Category
from governance.policy_io import PolicyFileError, apply_import, export_policy


@pytest.fixture
def demo(db):
    seed_demo_organisation()


def _edited(section: str, edit) -> str:
    document = yaml.safe_load(export_policy())
    edit(document[section])
    return yaml.safe_dump(document)


def _refused(text: str) -> list[str]:
    events = AuditEvent.objects.count()
    with pytest.raises(PolicyFileError) as caught:
        apply_import(text)
    assert AuditEvent.objects.count() == events
    return caught.value.problems


def _category(slug: str):
    def edit(categories, **changes):
        next(c for c in categories if c["slug"] == slug).update(changes)

    return edit


def test_it_refuses_a_file_that_renumbers_a_category(demo):
    # Level 5 is free: the file would have moved every confidential conversation there.
    text = _edited("categories", lambda cs: _category("confidential")(cs, number=5))
    problems = _refused(text)
    assert "categories[2].number: Fixed once created (it is 3)." in problems
    assert Category.objects.get(slug="confidential").number == 3


@pytest.mark.parametrize("number", [0, 10])
def test_it_refuses_a_level_outside_one_to_nine(demo, number):
    new = {"number": number, "slug": "odd", "name": "Odd", "summary": "odd"}
    problems = _refused(_edited("categories", lambda cs: cs.append(new)))
    assert "categories[4].number: Levels go from 1 (public) to 9." in problems


def test_it_refuses_a_new_category_on_a_level_already_taken(demo):
    new = {"number": 2, "slug": "internal-2", "name": "Internal too", "summary": "again"}
    problems = _refused(_edited("categories", lambda cs: cs.append(new)))
    assert "categories[4].number: Level 2 is Internal's." in problems


def test_it_refuses_retention_beyond_a_hundred_years(demo):
    text = _edited("categories", lambda cs: _category("public")(cs, retention_days=10**9))
    problems = _refused(text)
    assert any(p.startswith("categories[0].retention_days: Keep content at most") for p in problems)


def test_it_refuses_retention_for_a_prohibited_category(demo):
    text = _edited("categories", lambda cs: _category("prohibited")(cs, retention_days=30))
    problems = _refused(text)
    assert (
        "categories[3].retention_days: A prohibited category stores nothing: "
        "leave retention empty." in problems
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://svc:hunter2@api.example.com/v1",
        "https://api.example.com/v1?api_key=hunter2",
    ],
)
def test_it_refuses_a_backend_address_carrying_a_credential(demo, url):
    def edit(backends):
        next(b for b in backends if b["name"] == "OpenAI business API")["base_url"] = url

    problems = _refused(_edited("backends", edit))
    assert any(p.startswith("backends[2].base_url: ") and "API key" in p for p in problems)
    assert "hunter2" not in Backend.objects.get(name="OpenAI business API").base_url


@pytest.mark.parametrize("preference", ["first", None, 0, 1001, 40000])
def test_it_refuses_an_approval_preference_the_console_refuses(demo, preference):
    def edit(approvals):
        approvals[0]["preference"] = preference

    preferences = sorted(Approval.objects.values_list("pk", "preference"))
    problems = _refused(_edited("approvals", edit))
    assert "approvals[0].preference: Give a whole number from 1 to 1000." in problems
    assert sorted(Approval.objects.values_list("pk", "preference")) == preferences


def test_it_takes_a_backend_on_a_single_label_host_name(demo):
    def edit(backends):
        next(b for b in backends if b["name"] == "Local Ollama")["base_url"] = (
            "http://gpu-box:11434"
        )

    apply_import(_edited("backends", edit))
    assert Backend.objects.get(name="Local Ollama").base_url == "http://gpu-box:11434"


@pytest.mark.parametrize("address", ["http://gpu box/", 11434, "x" * 301])
def test_it_refuses_an_address_that_is_not_one(demo, address):
    def edit(backends):
        next(b for b in backends if b["name"] == "Local Ollama")["base_url"] = address

    (problem,) = _refused(_edited("backends", edit))
    assert problem.startswith("backends[1].base_url: ")


def test_it_refuses_match_case_for_keywords(demo):
    rule = {
        "name": "Acme", "reason": "r", "kind": "keywords", "pattern": "Acme",
        "case_sensitive": True, "action": "warn",
    }  # fmt: skip
    problems = _refused(_edited("rules", lambda rules: rules.append(rule)))
    assert "rules[1].case_sensitive: Keywords match in any case." in problems


def _new_backend(**fields) -> dict:
    return {
        "name": "Imported", "kind": "openai", "base_url": "https://llm.example.com/v1",
        "model": "m", "context_tokens": 8000, "hosting_class": "external_api", **fields,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"dpa_expires_on": "2030-01-01", "dpa_signed": False},
            "backends[3].dpa_expires_on: An expiry date is for a signed agreement: tick “A "
            "data processing agreement is signed”, or leave the date empty.",
        ),
        (
            {"kind": "vertex", "base_url": "", "project": "", "region": "europe-west4"},
            "backends[3].project: Vertex AI needs the Google Cloud project.",
        ),
        (
            {"kind": "vertex", "base_url": "", "project": "acme", "region": "eu west 4"},
            "backends[3].region: Name the Vertex AI location: europe-west4, or global.",
        ),
        (
            {"kind": "azure", "api_version": "last week"},
            "backends[3].api_version: An api-version looks like 2024-10-21.",
        ),
        (
            {"kind": "bedrock", "base_url": "", "region": "somewhere"},
            "backends[3].region: Name an AWS region, such as eu-central-1.",
        ),
        (
            {"kind": "anthropic", "base_url": ""},
            "backends[3].base_url: This kind of backend needs an address.",
        ),
        (
            {"kind": "builtin", "base_url": "", "model": "models/mine.bin"},
            "backends[3].model: Leave empty for the packaged SmolLM2, or give the absolute "
            "path of a .gguf file (e.g. /srv/models/qwen2.5-1.5b-instruct-q4_k_m.gguf).",
        ),
    ],
)
def test_it_refuses_a_backend_the_console_form_refuses(demo, fields, expected):
    problems = _refused(_edited("backends", lambda bs: bs.append(_new_backend(**fields))))
    assert expected in problems
    assert not Backend.objects.filter(name="Imported").exists()


def test_a_backend_is_imported_as_the_console_would_save_it(demo):
    """The form's clean-ups apply too: fields its kind does not use are cleared, and an
    empty model of the built-in kind is its packaged one."""
    backends = [
        _new_backend(api_version="2024-10-21", project="acme"),
        _new_backend(name="Built in", kind="builtin", base_url="", model="",
                     hosting_class="on_prem"),
    ]  # fmt: skip
    apply_import(_edited("backends", lambda bs: bs.extend(backends)))
    imported, built_in = Backend.objects.get(name="Imported"), Backend.objects.get(name="Built in")
    assert (imported.api_version, imported.project) == ("", "")
    assert built_in.model == "smollm2"


def test_it_refuses_a_new_clearance_for_a_deactivated_account_and_keeps_an_old_one(demo):
    from django.contrib.auth import get_user_model

    from governance.models import Clearance

    User = get_user_model()
    bob, carol = (User.objects.get(email=f"{name}@example.com") for name in ("bob", "carol"))
    confidential = Category.objects.get(slug="confidential")
    Clearance.objects.get_or_create(category=confidential, user=carol)
    User.objects.filter(pk__in=[bob.pk, carol.pk]).update(is_active=False)
    kept = _edited("clearances", lambda cs: None)
    assert "carol@example.com" in kept
    apply_import(kept)  # carol's clearance, granted while her account was active, stays
    assert Clearance.objects.filter(user=carol).exists()

    new = {"category": "confidential", "user": "bob@example.com"}
    problems = _refused(_edited("clearances", lambda cs: cs.append(new)))
    assert (
        f"clearances[{len(yaml.safe_load(kept)['clearances'])}].user: the account "
        "'bob@example.com' is deactivated." in problems
    )


def test_it_refuses_a_clearance_for_a_category_that_is_never_sent(demo):
    new = {"category": "prohibited", "group": "Staff"}
    problems = _refused(_edited("clearances", lambda cs: cs.append(new)))
    assert any(
        "Prohibited is never sent to any model: nobody is cleared for it." in p for p in problems
    ), problems
