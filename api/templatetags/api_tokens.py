"""What the password form says of the API tokens a change would revoke."""

from django import template

from api.receivers import revoked_tokens_notice

register = template.Library()


@register.simple_tag
def tokens_a_password_change_revokes(user) -> str:
    """The warning for ``user``'s usable tokens, or "" when there are none."""
    count = user.api_tokens.usable().count()
    return revoked_tokens_notice(count, done=False) if count else ""
