"""The Single sign-on page (allauth's connections, in Steward's words) and the audit events
of an identity linked to an account or unlinked from it."""

from allauth.socialaccount.models import SocialAccount
from django.core import mail

from audit.models import AuditEvent
from tests.factories import make_user
from tests.security.test_sso_unverified_address import _signs_in_with_single_sign_on

PAGE = "/accounts/3rdparty/"
PASSWORD = "a-long-enough-password-77"


def _signed_in(client, email="lin@example.com"):
    user = make_user(email, password=PASSWORD)
    client.force_login(user)
    return user


def test_without_single_sign_on_the_page_says_so_and_the_menu_leaves_it_out(client, db):
    _signed_in(client)
    page = client.get(PAGE).content.decode()
    assert "<h1>Single sign-on</h1>" in page
    assert "Single sign-on is not set up on this Steward" in page
    assert "Add a Third-Party Account" not in page  # allauth's heading, with nothing under it
    assert f'href="{PAGE}"' not in page  # no menu entry for a page with nothing to do


def test_with_single_sign_on_it_offers_to_link_and_the_menu_names_it(client, db, single_sign_on):
    _signed_in(client)
    page = client.get(PAGE).content.decode()
    assert "Link with Contoso SSO" in page and "process=connect" in page
    assert f'href="{PAGE}"' in page  # the account menu
    assert "No identity is linked to your account" in page


def test_an_identity_linked_at_a_first_sign_on_is_audited(db, single_sign_on):
    user = make_user("lin@example.com", password=PASSWORD)
    _signs_in_with_single_sign_on("lin@example.com", uid="lin-at-the-idp")
    assert SocialAccount.objects.filter(user=user, uid="lin-at-the-idp").exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.IDENTITY_LINKED)
    assert event.target_id == str(user.public_id) and event.details == {"provider": "sso"}
    (notice,) = [m for m in mail.outbox if "identity" in m.subject]
    assert notice.subject == "[Steward] Single sign-on identity linked"
    assert "An identity at Contoso SSO was linked to your account" in notice.body


def test_a_linked_identity_is_listed_and_unlinking_it_is_audited(client, db, single_sign_on):
    user = _signed_in(client)
    identity = SocialAccount.objects.create(user=user, provider="sso", uid="lin-at-the-idp")
    page = client.get(PAGE).content.decode()
    assert f'value="{identity.pk}"' in page and ">Unlink</button>" in page

    client.post(PAGE, {"account": identity.pk})

    assert not SocialAccount.objects.filter(pk=identity.pk).exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.IDENTITY_UNLINKED)
    assert event.target_id == str(user.public_id) and event.details == {"provider": "sso"}
    (notice,) = mail.outbox
    assert notice.subject == "[Steward] Single sign-on identity unlinked"
    assert "An identity at Contoso SSO was unlinked from your account" in notice.body


def test_the_last_identity_of_an_account_without_a_password_stays_and_the_page_says_why(
    client, db, single_sign_on
):
    user = _signed_in(client)
    user.set_unusable_password()
    user.save()
    client.force_login(user)
    identity = SocialAccount.objects.create(user=user, provider="sso", uid="only-way-in")

    page = client.post(PAGE, {"account": identity.pk}).content.decode()

    assert SocialAccount.objects.filter(pk=identity.pk).exists()
    assert 'class="form-error" role="alert"' in page
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.IDENTITY_UNLINKED).exists()
