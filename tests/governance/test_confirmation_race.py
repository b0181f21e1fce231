"""Two confirmations of one address at once (a double click, two tabs), really at once.

Two browsers follow the link that confirms an unconfirmed sign-up's address at the same
moment, each request on its own database connection. The first to confirm holds the address
row (``governance.adapters.AccountAdapter.confirm_email`` locks it) until the second is seen
waiting for it; the second then finds the address verified and confirms nothing: one event,
and what the sign-up's maker set up ended once.
"""

import threading

import pytest
from allauth.account.models import EmailAddress
from allauth.account.signals import email_confirmed
from allauth.socialaccount.models import SocialAccount
from django.db import connection
from django.test import Client

from api.models import ApiToken
from api.services import create_token
from audit.models import AuditEvent
from tests.governance.test_identities_after_confirmation import (
    _ended,
    _mailed,
    _squatted,
    single_sign_on,  # noqa: F401
)

#: How long a thread waits for the other (a state it waits for, not a pause): only a bug
#: makes it run out.
PATIENCE = 30


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="SQLite lets one writer at a time in: two confirmations cannot overlap there",
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("single_sign_on")
def test_two_confirmations_at_once_record_one_event_and_end_things_once():
    made = _squatted()  # an identity linked by whoever typed the address
    link = _mailed("/accounts/confirm-email/")
    for name in ("one", "two"):
        create_token(user=made, name=name, expires_in_days=None, actor=made)
    go = threading.Barrier(2)
    first, seen_waiting, responses, failures = threading.Lock(), [], {}, []

    def holds_the_lock_until_the_other_waits(sender, **kwargs) -> None:
        # Inside the first confirmation's transaction, its lock on the address held.
        if first.acquire(blocking=False):
            seen_waiting.append(_wait_for_one_blocked_by_this_connection())

    def confirms(index: int) -> None:
        try:
            browser = Client()
            go.wait(PATIENCE)
            responses[index] = browser.post(link)
        except Exception as exc:  # pragma: no cover - the failure is the assertion below
            failures.append(exc)
        finally:
            connection.close()

    email_confirmed.connect(holds_the_lock_until_the_other_waits)
    try:
        threads = [threading.Thread(target=confirms, args=(index,)) for index in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(PATIENCE * 2)
    finally:
        email_confirmed.disconnect(holds_the_lock_until_the_other_waits)

    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert [response.status_code for response in responses.values()] == [302, 302], responses
    # They overlapped: the second waited for the address row the first held.
    assert len(seen_waiting) == 1 and '"account_emailaddress"' in seen_waiting[0], seen_waiting
    events = AuditEvent.objects.filter(target_id=str(made.public_id))
    confirmed = events.filter(action=AuditEvent.Action.ADDRESS_CONFIRMED)
    assert list(confirmed.values_list("details", flat=True)) == [_ended(identities=1, tokens=2)]
    assert events.filter(action=AuditEvent.Action.IDENTITY_UNLINKED).count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.API_TOKEN_REVOKED).count() == 2
    assert not ApiToken.objects.filter(user=made, revoked_at__isnull=True).exists()
    assert not SocialAccount.objects.filter(user=made).exists()
    assert EmailAddress.objects.get(user=made).verified


def _wait_for_one_blocked_by_this_connection() -> str:
    """Until another connection waits for a lock this one holds: the statement it waits
    in ("" if none did within PATIENCE seconds)."""
    pause = threading.Event()
    with connection.cursor() as cursor:
        for _ in range(PATIENCE * 20):
            # PostgreSQL keeps what a transaction first read of pg_stat_activity until it ends:
            # read it afresh (another statement, or another connection, since).
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT query FROM pg_stat_activity "
                "WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"
            )
            waiting = cursor.fetchone()
            if waiting:
                return waiting[0]
            pause.wait(0.05)
    return ""
