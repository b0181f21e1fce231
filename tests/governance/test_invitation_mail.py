"""The invitation email, as its recipient sees it in their inbox."""

from django.core import mail

from governance.roles import Role
from governance.services import invite_user


def test_the_invitations_subject_names_steward_once(admin, django_capture_on_commit_callbacks):
    """The site's prefix names Steward already: "[Steward] You are invited to Steward"."""
    with django_capture_on_commit_callbacks(execute=True):
        invite_user(
            email="sean@example.com",
            full_name="Seán O'Brien",
            roles=[Role.STAFF],
            actor=admin,
            base_url="http://testserver",
        )
    (invitation,) = mail.outbox
    assert invitation.subject == "[Steward] You are invited"
