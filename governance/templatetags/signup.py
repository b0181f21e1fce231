from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def open_signup() -> bool:
    """Whether people may make an account on their own (``STEWARD_OPEN_SIGNUP``): the sign-in
    page then offers it instead of sending them to ask for an invitation."""
    return settings.STEWARD_OPEN_SIGNUP
