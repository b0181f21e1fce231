from celery import shared_task

from audit import services


@shared_task(ignore_result=True)
def checkpoint() -> None:
    """Beat: sign the chain's head."""
    services.create_checkpoint()


@shared_task(ignore_result=True)
def verify_chain(actor_id: int | None = None) -> None:
    """Beat (and the auditor's "verify now"): walk the chain and record the result."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    services.run_verification(actor=actor)
