from celery import shared_task
from django.db import InterfaceError, OperationalError

# chat.answering is imported inside the tasks: it loads the vendors' clients (seconds of
# imports, tens of MB) that only workers need; the web process imports this module to enqueue.

#: Past the soft limit the answer is stopped and failed (chat.answering checks it as chunks
#: arrive, since a threads pool, as ``manage.py serve`` runs, has no Celery time limits); in
#: a prefork pool, Celery's hard limit also kills a worker that did not stop.
ANSWER_SOFT_LIMIT_SECONDS = 600
ANSWER_HARD_LIMIT_SECONDS = 660


@shared_task(
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=ANSWER_SOFT_LIMIT_SECONDS,
    time_limit=ANSWER_HARD_LIMIT_SECONDS,
    # The database out of reach for a moment (a restart, a fail-over, "too many clients"):
    # tried again for about a minute and a half. The task that failed is acknowledged, so
    # without this a QUEUED answer waited for the sweeper to fail it, 15 minutes on; one
    # that failed later, its attempt begun, is taken over (answering.generate_answer).
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=16,
    max_retries=8,
)
def generate_answer(message_id: int) -> None:
    """One answer; delivered twice, it still produces one (see answering.generate_answer)."""
    from chat import answering

    answering.generate_answer(message_id)


@shared_task(ignore_result=True)
def sweep_answers() -> None:
    """Beat: re-queue answers the broker never got, fail answers whose worker was lost."""
    from chat import answering

    answering.sweep()
