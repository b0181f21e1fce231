import time

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.authentication import get_authentication_records
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

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """allauth's answer, except that a password typed at sign-in counts as one typed to
        reauthenticate, for as long as a reauthentication would (ACCOUNT_REAUTHENTICATION_
        TIMEOUT). allauth counts only its reauthentication page, so an admin's two-factor
        enrolment, which follows the first sign-in, asked for the password just typed."""
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        return not _signed_in_with_password_recently(self.request)

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


def _signed_in_with_password_recently(request) -> bool:
    """The session's latest password sign-in (allauth's authentication records) is recent.
    A password reset or a sign-in code is not a password typed, and does not count."""
    if request is None or not request.user.is_authenticated:
        return False
    records = get_authentication_records(request, request.user)
    typed = [record["at"] for record in records if record.get("method") == "password"]
    return bool(typed) and time.time() - typed[-1] < account_settings.REAUTHENTICATION_TIMEOUT


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Single sign-on logs existing users in; it creates accounts only if allowed."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return settings.STEWARD_OIDC_AUTO_SIGNUP
