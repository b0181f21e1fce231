from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal.httpkit import clean_client_ip
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
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

    def get_client_ip(self, request) -> str:
        """allauth's answer, except that an X-Forwarded-For shorter than the trusted proxies
        (a request that came through only the inner one) gives the deepest address a trusted
        proxy wrote: allauth raised ImproperlyConfigured, a 500 anyone could cause."""
        try:
            return super().get_client_ip(request)
        except ImproperlyConfigured:
            forwarded = request.headers.get("x-forwarded-for", "").split(",")
            ip = clean_client_ip(forwarded[0])
            if not ip:
                raise PermissionDenied("Unable to determine client IP address") from None
            return ip


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Single sign-on logs existing users in; it creates accounts only if allowed."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return settings.STEWARD_OIDC_AUTO_SIGNUP
