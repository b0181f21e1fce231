"""The public holidays that are not business days, from ``STEWARD_HOLIDAYS``.

``STEWARD_HOLIDAYS`` names a country and, optionally, its subdivision as the ``holidays``
library spells them (``US-CA``, ``DE-BY``, ``GB-ENG``, ``FR``). Unset, there is no calendar:
public holidays count as business days, and a day counted in business days errs early.
"""

import datetime as dt
import functools
from collections.abc import Container

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@functools.cache
def calendar_of(spec: str) -> Container[dt.date]:
    """The holidays ``spec`` names; refused in words when the library knows no such place.
    Kept: settings check the one they name, and deadlines read it."""
    import holidays  # only where a calendar is asked for: the library is large

    country, _, subdivision = spec.strip().upper().partition("-")
    try:
        return holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError as exc:
        raise ImproperlyConfigured(
            f"STEWARD_HOLIDAYS={spec!r}: {exc}. Give a country's two-letter code and, if its "
            "holidays differ by region, the region's: US-CA, DE-BY, GB-ENG."
        ) from None


def public_holidays() -> Container[dt.date]:
    """This installation's public holidays (none when ``STEWARD_HOLIDAYS`` is unset)."""
    spec = settings.STEWARD_HOLIDAYS
    return calendar_of(spec) if spec else frozenset()
