import logging
import time

from allauth.account import app_settings as account_settings
from allauth.account import stages
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.authentication import get_authentication_records
from allauth.account.models import EmailAddress
from allauth.core.internal.httpkit import clean_client_ip
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import transaction
from django.urls import reverse

from config.mail import mail_error
from governance.account_notices import tokens_revoked_notice
from governance.models import User
from governance.roles import Role
from governance.services.accounts import (
    CHOOSES_PASSWORD,
    choose_password_path,
    confirm_address_by_single_sign_on,
    unconfirmed_sign_up,
)

logger = logging.getLogger(__name__)

# What allauth says of a password set through an emailed link: "changed", and a mail "reset".
CHANGE_NOTICES = ("account/messages/password_changed.txt", "account/email/password_reset")
#: allauth's "You have confirmed …".
CONFIRMED = "account/messages/email_confirmed.txt"


#: The sign-ins that count as confirming who it is, while recent.
SIGN_INS = ("password", "socialaccount")


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up is closed unless the site opens it: admins invite people."""

    def is_open_for_signup(self, request) -> bool:
        return settings.STEWARD_OPEN_SIGNUP

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """allauth's, its templates told whether people may sign up on their own (the
        unknown-address message says where to, or whom to ask)."""
        super().send_mail(
            template_prefix, email, {**context, "open_signup": self.is_open_for_signup(None)}
        )

    def get_login_redirect_url(self, request) -> str:
        """Staff who have yet to acknowledge the current policy read its summary first."""
        from training.services import needs_acknowledgement

        if request.user.has_perm(Role.STAFF.permission) and needs_acknowledgement(request.user):
            return reverse("training:acknowledge")
        return super().get_login_redirect_url(request)

    def get_login_stages(self) -> list[str]:
        """allauth's, its address check replaced by :class:`EmailVerificationStage`."""
        mended = f"{__name__}.{EmailVerificationStage.__name__}"
        return [
            mended if path == "allauth.account.stages.EmailVerificationStage" else path
            for path in super().get_login_stages()
        ]

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """allauth's answer, except that a password typed at sign-in (or a single sign-on)
        counts as one typed to reauthenticate, for as long as a reauthentication would
        (ACCOUNT_REAUTHENTICATION_TIMEOUT). allauth counts only its reauthentication page,
        so an admin's two-factor enrolment, which follows the first sign-in, asked for the
        password just typed."""
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        return not _signed_in_recently(self.request)

    def set_password(self, user, password: str) -> None:
        """Notes, for the rest of this request, an account's first password (an invitation's
        or create_admin's link): what allauth then says of a change is not said."""
        if self.request is not None and not user.has_usable_password():
            self.request.first_password_of = user.pk
        super().set_password(user, password)

    def confirm_email(self, request, email_address) -> bool:
        """allauth's, in one transaction with what its ``email_confirmed`` sets off
        (``governance.receivers``): an address saved verified while the identities linked
        before stayed linked would let them in to the owner's account."""
        with transaction.atomic():
            # Two confirmations at once (a double click, two tabs): the second waits here for
            # the first, then finds the address verified and, as allauth does for an address
            # it knows is, confirms nothing (no second event).
            # The row is locked whether or not it is verified yet: a lock taken only on a
            # verified row would let two first confirmations past each other.
            if email_address.pk is not None:
                row = EmailAddress.objects.select_for_update().filter(pk=email_address.pk)
                if row.values_list("verified", flat=True).first():
                    return False
            return super().confirm_email(request, email_address)

    def get_email_verification_redirect_url(self, email_address: EmailAddress) -> str:
        """allauth's, except after an owner proved an unconfirmed sign-up's address with
        nothing left to sign in with (``governance.receivers``): the page to choose their
        password, as a reset link opens it. The confirmation link proved the mailbox as a
        reset link does; the owner of a phone's mail app was sent to "Forgot password" and
        a second email instead."""
        if getattr(self.request, CHOOSES_PASSWORD, None) == email_address.user_id:
            return choose_password_path(User.objects.get(pk=email_address.user_id))
        return super().get_email_verification_redirect_url(email_address)

    def is_safe_url(self, url: str) -> bool:
        """allauth's, except that no ``next`` takes an owner who must now choose a password
        (see :meth:`get_email_verification_redirect_url`) anywhere else: they would be left
        with nothing to sign in with, and no word of how to."""
        if getattr(self.request, CHOOSES_PASSWORD, None) is not None:
            return False
        return super().is_safe_url(url)

    def add_message(self, request, level, message_template=None, *args, **kwargs) -> None:
        if message_template in CHANGE_NOTICES and _chose_first_password(request):
            return
        if message_template == CONFIRMED and getattr(request, CHOOSES_PASSWORD, None):
            return  # Steward's notice says it, and what to do next
        super().add_message(request, level, message_template, *args, **kwargs)

    def send_notification_mail(self, template_prefix: str, user, *args, **kwargs) -> None:
        """allauth's security notice, except the "password reset" one for a first password.
        A notice the mail server refuses is logged: the change it reports is already saved,
        and an error page would tell the person it failed."""
        if template_prefix in CHANGE_NOTICES and _chose_first_password(self.request, user):
            return
        try:
            super().send_notification_mail(template_prefix, user, *args, **kwargs)
        except Exception as exc:  # smtplib's, refused connections, TLS, a mail library's own
            said = mail_error(exc, user.email)
            logger.warning("Notice %s to %s not sent: %s", template_prefix, user.public_id, said)

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


class EmailVerificationStage(stages.EmailVerificationStage):
    """allauth's check that the address was confirmed from its mailbox
    (``ACCOUNT_EMAIL_VERIFICATION``: mandatory while sign-up is open), made also at every
    sign-in of an account whose address nobody has proved (:func:`unconfirmed_sign_up`), even
    once sign-up is closed: else closing it would let in whoever signed up under a colleague's
    address and never could confirm it.

    Single sign-on into such an account is asked too, unless the provider vouches for the
    address (its ``email_verified`` claim): one that lets people type their own address made,
    and signed in, an account under a colleague's. A provider that vouches proves the address
    (:func:`confirm_address_by_single_sign_on`)."""

    def handle(self):
        login = self.login
        mandatory = account_settings.EmailVerificationMethod.MANDATORY
        sociallogin = (login.signal_kwargs or {}).get("sociallogin")
        if sociallogin is not None:
            if unconfirmed_sign_up(login.user):
                if _vouches_for(sociallogin, login.user.email):
                    proof = confirm_address_by_single_sign_on(
                        user=login.user, account=sociallogin.account
                    )
                    if proof.api_tokens_revoked:
                        said = tokens_revoked_notice(proof.api_tokens_revoked)
                        messages.info(self.request, said, fail_silently=True)
                else:
                    login.email_verification = mandatory
        elif login.email_verification != mandatory and unconfirmed_sign_up(login.user):
            login.email_verification = mandatory
        return super().handle()


def _vouches_for(sociallogin, address: str) -> bool:
    """Whether the provider said, at this sign-on, that ``address`` is verified."""
    return any(
        sent.verified and sent.email.lower() == address.lower()
        for sent in sociallogin.email_addresses
    )


def _chose_first_password(request, user=None) -> bool:
    chosen_by = getattr(request, "first_password_of", None)
    return chosen_by is not None and (user is None or user.pk == chosen_by)


def _signed_in_recently(request) -> bool:
    """The session's latest sign-in with a password, or through single sign-on (the
    company's identity provider checked who it is), is recent (allauth's authentication
    records). A password reset or a sign-in code is not a password typed, and does not
    count."""
    if request is None or not request.user.is_authenticated:
        return False
    records = get_authentication_records(request, request.user)
    typed = [record["at"] for record in records if record.get("method") in SIGN_INS]
    return bool(typed) and time.time() - typed[-1] < account_settings.REAUTHENTICATION_TIMEOUT


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Single sign-on logs existing users in; it creates accounts only if allowed."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return settings.STEWARD_OIDC_AUTO_SIGNUP
