"""Tokens: the settings page, create_api_token; the relay's batches and its restorer of streamed
placeholders."""

import asyncio
import io

import pytest
from django.core.management import CommandError, call_command

from api import services
from api.models import ApiToken, digest
from api.relay import Relay, Restorer
from audit.models import AuditEvent
from chat.answering import Progress
from chat.pseudonyms import Pseudonymiser

QUERIES = 7  # session, user, its roles (navigation), the tokens; not one per token


def test_the_settings_page_shows_a_new_token_once_and_stores_only_its_hash(signed_in_now, member):
    client = signed_in_now(member)
    made = client.post("/settings/tokens/", {"name": "notebook", "expires_in_days": "30"})
    assert made.status_code == 200
    token = ApiToken.objects.get(user=member)
    secret = made.context["secret"]
    assert secret.startswith("stw_") and secret in made.content.decode()
    assert token.digest == digest(secret) and secret not in (token.lookup, token.digest)
    assert (token.expires_at - token.created_at).days == 30
    again = client.get("/settings/tokens/").content.decode()
    assert secret not in again and token.lookup in again
    assert made["Cache-Control"] == "no-store"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.API_TOKEN_CREATED).count() == 1


def test_htmx_gets_the_panel_only(signed_in_now, member):
    client = signed_in_now(member)
    response = client.post(
        "/settings/tokens/", {"name": "x", "expires_in_days": "0"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert ApiToken.objects.get(user=member).expires_at is None


def test_a_token_is_revoked_by_its_owner_only(client, member, outsider):
    token, secret = services.create_token(user=member, name="n", expires_in_days=None, actor=member)
    client.force_login(outsider)
    assert client.post(f"/settings/tokens/{token.public_id}/revoke/").status_code == 404
    client.force_login(member)
    assert client.post(f"/settings/tokens/{token.public_id}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.status == "revoked"
    with pytest.raises(services.TokenRefused, match="revoked"):
        services.authenticate(secret)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.API_TOKEN_REVOKED).count() == 1


def test_create_api_token_prints_the_token_once(member):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_token", member.email, "--name", "CI", "--expires", "7", stdout=out, stderr=err
    )
    secret = out.getvalue().strip()
    token = ApiToken.objects.get(user=member)
    assert token.name == "CI" and token.digest == digest(secret)
    assert services.authenticate(secret) == token
    event = AuditEvent.objects.get(action=AuditEvent.Action.API_TOKEN_CREATED)
    assert event.actor is None and event.actor_label == "manage.py create_api_token"
    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody@example.com", stdout=out, stderr=err)


def test_the_restorer_puts_back_placeholders_cut_between_chunks():
    pseudonymiser = Pseudonymiser()
    placeholder = pseudonymiser.placeholder("EMAIL_ADDRESS", "ann@example.com")
    restorer = Restorer(pseudonymiser)
    pieces = ["Write to ", placeholder[:3], placeholder[3:7], placeholder[7:] + " [sic] today", "."]
    out = "".join(restorer.feed(p) for p in pieces) + restorer.flush()
    assert out == "Write to ann@example.com [sic] today."
    assert restorer.feed("an unfinished [EM") == "an unfinished "
    assert restorer.flush() == "[EM"


def test_the_relay_hands_what_piled_up_to_its_reader_in_one_batch():
    relay = Relay(answer=None, messages=[], chunks_wanted=True)

    async def read() -> list[list]:
        batches = []
        async for batch in relay.batches():
            batches.append(batch)
            if batch == ["later"]:
                relay._hand_over(done)
        return batches

    async def scenario() -> list[list]:
        reading = asyncio.ensure_future(read())
        for text in ("one ", "two ", "three"):  # before the reader looks: one batch
            relay.chunk(text)
        await asyncio.sleep(0.01)
        relay.chunk("later")  # the reader waits: it comes alone
        return await reading

    done = Progress(text="one two three later")
    assert asyncio.run(scenario()) == [["one ", "two ", "three"], ["later"], [done]]


def test_the_relay_wakes_its_reader_once_for_what_piles_up():
    class Loop:
        wakes = 0

        def call_soon_threadsafe(self, callback):
            Loop.wakes += 1

    relay = Relay(answer=None, messages=[], chunks_wanted=True)
    relay._reader = (Loop(), asyncio.Event())
    for text in ("one ", "two ", "three"):
        relay.chunk(text)
    assert Loop.wakes == 1  # the reader, once woken, takes everything there is
    relay._items.clear()  # as the reader does
    relay.chunk("four")
    assert Loop.wakes == 2


def test_the_token_list_costs_the_same_however_many_tokens(
    client, member, django_assert_num_queries
):
    for number in range(5):
        services.create_token(user=member, name=f"t{number}", expires_in_days=None, actor=member)
    client.force_login(member)
    with django_assert_num_queries(QUERIES):
        client.get("/settings/tokens/")


def test_the_token_lookup_reads_what_the_orm_would(member, django_assert_num_queries):
    token, raw = services.create_token(user=member, name="ci", expires_in_days=30, actor=member)
    with django_assert_num_queries(2):  # the lookup, and its first use's last_used_at
        found = services.authenticate(raw)
    expected = ApiToken.objects.select_related("user").get(pk=token.pk)
    for field in ApiToken._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    for field in type(member)._meta.concrete_fields:
        assert getattr(found.user, field.attname) == getattr(expected.user, field.attname)
    assert found.user.is_active is True and found.expires_at.tzinfo is not None
    assert found._state.adding is False
    with pytest.raises(services.TokenRefused, match="Invalid"):
        services.authenticate(raw[:-1] + ("A" if raw[-1] != "A" else "B"))
    with pytest.raises(services.TokenRefused, match="Invalid"):
        services.authenticate("stw_nothing1here")


@pytest.mark.parametrize("groups", [0, 1, 2])
def test_the_token_lookup_reads_the_policy_version_as_read_version_would(
    member, groups, django_assert_num_queries
):
    """Every /v1 request read the version (with the user's groups) in a query of its own,
    right after the token's: now the token's query reads both."""
    from django.contrib.auth.models import Group, Permission

    from governance.policy_cache import read_version

    for number in range(groups):
        member.groups.add(Group.objects.create(name=f"Extra {number}"))
    if groups == 2:
        member.user_permissions.add(Permission.objects.first())
    _, raw = services.create_token(user=member, name="ci", expires_in_days=30, actor=member)
    services.authenticate(raw)  # its first use's last_used_at
    with django_assert_num_queries(1):
        found = services.authenticate(raw)
    assert found.policy_version == read_version(member.pk)
