"""Plain-text emails show what people wrote as written: no HTML entities."""

from pathlib import Path

from django.conf import settings
from django.core import mail

from governance.roles import Role
from governance.services import invite_user


def test_the_invitation_shows_names_as_written(admin, django_capture_on_commit_callbacks):
    admin.full_name = "Ada O'Neill & Partners"
    admin.save(update_fields=["full_name"])
    with django_capture_on_commit_callbacks(execute=True):
        invite_user(
            email="sean@example.com",
            full_name="Seán O'Brien",
            roles=[Role.STAFF],
            actor=admin,
            base_url="http://testserver",
        )
    # The site's prefix names Steward already: "[Steward] You are invited to Steward" did twice.
    assert mail.outbox[0].subject == "[Steward] You are invited"
    body = mail.outbox[0].body
    assert "Hello Seán O'Brien," in body
    assert "Ada O'Neill & Partners has invited you" in body


def test_every_text_email_turns_html_escaping_off():
    """Django escapes for HTML by default, which a text/plain email shows literally."""
    templates = sorted(Path(settings.BASE_DIR, "templates").glob("*/email/*.txt"))
    assert templates
    for template in templates:
        text = template.read_text()
        assert text.startswith("{% autoescape off %}"), template
        assert text.rstrip().endswith("{% endautoescape %}"), template
