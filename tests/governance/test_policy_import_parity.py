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
    assert "rules[0].case_sensitive: Keywords match in any case." in problems
