from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def open_signup() -> bool:
    """Whether people may make an account on their own (``STEWARD_OPEN_SIGNUP``): the sign-in
    page then offers it instead of sending them to ask for an invitation."""
    return settings.STEWARD_OPEN_SIGNUP


@register.simple_tag
def single_sign_on() -> bool:
    """Whether single sign-on is set up (``STEWARD_OIDC_SERVER_URL``): the account menu then
    names its page. From the settings, as Steward configures it, where allauth's
    ``get_providers`` would read its database table on every account page."""
    return bool(settings.SOCIALACCOUNT_PROVIDERS)
