"""Single sign-on into an account that open sign-up made under someone's address: the person
signs in by their provider's address, allauth locks out the account's password, and the API
tokens its maker took stop working too (else they would act with every role given later)."""

from allauth.account.models import EmailAddress
from allauth.core import context
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import complete_social_login
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from api.models import ApiToken
from api.services import create_token
from audit.models import AuditEvent
from governance.models import User
from tests.factories import make_user

ADDRESS = "victim@corp.example"


def _signs_in_with_single_sign_on(
    address: str, *, uid: str = "person-at-the-idp", vouched: bool = True
):
    """The provider's callback, done: the person ``uid``, sending ``address`` with its
    ``email_verified`` claim ``vouched``."""
    request = RequestFactory().get("/accounts/oidc/sso/login/callback/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    request.user = AnonymousUser()
    sociallogin = SocialLogin(
        user=User(email=address),
        account=SocialAccount(provider="sso", uid=uid, extra_data={}),
        email_addresses=[EmailAddress(email=address, verified=vouched, primary=True)],
    )
    with context.request_context(request):
        sociallogin.provider = get_adapter().get_provider(request, provider="sso")
        complete_social_login(request, sociallogin)
    return request


def test_tokens_of_an_account_made_under_someone_elses_address_stop_working(
    client, db, settings, single_sign_on
):
    settings.STEWARD_OPEN_SIGNUP = True
    password = "typed-by-someone-else-9931"
    signed_up = {"email": ADDRESS, "password1": password, "password2": password}
    client.post("/accounts/signup/", signed_up)
    made = User.objects.get(email=ADDRESS)
    token, _ = create_token(user=made, name="kept for later", expires_in_days=None, actor=made)

    request = _signs_in_with_single_sign_on(ADDRESS)

    made.refresh_from_db()
    assert SocialAccount.objects.filter(user=made).exists()  # the person is in that account
    assert not made.has_usable_password()  # allauth locked out its maker's password
    assert ApiToken.objects.get(pk=token.pk).status == "revoked"
    event = AuditEvent.objects.get(action=AuditEvent.Action.API_TOKEN_REVOKED)
    assert "never verified" in event.message
    told = [str(message) for message in request._messages]
    assert any("before you signed in with single sign-on were revoked" in m for m in told)


def test_tokens_of_an_invited_account_stay_when_it_first_signs_in_with_single_sign_on(
    db, single_sign_on
):
    invited = make_user(ADDRESS)
    EmailAddress.objects.create(user=invited, email=ADDRESS, primary=True, verified=True)
    token, _ = create_token(user=invited, name="mine", expires_in_days=None, actor=invited)

    _signs_in_with_single_sign_on(ADDRESS)

    assert SocialAccount.objects.filter(user=invited).exists()
    assert ApiToken.objects.get(pk=token.pk).status == "active"
