import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def execute_request(request_id: int) -> None:
    """Carry out an approved data-subject request. A second delivery finds it claimed and
    steps aside, unless its worker was lost (a stale heartbeat): then it takes it over."""
    from privacy import execution

    execution.execute(request_id)


#: A purge that failed (a database error, its time limit) is tried again this much later, up
#: to this many times, rather than leaving expired content a day longer for the next run.
PURGE_RETRY_SECONDS = 15 * 60
PURGE_RETRIES = 3


@shared_task(ignore_result=True)
def purge_expired(purge_id: int | None = None, attempt: int = 0, after: int | None = None) -> None:
    """Beat (schedule editable on the privacy desk), a privacy officer's "Purge now"
    (``purge_id``: the run it opened), or the sweep taking over a run whose worker was lost.

    The run is claimed first: a copy of the task delivered again while it goes (every task
    is, after the visibility timeout) finds it claimed and steps aside. A run that ends
    failed, or whose recording failed too, is followed by a fresh run
    (:data:`PURGE_RETRY_SECONDS` later, :data:`PURGE_RETRIES` times at most; ``after``:
    the failed run, so that copies of the retry start one run); one still marked running
    then is marked interrupted, and audited, by it."""
    from privacy import purge
    from privacy.models import PurgeRun

    if purge_id is None:
        try:
            run = purge.start(after=after)
        except purge.PurgeBusy:
            return
    else:
        run = purge.claim(purge_id)
        if run is None:
            return  # another worker holds it, or it ended
    try:
        failed = purge.run(run).status == PurgeRun.Status.FAILED
    except Exception:
        log.exception("Purge %s could not be recorded", run.public_id)
        failed = True
    if failed and attempt < PURGE_RETRIES:
        purge_expired.apply_async(
            kwargs={"attempt": attempt + 1, "after": run.pk}, countdown=PURGE_RETRY_SECONDS
        )


@shared_task(ignore_result=True)
def remind_deadlines() -> None:
    """Beat, daily: tell the privacy officers which requests are due soon or overdue."""
    from privacy import reminders

    reminders.send()


@shared_task(ignore_result=True)
def recover_requests() -> None:
    """Beat, every minute: queue again requests whose task was lost; take over (or, out of
    attempts, fail) the ones whose worker was lost; and so for a purge run (its own sweep)."""
    from privacy import execution, purge

    execution.recover()
    purge.recover()


@shared_task(ignore_result=True)
def drop_expired_archives() -> None:
    """Beat, hourly: delete the access archives kept ARCHIVE_KEEP_DAYS since completion."""
    from privacy import archive

    archive.drop_expired()
