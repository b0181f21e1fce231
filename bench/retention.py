"""Retention at scale: purge a million expired messages while chat keeps writing; scope a subject.

Runs against a throw-away database (test_<name>) on whatever DATABASE_URL
points at. The figures that matter are PostgreSQL's (the filler uses
generate_series); on SQLite it says so and stops.

Prints: seconds to purge BENCH_RETENTION_MESSAGES expired messages (default
1,000,000, in conversations of 20, spread over four categories), the longest and p99
wait of a chat write running beside it, and seconds to scope a subject across them.
Before the purge: the retention preview (the privacy desk's dry run, which every purge
starts with), and the scope of a busy subject mentioned in BENCH_RETENTION_BUSY
conversations (default 2,600) whose model calls are among BENCH_RETENTION_EVENTS
``chat.request`` audit events (default 100,000, 15 per busy conversation).
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

from audit.models import AuditEvent  # noqa: E402
from audit.services import pseudonym  # noqa: E402
from chat.models import Conversation, Message  # noqa: E402
from privacy import purge, scope  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_RETENTION_MESSAGES", 1_000_000))
PER_CONVERSATION = 20
RECENT_CONVERSATIONS = 200
MENTION_EVERY = 10  # one message in ten mentions someone
SUBJECT_MENTIONS = 50
SUBJECT = pseudonym("jane.roe@example.org")
CATEGORIES = 4
BUSY = int(os.environ.get("BENCH_RETENTION_BUSY", 2_600))
EVENTS = int(os.environ.get("BENCH_RETENTION_EVENTS", 100_000))
CALLS_PER_BUSY = 15
BUSY_SUBJECT = pseudonym("john.busy@example.org")


def fill(category_ids: list[int], owner_id: int) -> None:
    """Expired conversations (a category each in turn) with their messages and index rows,
    plus a few recent ones."""
    conversations = MESSAGES // PER_CONVERSATION
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO chat_conversation (public_id, owner_id, category_id, data_key_wrapped,
                title_sealed, pseudonyms_sealed, legal_hold, created_at, last_activity_at)
            SELECT gen_random_uuid(), %s, (%s::bigint[])[1 + g %% %s], '\\x00', '', '', false,
                   now() - interval '400 days',
                   now() - make_interval(days => CASE WHEN g <= %s THEN 0 ELSE 400 END)
            FROM generate_series(1, %s) g
            """,
            [
                owner_id,
                category_ids,
                len(category_ids),
                RECENT_CONVERSATIONS,
                conversations + RECENT_CONVERSATIONS,
            ],
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
        fill_busy_subject(cursor, conversations)
        cursor.execute("ANALYZE")


def fill_busy_subject(cursor, conversations: int) -> None:
    """BUSY_SUBJECT mentioned in the first message of BUSY conversations (evenly spread),
    and EVENTS ``chat.request`` events: CALLS_PER_BUSY in each of those conversations
    (on two backends; the mentioning message's call with the address replaced), the rest
    in any conversation. Chained with dummy hashes: nothing here verifies the chain."""
    every = max(1, conversations // BUSY)
    cursor.execute(
        """
        INSERT INTO chat_subjectmention (digest, kind, conversation_id, message_id, created_at)
        SELECT %s, 'EMAIL_ADDRESS', c.id, (SELECT min(m.id) FROM chat_message m
                                           WHERE m.conversation_id = c.id), now()
        FROM chat_conversation c WHERE c.id %% %s = 0 ORDER BY c.id LIMIT %s
        """,
        [BUSY_SUBJECT, every, BUSY],
    )
    cursor.execute(
        f"""
        WITH busy AS (
            SELECT s.conversation_id AS id, s.message_id FROM chat_subjectmention s
            WHERE s.digest = %s
        ), targets AS (
            SELECT b.id, CASE WHEN n = 1 THEN b.message_id END AS message_id
            FROM busy b CROSS JOIN generate_series(1, %s) n
            UNION ALL
            SELECT (SELECT min(id) FROM chat_conversation) + (g * 7919) %% %s, NULL
            FROM generate_series(1, greatest(%s - %s * (SELECT count(*) FROM busy), 0)) g
        )
        INSERT INTO audit_auditevent ({", ".join(_event_columns())})
        SELECT COALESCE((SELECT max(sequence) FROM audit_auditevent), 0)
                   + row_number() OVER (ORDER BY t.id),
               now(), NULL, 'bench', '', 'chat.request', 'success', 'chat.conversation',
               c.public_id::text, 'Conversation', 'Internal',
               CASE WHEN t.id %% 2 = 0 THEN 'Cloud API' ELSE 'Local model' END, NULL, NULL,
               jsonb_build_object(
                   'category_number', 2, 'decision', 'allowed', 'hosting_class', 'external',
                   'region', 'eu', 'findings', '[]'::jsonb, 'chars', 120,
                   'replaced', CASE WHEN t.message_id IS NULL THEN '{{}}'::jsonb
                                    ELSE '{{"EMAIL_ADDRESS": 1}}'::jsonb END,
                   'message', COALESCE(m.public_id::text, gen_random_uuid()::text)),
               '', repeat('0', 64), repeat('0', 64)
        FROM targets t JOIN chat_conversation c ON c.id = t.id
        LEFT JOIN chat_message m ON m.id = t.message_id
        """,
        [BUSY_SUBJECT, CALLS_PER_BUSY, conversations, EVENTS, CALLS_PER_BUSY],
    )


def _event_columns() -> list[str]:
    return [f.column for f in AuditEvent._meta.concrete_fields]


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


def median_ms(call, times: int):
    """The median of ``times`` runs of ``call``, in ms, and what its last run returned."""
    timings = []
    for _ in range(times):
        start = time.perf_counter()
        result = call()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000, result


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
        categories = [
            make_category(number=n, slug=f"bench-{n}", name=f"Bench {n}", retention_days=30)
            for n in range(1, CATEGORIES + 1)
        ]
        owner = make_user("bench-owner@example.com")
        start = time.perf_counter()
        fill([category.pk for category in categories], owner.pk)
        total = Message.objects.count()
        took = time.perf_counter() - start
        print(
            f"database: postgresql; filled {total:,} messages and "
            f"{AuditEvent.objects.count():,} audit events in {took:.1f} s"
        )

        took, expired = median_ms(purge.preview, 3)
        print(
            f"retention preview over {CATEGORIES} categories: median "
            f"{took:.0f} ms ({expired.messages:,} expired messages "
            f"in {expired.conversations:,} conversations)"
        )
        took, busy = median_ms(
            lambda: scope.scope_of(digests=[BUSY_SUBJECT], subject_user_id=None), 3
        )
        calls = sum(entry["calls"] for entry in busy["recipients"])
        print(
            f"scope a subject in {busy['mentions']['conversations']:,} conversations "
            f"({calls:,} model calls among {EVENTS:,} audit events): "
            f"median {took:.0f} ms"
        )

        took, found = median_ms(lambda: scope.scope_of(digests=[SUBJECT], subject_user_id=None), 5)
        mentions = found["mentions"]
        print(
            f"scope a subject across {total:,} messages: "
            f"median {took:.1f} ms (found {mentions['messages']} "
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
