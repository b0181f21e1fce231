import datetime as dt

import pytest

from governance.policy import unmet_requirements
from tests.factories import backend_attrs, category_attrs

TODAY = dt.date(2026, 11, 23)
PAST = dt.date(2026, 11, 22)


def test_it_accepts_a_backend_meeting_every_requirement():
    category = category_attrs(allowed_hosting_classes=["on_prem"], require_dpa=True)
    backend = backend_attrs(hosting_class="on_prem", dpa_signed=True)
    assert unmet_requirements(category, backend, today=TODAY) == []


def test_it_refuses_everything_for_a_prohibited_category():
    category = category_attrs(name="Prohibited", blocks_all=True)
    assert unmet_requirements(category, backend_attrs(), today=TODAY) == [
        "Prohibited is prohibited: no backend may receive it."
    ]


@pytest.mark.parametrize(
    ("category_overrides", "backend_overrides", "expected"),
    [
        (
            {"allowed_hosting_classes": ["on_prem", "private_cloud"]},
            {"hosting_class": "external_api"},
            "Cat needs an on-premise or private cloud backend; Box is an external API backend.",
        ),
        ({"forbid_training": True}, {"trains_on_inputs": True}, "Cat forbids backends that train"),
        ({"forbid_consumer_products": True}, {"consumer_product": True}, "forbids consumer"),
        ({"require_zero_retention": True}, {"provider_retention_days": 30}, "zero data retention"),
        (
            {"require_zero_retention": True},
            {"provider_retention_days": None},
            "zero data retention",
        ),
        ({"allowed_regions": ["eu"]}, {"region": "us"}, "may only go to eu; Box's region is us."),
        ({"allowed_regions": ["eu"]}, {"region": ""}, "Box's region is not recorded."),
        (
            {"require_dpa": True},
            {"hosting_class": "private_cloud", "dpa_signed": False},
            "needs a signed data processing",
        ),
        (
            {"require_dpa": True},
            {"hosting_class": "external_api", "dpa_signed": True, "dpa_expires_on": PAST},
            "Box's expired on 2026-11-22.",
        ),
    ],
)
def test_it_names_each_broken_requirement(category_overrides, backend_overrides, expected):
    category = category_attrs(name="Cat", **category_overrides)
    backend = backend_attrs(name="Box", **backend_overrides)
    problems = unmet_requirements(category, backend, today=TODAY)
    assert len(problems) == 1
    assert expected in problems[0]


def test_it_needs_no_dpa_for_an_on_premise_backend():
    category = category_attrs(require_dpa=True)
    backend = backend_attrs(hosting_class="on_prem", dpa_signed=False)
    assert unmet_requirements(category, backend, today=TODAY) == []


def test_it_keeps_a_dpa_valid_on_its_expiry_day():
    category = category_attrs(require_dpa=True)
    backend = backend_attrs(hosting_class="external_api", dpa_signed=True, dpa_expires_on=TODAY)
    assert unmet_requirements(category, backend, today=TODAY) == []


def test_it_lists_every_problem_at_once():
    category = category_attrs(forbid_training=True, forbid_consumer_products=True)
    backend = backend_attrs(trains_on_inputs=True, consumer_product=True)
    assert len(unmet_requirements(category, backend, today=TODAY)) == 2


def test_a_prohibited_level_refuses_everything_whatever_its_settings():
    category = category_attrs(number=4, name="Secret", blocks_all=False)
    assert unmet_requirements(category, backend_attrs(), today=TODAY) == [
        "Secret is prohibited: no backend may receive it."
    ]


@pytest.mark.parametrize("allowed", [[], ["external_api"], ["private_cloud", "external_api"]])
def test_a_confidential_level_only_reaches_our_own_infrastructure_whatever_its_settings(
    allowed,
):
    category = category_attrs(number=3, name="Confidential", allowed_hosting_classes=allowed)
    external = backend_attrs(name="Gateway", hosting_class="external_api")
    assert unmet_requirements(category, external, today=TODAY) == [
        "Confidential is level 3: only an on-premise or private cloud backend may receive it; "
        "Gateway is an external API backend."
    ]


@pytest.mark.parametrize("hosting", ["on_prem", "private_cloud"])
def test_a_confidential_level_accepts_our_own_infrastructure(hosting):
    category = category_attrs(number=3)
    assert unmet_requirements(category, backend_attrs(hosting_class=hosting), today=TODAY) == []


def test_the_engine_routes_by_the_same_rule_the_console_approves_by():
    """A backend approved for a category serves it exactly when nothing is unmet."""
    from governance.policy import BackendSpec, CategorySpec, eligible_backends

    for number in (1, 2, 3, 4):
        category = CategorySpec(number=number, name=f"Level {number}")
        for hosting in ("on_prem", "private_cloud", "external_api"):
            backend = BackendSpec(key="b", name="B", hosting_class=hosting, approvals={number: 1})
            serves = eligible_backends(category, (backend,), today=TODAY) == [backend]
            assert serves == (unmet_requirements(category, backend, today=TODAY) == []), (
                number,
                hosting,
            )
