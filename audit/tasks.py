from collections.abc import Iterator
from contextlib import contextmanager

from celery import shared_task
from django.core.cache import cache

from audit import services

#: While a verification runs, another copy of the task steps aside: the broker hands an
#: acks-late task out again after its visibility timeout (30 s), and a trail of millions
#: of events takes longer to walk than that. The hold outlives a worker killed mid-walk by
#: an hour at most.
VERIFYING_KEY = "audit:verifying"
VERIFYING_HOLD_SECONDS = 3600
#: An auditor's check of an uploaded file walks the chain too, but its result is not the
#: trail's verification: it has a hold of its own, so that beat never steps aside for it.
CHECKING_UPLOAD_KEY = "audit:checking-upload"
#: One removal of old names and addresses at a time (a task handed out again, say).
REMOVING_KEY = "audit:removing-personal-values"


@contextmanager
def verifying_alone() -> Iterator[bool]:
    """Whether the caller may walk the chain now (False: another walk is on its way, and
    records its own result); the hold is let go when the block ends."""
    with _alone(VERIFYING_KEY) as held:
        yield held


@contextmanager
def checking_upload_alone() -> Iterator[bool]:
    """Whether an uploaded file may be checked now: one at a time, and none while the
    trail's verification walks (so at most two walks at once, one of them beat's)."""
    if cache.get(VERIFYING_KEY):
        yield False
        return
    with _alone(CHECKING_UPLOAD_KEY) as held:
        yield held


@contextmanager
def _alone(key: str) -> Iterator[bool]:
    held = cache.add(key, True, timeout=VERIFYING_HOLD_SECONDS)
    try:
        yield held
    finally:
        if held:
            cache.delete(key)


@shared_task(ignore_result=True)
def checkpoint() -> None:
    """Beat: sign the chain's head (and, once it is committed, copy it off the machine)."""
    services.create_checkpoint()


@shared_task(ignore_result=True)
def remove_personal_values() -> None:
    """Beat, daily: remove the names and addresses of events older than
    STEWARD_AUDIT_PERSONAL_DAYS (audit.personal)."""
    from audit import personal

    with _alone(REMOVING_KEY) as alone:
        if alone:
            personal.remove_old_values()


@shared_task(ignore_result=True)
def verify_chain(actor_id: int | None = None) -> None:
    """Beat (and the auditor's "verify now"): walk the chain and record the result."""
    from django.contrib.auth import get_user_model

    with verifying_alone() as alone:
        if not alone:
            return  # one is walking the chain now: it records the result
        actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
        services.run_verification(actor=actor)
