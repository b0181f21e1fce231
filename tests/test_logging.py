"""Logs carry no message text: exception messages are withheld, frames are kept."""

import logging
import sys

from config.middleware import WithholdExceptionText


def test_it_keeps_the_frames_and_withholds_the_exception_text():
    written = "".join(["Mail jane", ".roe@example.org the con", "tract"])
    try:
        int(written)
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
        record.exc_info = sys.exc_info()
    assert WithholdExceptionText().filter(record)
    line = logging.Formatter().format(record)
    assert "jane.roe" not in line and "contract" not in line
    assert "builtins.ValueError: [text withheld]" in line
    assert "test_it_keeps_the_frames" in line  # where it happened is still there


def test_the_configured_handler_withholds_it():
    from django.conf import settings

    assert "withhold_exception_text" in settings.LOGGING["handlers"]["stderr"]["filters"]
