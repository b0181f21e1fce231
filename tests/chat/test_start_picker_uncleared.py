"""The new-conversation picker shows the categories a person cannot pick, and why.

A review found a new employee with customer text and nowhere to put it: the policy
sends client data to Confidential, she was not cleared for it, and the picker hid
it without a word.
"""

import re
from types import SimpleNamespace

import pytest
from django.urls import reverse

from governance.demo import seed_demo_organisation
from governance.models import Category, Clearance, User
from governance.roles import Role
from tests.factories import make_user

ASK = "You are not cleared for this category: "


@pytest.fixture
def demo(db):
    seed_demo_organisation()
    return SimpleNamespace(
        alice=User.objects.get(email="alice@example.com"),
        carol=User.objects.get(email="carol@example.com"),
        paula=User.objects.get(email="paula@example.com"),
    )


def _picker(client, user) -> str:
    client.force_login(user)
    page = client.get(reverse("chat:home")).content.decode()
    start = page.index('<section id="start"')
    return page[start : page.index("</ul>", page.index('id="category-closed-heading"'))]


def _closed(picker: str) -> str:
    return picker[picker.index('<div class="category-closed"') :]


def test_it_lists_the_categories_she_is_not_cleared_for_with_whom_to_ask(client, demo):
    picker = _picker(client, demo.alice)
    radios = re.findall(r'<input type="radio" name="category" value="([\w-]+)"', picker)
    assert radios == ["public", "internal"]  # what she may pick stays as it was
    closed = _closed(picker)
    assert "Confidential / personal data" in closed
    assert "Client data, personal data, contracts" in closed  # its one-line summary
    assert 'href="/training/cards/3/"' in closed
    assert f"{ASK}ask a policy admin (Paula Policy)." in closed
    # Nothing to pick there: no input, so no stop for the keyboard but the cards' links.
    assert "<input" not in closed
    assert picker.index('class="category-closed"') > picker.index('value="internal"')


def test_it_says_prohibited_material_goes_to_no_model_rather_than_ask_for_clearance(client, demo):
    closed = _closed(_picker(client, demo.alice))
    prohibited = closed[closed.index("Prohibited") :]
    assert 'href="/training/cards/4/"' in prohibited
    assert "Never sent to any model" in prohibited
    assert ASK not in prohibited


def test_someone_cleared_for_confidential_sees_only_the_prohibited_one_below(client, demo):
    picker = _picker(client, demo.carol)
    assert 'value="confidential"' in picker
    closed = _closed(picker)
    assert "Confidential" not in closed
    assert "Never sent to any model" in closed
    assert ASK not in closed


def test_it_names_at_most_three_policy_admins_then_the_rest_in_a_word(client, demo):
    for name in ("Ada Admin", "Ben Boss", "Cleo Chief"):
        first = name.split()[0].lower()
        make_user(f"{first}@example.com", Role.POLICY_ADMIN, full_name=name)
    closed = _closed(_picker(client, demo.alice))
    # By address: ada, ben, cleo, paula.
    said = f"{ASK}ask a policy admin (Ada Admin, Ben Boss, Cleo Chief or another policy admin)."
    assert said in closed
    assert "Paula Policy" not in closed


def test_without_a_policy_admin_it_says_to_ask_the_administrator(client, demo):
    demo.paula.groups.remove(demo.paula.groups.get(name=Role.POLICY_ADMIN.group_name))
    closed = _closed(_picker(client, demo.alice))
    assert f"{ASK}ask your administrator." in closed


def test_a_policy_admin_is_told_she_can_clear_herself(client, demo):
    closed = _closed(_picker(client, demo.paula))
    assert f"{ASK}you can clear yourself under Policy → Clearances." in closed


def test_a_retired_category_is_not_listed(client, demo):
    Category.objects.filter(slug="confidential").update(is_active=False)
    closed = _closed(_picker(client, demo.alice))
    assert "Confidential" not in closed
    assert ASK not in closed


def test_someone_cleared_for_nothing_still_sees_where_to_ask(client, demo):
    Clearance.objects.filter(group__name=Role.STAFF.group_name).delete()
    client.force_login(demo.alice)
    page = client.get(reverse("chat:home")).content.decode()
    assert "You are not cleared for any category yet" in page
    assert page.count(f"{ASK}ask a policy admin (Paula Policy).") == 3  # 1, 2 and 3
    assert 'name="category"' not in page
