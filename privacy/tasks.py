from celery import shared_task


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def execute_request(request_id: int) -> None:
    """Carry out an approved data-subject request. A second delivery finds it claimed and
    steps aside, unless its worker was lost (a stale heartbeat): then it takes it over."""
    from privacy import execution

    execution.execute(request_id)


@shared_task(ignore_result=True)
def purge_expired(purge_id: int | None = None) -> None:
    """Beat (schedule editable on the privacy desk), or a privacy officer's "Purge now"."""
    from privacy import purge
    from privacy.models import PurgeRun

    if purge_id is None:
        try:
            run = purge.start()
        except purge.PurgeBusy:
            return
    else:
        run = PurgeRun.objects.filter(pk=purge_id, status=PurgeRun.Status.RUNNING).first()
        if run is None:
            return
    purge.run(run)


@shared_task(ignore_result=True)
def remind_deadlines() -> None:
    """Beat, daily: tell the privacy officers which requests are due soon or overdue."""
    from privacy import reminders

    reminders.send()


@shared_task(ignore_result=True)
def recover_requests() -> None:
    """Beat, every minute: queue again requests whose task was lost; take over (or, out of
    attempts, fail) the ones whose worker was lost."""
    from privacy import execution

    execution.recover()


@shared_task(ignore_result=True)
def drop_expired_archives() -> None:
    """Beat, hourly: delete the access archives kept ARCHIVE_KEEP_DAYS since completion."""
    from privacy import archive

    archive.drop_expired()
