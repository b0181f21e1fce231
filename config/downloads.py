"""A file for the browser to save, answered one way everywhere.

Caching needs nothing here: :class:`config.middleware.SessionLifetimeMiddleware` makes
every signed-in response ``no-store, private``.
"""

import datetime as dt
from collections.abc import Iterable

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header


def local_time(moment: dt.datetime | None) -> str:
    """A moment as downloads write times: ISO 8601, to the second, in the site's time zone
    ("" for none)."""
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""


def attachment(
    content: str | bytes | Iterable, *, filename: str, content_type: str, streamed: bool = False
) -> HttpResponse | StreamingHttpResponse:
    """``content`` as a download named ``filename`` (quoted, or RFC 5987-encoded when it is
    not plain ASCII); ``streamed`` sends an iterable as it is produced."""
    response_class = StreamingHttpResponse if streamed else HttpResponse
    response = response_class(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
