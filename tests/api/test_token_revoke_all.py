"""A password changed or reset revokes every token its owner has, each audited as a revoke
is; the tokens page revokes them all at once too."""

import io
import re

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from api import services
from api.models import ApiToken
from audit.models import AuditEvent
from governance.roles import Role
from tests.api.conftest import PASSWORD
from tests.factories import make_user

URL = "/settings/tokens/"
REVOKE_ALL = "/settings/tokens/revoke-all/"
NEW_PASSWORD = "New-Password-98765!"
REVOKED = AuditEvent.Action.API_TOKEN_REVOKED


def _two_active_one_revoked(token_for, user) -> tuple[list, ApiToken]:
    active = [token_for(user, name="laptop"), token_for(user, name="CI", expires_in_days=30)]
    old, _ = token_for(user, name="old")
    services.revoke_token(token=old, actor=user)
    old.refresh_from_db()
    return active, old


def _assert_revoked(active, *, message: str, actor) -> None:
    for token, secret in active:
        token.refresh_from_db()
        assert token.status == "revoked"
        with pytest.raises(services.TokenRefused, match="revoked"):
            services.authenticate(secret)
    events = AuditEvent.objects.filter(action=REVOKED, message=message)
    assert sorted(e.target_id for e in events) == sorted(str(t.public_id) for t, _ in active)
    for event in events:
        assert event.actor == actor
        assert event.before == {"status": "active"} and event.after["status"] == "revoked"


def _submitted(client, page, password: str):
    """The reset form posted as a browser would, its hidden fields included."""
    html = page.content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))
    data = {**hidden, "password1": password, "password2": password}
    return client.post(page.redirect_chain[-1][0], data, follow=True)


def _reset_link(body: str) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", body).group(1)


def test_a_token_made_from_a_stolen_session_dies_when_the_owner_changes_the_password(
    admin, token_for
):
    """The security review's case: the thief's session ends with the change, and now so
    does the token it made."""
    _, secret = token_for(admin, name="backup")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/governance/backends/").status_code == 200
    owner = Client()
    owner.post("/accounts/login/", {"login": admin.email, "password": PASSWORD})
    changed = owner.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    assert api.get("/api/governance/backends/").status_code == 401


def test_changing_the_password_revokes_every_active_token_and_audits_each(
    client, member, outsider, token_for
):
    active, old = _two_active_one_revoked(token_for, member)
    _, theirs = token_for(outsider)
    client.post("/accounts/login/", {"login": member.email, "password": PASSWORD})
    client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    _assert_revoked(active, message="The password was changed.", actor=member)
    assert ApiToken.objects.get(pk=old.pk).revoked_at == old.revoked_at  # once is enough
    assert AuditEvent.objects.filter(action=REVOKED).count() == 3
    assert services.authenticate(theirs).user == outsider  # nobody else's


def test_a_password_reset_revokes_every_active_token(client, member, token_for):
    active, _ = _two_active_one_revoked(token_for, member)
    client.post("/accounts/password/reset/", {"email": member.email})
    page = client.get(_reset_link(mail.outbox[-1].body), follow=True)
    done = _submitted(client, page, NEW_PASSWORD)
    assert "Your password is now changed." in done.content.decode()
    _assert_revoked(active, message="The password was reset.", actor=member)


def test_choosing_a_first_password_keeps_a_token_an_operator_made(client, db, token_for):
    """An invitation's link sets no password over another: there is nothing to take back
    (the only token such an account can have is one an operator made for it)."""
    person = make_user("new@example.com", Role.STAFF, password=None)
    token, secret = token_for(person, name="CI")
    key = f"{user_pk_to_url_str(person)}-{default_token_generator.make_token(person)}"
    link = f"/accounts/password/reset/key/{key}/"
    done = _submitted(client, client.get(link, follow=True), NEW_PASSWORD)
    assert done.status_code == 200
    person.refresh_from_db()
    assert person.check_password(NEW_PASSWORD)
    assert services.authenticate(secret) == token


def test_revoke_all_revokes_every_active_token_of_the_person_only(
    client, member, outsider, token_for
):
    active, _ = _two_active_one_revoked(token_for, member)
    _, theirs = token_for(outsider)
    client.force_login(member)
    page = client.get(URL).content.decode()
    assert f'action="{REVOKE_ALL}"' in page and "hx-confirm=" in page
    response = client.post(REVOKE_ALL)
    assert response.status_code == 302 and response["Location"] == URL
    _assert_revoked(active, message="Revoked with all the others on the API tokens page.",
                    actor=member)  # fmt: skip
    assert services.authenticate(theirs).user == outsider
    assert "2 tokens revoked" in client.get(URL).content.decode()


def test_revoke_all_with_htmx_answers_the_panel_with_its_confirmation(client, member, token_for):
    token_for(member)
    client.force_login(member)
    response = client.post(REVOKE_ALL, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="token-panel"' in html and "1 token revoked" in html
    assert f'action="{REVOKE_ALL}"' not in html  # nothing left to revoke


def test_revoke_all_is_offered_while_several_tokens_are_active(client, member, token_for):
    """With one, it would only repeat the row's own Revoke."""
    client.force_login(member)
    first, _ = token_for(member)
    assert f'action="{REVOKE_ALL}"' not in client.get(URL).content.decode()
    token_for(member)
    assert f'action="{REVOKE_ALL}"' in client.get(URL).content.decode()
    services.revoke_token(token=first, actor=member)
    assert f'action="{REVOKE_ALL}"' not in client.get(URL).content.decode()


def test_revoke_all_takes_a_post_with_its_csrf_token_only(member, token_for):
    token, _ = token_for(member)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.get(REVOKE_ALL).status_code == 405
    assert client.post(REVOKE_ALL).status_code == 403
    assert ApiToken.objects.get(pk=token.pk).status == "active"


def test_revoke_api_tokens_revokes_a_persons_tokens_for_an_operator(member, token_for):
    """After ``manage.py changepassword`` (Django's own, which tells allauth nothing)."""
    active, _ = _two_active_one_revoked(token_for, member)
    out = io.StringIO()
    call_command("revoke_api_tokens", member.email, stdout=out)
    assert "2 tokens revoked" in out.getvalue()
    _assert_revoked(active, message="Revoked by an operator (manage.py revoke_api_tokens).",
                    actor=None)  # fmt: skip
    assert set(
        AuditEvent.objects.filter(action=REVOKED, actor=None).values_list("actor_label", flat=True)
    ) == {"manage.py revoke_api_tokens"}
    with pytest.raises(CommandError):
        call_command("revoke_api_tokens", "nobody@example.com", stdout=out)


def _change_password(client, user):
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    return client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        follow=True,
    )


def test_the_password_form_warns_that_the_change_revokes_the_live_tokens(client, member, token_for):
    client.force_login(member)
    assert "revokes your" not in client.get("/accounts/password/change/").text
    token_for(member)
    assert (
        "Changing your password revokes your API token; a program using it will need a new one."
        in client.get("/accounts/password/change/").text
    )
    _two_active_one_revoked(token_for, member)
    assert (
        "Changing your password revokes your 3 API tokens; programs using them will need new ones."
        in client.get("/accounts/password/change/").text
    )


def test_the_changed_password_message_says_how_many_tokens_were_revoked(client, member, token_for):
    _two_active_one_revoked(token_for, member)
    page = _change_password(client, member).text
    assert "Password successfully changed." in page
    assert (
        "Your 2 API tokens were revoked with the old password; "
        "programs using them will need new ones." in page
    )


def test_a_password_change_without_tokens_says_nothing_of_them(client, member):
    page = _change_password(client, member).text
    assert "Password successfully changed." in page and "were revoked" not in page
