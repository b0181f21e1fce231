"""Steward's own deployment checks (``manage.py check --deploy``): settings Steward runs
without, yet should not be deployed without."""

from django.conf import settings
from django.core import checks


@checks.register("steward", deploy=True)
def check_privacy_contact(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every access copy names who answers for the data (GDPR Art. 13 and 15); without a
    contact it can only point the person at "the privacy team"."""
    if settings.STEWARD_PRIVACY_CONTACT:
        return []
    return [
        checks.Warning(
            "STEWARD_PRIVACY_CONTACT is not set: access copies cannot say who answers for "
            "the data nor how to reach them.",
            hint="Set it to the controller and its data protection officer's contact, e.g. "
            "'Example Ltd, Data Protection Officer, dpo@example.com'.",
            id="steward.W201",
        )
    ]
