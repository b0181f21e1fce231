from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.urls import reverse

from governance.roles import Role


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up is closed unless the site opens it: admins invite people."""

    def is_open_for_signup(self, request) -> bool:
        return settings.STEWARD_OPEN_SIGNUP

    def get_login_redirect_url(self, request) -> str:
        """Staff who have yet to acknowledge the current policy read its summary first."""
        from training.services import needs_acknowledgement

        if request.user.has_perm(Role.STAFF.permission) and needs_acknowledgement(request.user):
            return reverse("training:acknowledge")
        return super().get_login_redirect_url(request)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Single sign-on logs existing users in; it creates accounts only if allowed."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return settings.STEWARD_OIDC_AUTO_SIGNUP
