"""The party of a clearance, named in text: a role group or one person (``resolve_party``)."""

import uuid

import pytest
from django.contrib.auth.models import Group

from governance.forms import UnknownParty, resolve_party

pytestmark = pytest.mark.django_db


def _refusal(text: str, **kwargs) -> str:
    with pytest.raises(UnknownParty) as refused:
        resolve_party(text, **kwargs)
    return refused.value.message


def test_it_finds_a_group_by_its_prefixed_name():
    assert resolve_party("group:Staff") == Group.objects.get(name="Staff")


def test_it_finds_a_group_by_its_bare_name_in_any_case():
    staff = Group.objects.get(name="Staff")
    assert resolve_party("Staff") == resolve_party("sTAFF") == resolve_party(" staff ") == staff


def test_a_prefixed_group_name_is_exact_as_the_buttons_and_the_api_send_it():
    assert _refusal("group:staff").startswith("No group and no active person is “group:staff”")


def test_it_finds_a_person_by_their_public_id(member):
    assert resolve_party(f"user:{member.public_id}") == member
    assert resolve_party(f"user:{str(member.public_id).upper()}") == member


def test_it_finds_a_person_by_their_email_address_in_any_case(member):
    assert resolve_party("member@example.com") == member
    assert resolve_party(" Member@Example.COM ") == member


def test_a_malformed_public_id_is_refused_in_words_not_an_error(member):
    for text in ("user:not-a-uuid", "user:", f"user:{member.email}", "user:12345"):
        assert _refusal(text) == (
            f"No group and no active person is “{text}”: give a group's name or a person's "
            "email address."
        )


def test_an_unknown_group_is_refused(db):
    for text in ("group:Root", "Root", "group:"):
        assert _refusal(text).startswith(f"No group and no active person is “{text}”")


def test_an_unknown_person_is_refused(db):
    for text in (f"user:{uuid.uuid4()}", "nobody@example.com"):
        assert _refusal(text).startswith(f"No group and no active person is “{text}”")


def test_an_inactive_person_is_refused_a_grant_but_found_to_withdraw_one(member):
    member.is_active = False
    member.save()
    for text in (member.email, f"user:{member.public_id}"):
        assert _refusal(text).startswith("No group and no active person is")
        assert resolve_party(text, active_only=False) == member
    assert _refusal("nobody@example.com", active_only=False).startswith(
        "No group and no person is “nobody@example.com”"
    )


def test_nothing_typed_asks_for_a_party(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        for text in ("", "   ", "\t\n"):
            assert _refusal(text) == "Give a group's name or a person's email address."


def test_a_long_text_is_quoted_cut_short(db):
    assert "“" + "x" * 80 + "”" in _refusal("x" * 300)
