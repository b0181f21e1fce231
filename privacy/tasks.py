from celery import shared_task


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def execute_request(request_id: int) -> None:
    """Carry out an approved data-subject request (a second delivery finds it claimed)."""
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
