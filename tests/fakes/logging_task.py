"""A task for a real worker to run (tests/test_logging.py): it logs as chat.answering does
when an answer fails unexpectedly, with an exception whose text quotes a message, and
then fails with it."""

import logging

from celery import shared_task

WRITTEN = "Mail jane.roe@example.org the merger contract"

logger = logging.getLogger("chat.answering")


@shared_task(name="tests.logging_task.fail")
def fail() -> None:
    logger.info("logging-task began")
    try:
        int(WRITTEN)
    except ValueError:
        logger.exception("answer x failed unexpectedly")
    raise ValueError(WRITTEN)
