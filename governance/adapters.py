from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up is closed unless the site opens it: admins invite people."""

    def is_open_for_signup(self, request) -> bool:
        return settings.STEWARD_OPEN_SIGNUP


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Single sign-on logs existing users in; it creates accounts only if allowed."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return settings.STEWARD_OIDC_AUTO_SIGNUP
