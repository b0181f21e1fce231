"""Retention at scale: purge a million expired messages while chat keeps writing; scope a subject.

Runs against a throw-away database (test_<name>) on whatever DATABASE_URL
points at. The figures that matter are PostgreSQL's (the filler uses
generate_series); on SQLite it says so and stops.

Prints: seconds to purge BENCH_RETENTION_MESSAGES expired messages (default
1,000,000, in conversations of 20), the longest and p99 wait of a chat write
running beside it, and seconds to scope a subject across them.
"""

import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from audit.services import pseudonym  # noqa: E402
from chat.models import Conversation, Message  # noqa: E402
from privacy import purge, scope  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_RETENTION_MESSAGES", 1_000_000))
PER_CONVERSATION = 20
RECENT_CONVERSATIONS = 200
MENTION_EVERY = 10  # one message in ten mentions someone
SUBJECT_MENTIONS = 50
SUBJECT = pseudonym("jane.roe@example.org")


def fill(category_id: int, owner_id: int) -> None:
    """Expired conversations with their messages and index rows, plus a few recent ones."""
    conversations = MESSAGES // PER_CONVERSATION
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO chat_conversation (public_id, owner_id, category_id, data_key_wrapped,
                title_sealed, pseudonyms_sealed, legal_hold, created_at, last_activity_at)
            SELECT gen_random_uuid(), %s, %s, '\\x00', '', '', false, now() - interval '400 days',
                   now() - make_interval(days => CASE WHEN g <= %s THEN 0 ELSE 400 END)
            FROM generate_series(1, %s) g
            """,
            [owner_id, category_id, RECENT_CONVERSATIONS, conversations + RECENT_CONVERSATIONS],
        )
        cursor.execute(
            f"""
            INSERT INTO chat_message ({", ".join(_message_columns())})
            SELECT {", ".join(_message_values())}
            FROM chat_conversation c CROSS JOIN generate_series(1, %s) n
            """,
            [PER_CONVERSATION],
        )
        cursor.execute(
            """
            INSERT INTO chat_subjectmention (digest, kind, conversation_id, message_id, created_at)
            SELECT CASE WHEN m.id %% %s = 0 AND m.id / %s <= %s THEN %s ELSE md5(m.id::text) END,
                   'EMAIL_ADDRESS', m.conversation_id, m.id, now()
            FROM chat_message m WHERE m.id %% %s = 0
            """,
            [MENTION_EVERY, MENTION_EVERY, SUBJECT_MENTIONS, SUBJECT, MENTION_EVERY],
        )
        cursor.execute("ANALYZE")


def _message_columns() -> list[str]:
    return [f.column for f in Message._meta.concrete_fields if f.column != "id"]


def _message_values() -> list[str]:
    special = {
        "public_id": "gen_random_uuid()",
        "conversation_id": "c.id",
        "role": "CASE WHEN n %% 2 = 1 THEN 'user' ELSE 'assistant' END",
        "status": "'done'",
        "content_sealed": "'\\x0102030405060708090a0b0c0d0e0f'::bytea",
        "created_at": "c.last_activity_at",
        "category_number": "2",
        "chars": "120",
    }
    values = []
    for field in Message._meta.concrete_fields:
        if field.column == "id":
            continue
        if field.column in special:
            values.append(special[field.column])
        elif field.null:
            values.append("NULL")
        elif field.get_internal_type() == "JSONField":
            values.append("'[]'::jsonb" if field.default is list else "'{}'::jsonb")
        elif field.get_internal_type() == "BinaryField":
            values.append("''::bytea")
        elif field.get_internal_type().endswith("IntegerField"):
            values.append("0")
        else:
            values.append("''")
    return values


def chat_writer(stop: threading.Event, waits: list[float]) -> None:
    """What chat does per message: lock a live conversation, add a row, touch its activity."""
    recent = list(
        Conversation.objects.filter(
            last_activity_at__gte=timezone.now() - timezone.timedelta(days=1)
        ).values_list("pk", flat=True)[:RECENT_CONVERSATIONS]
    )
    i = 0
    while not stop.is_set():
        pk = recent[i % len(recent)]
        i += 1
        start = time.perf_counter()
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().get(pk=pk)
            Message.objects.create(
                conversation=conversation, role="user", status="sent", category_number=2
            )
            Conversation.objects.filter(pk=pk).update(last_activity_at=timezone.now())
        waits.append(time.perf_counter() - start)
        time.sleep(0.01)
    connection.close()


def main() -> None:
    from django.test.utils import setup_test_environment

    from tests.factories import make_category, make_user

    if connection.vendor != "postgresql":
        print("bench/retention.py needs PostgreSQL (set DATABASE_URL); SQLite has one writer.")
        return
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        category = make_category(number=2, slug="internal", name="Internal", retention_days=30)
        owner = make_user("bench-owner@example.com")
        start = time.perf_counter()
        fill(category.pk, owner.pk)
        total = Message.objects.count()
        took = time.perf_counter() - start
        print(f"database: postgresql; filled {total:,} messages in {took:.1f} s")

        timings = []
        for _ in range(5):
            start = time.perf_counter()
            found = scope.scope_of(digests=[SUBJECT], subject_user_id=None)
            timings.append(time.perf_counter() - start)
        mentions = found["mentions"]
        print(
            f"scope a subject across {total:,} messages: "
            f"median {statistics.median(timings) * 1000:.1f} ms (found {mentions['messages']} "
            f"messages in {mentions['conversations']} conversations)"
        )

        stop, waits = threading.Event(), []
        writer = threading.Thread(target=chat_writer, args=(stop, waits))
        writer.start()
        start = time.perf_counter()
        run = purge.run(purge.start())
        elapsed = time.perf_counter() - start
        stop.set()
        writer.join()
        waits.sort()
        p99 = waits[int(len(waits) * 0.99)] if waits else 0
        print(
            f"purge: {run.deleted_messages:,} messages in {run.done_conversations:,} "
            f"conversations in {elapsed:.1f} s ({run.deleted_messages / elapsed:,.0f} "
            f"messages/s, status {run.status})"
        )
        print(
            f"chat writes beside it: {len(waits)} writes, "
            f"p50 {statistics.median(waits) * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, longest {waits[-1] * 1000:.1f} ms"
        )
        left = Message.objects.filter(
            conversation__last_activity_at__lt=timezone.now() - timezone.timedelta(days=30)
        ).count()
        print(f"expired messages left: {left}")
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
