"""Breach scope: what the calls to one backend carried in a window, for a provider's
incident report (GDPR Art. 33/34), read from the audit trail and the subject index."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import pseudonym, record
from chat.models import SubjectMention
from chat.pseudonyms import canonical
from governance.roles import Role
from privacy import breach
from tests.asked_here import asked
from tests.factories import make_backend, make_category, make_user
from tests.privacy.conftest import make_conversation

pytestmark = pytest.mark.django_db

EMAIL, PERSON = "EMAIL_ADDRESS", "PERSON"
TEXTS = ("First", "Answer", "Second", "Answer", "Third", "Answer")


def _call(conversation, backend="Cloud", *, message=None, findings=None, replaced=None, **more):
    """A ``chat.request`` event shaped as the chat path records it."""
    return record(
        action=AuditEvent.Action.CHAT_REQUEST,
        actor=conversation.owner,
        target=conversation,
        category=more.pop("category", conversation.category.name),
        backend=backend,
        outcome=more.pop("outcome", AuditEvent.Outcome.SUCCESS),
        details={
            "category_number": conversation.category.number,
            "decision": "pseudonymised" if replaced else "allowed",
            "hosting_class": "external_api",
            "region": "eu",
            "findings": findings or {},
            "replaced": replaced or {},
            "chars": 40,
            "message": str(message.public_id) if message else "",
        },
    )


def _asked(conversation, number: int):
    """The ``number``-th user message of ``conversation`` (from 0)."""
    return list(conversation.messages.filter(role="user"))[number]


def _mention(message, kind: str, value: str):
    return SubjectMention.objects.create(
        digest=pseudonym(canonical(kind, value)),
        kind=kind,
        conversation=message.conversation,
        message=message,
    )


@pytest.fixture
def world(db):
    category = make_category(number=3, slug="internal", name="Internal", retention_days=30)
    make_backend(name="Cloud")
    make_backend(name="Other")
    ann = make_user("ann@corp.example")
    bob = make_user("bob@corp.example")
    return category, ann, bob


def _scope(first, last_excluded):
    return breach.scope_of_breach(
        backend="Cloud", start=first.occurred_at, end=last_excluded.occurred_at
    )


def test_it_counts_only_successful_calls_to_the_backend_in_the_window(world):
    category, ann, bob = world
    one, two = make_conversation(ann, category), make_conversation(bob, category)
    before = _call(one)
    first = _call(one)
    _call(two)
    _call(two, "Other")  # another backend
    _call(two, outcome=AuditEvent.Outcome.BLOCKED)  # reached no model
    _call(one, "cloud")  # the name as the trail spells it, whatever its case
    after = _call(one)

    scope = _scope(first, after)

    assert before.occurred_at < first.occurred_at
    assert scope.calls == 3
    assert {entry.public_id for entry in scope.conversations} == {
        str(one.public_id),
        str(two.public_id),
    }
    assert scope.authors == 2
    counts = {entry.public_id: entry.calls for entry in scope.conversations}
    assert counts[str(one.public_id)] == 2 and counts[str(two.public_id)] == 1


def test_it_splits_calls_in_clear_from_pseudonymised_by_category(world):
    category, ann, _ = world
    secret = make_category(number=4, slug="secret", name="Confidential", retention_days=30)
    chat, other = make_conversation(ann, category), make_conversation(ann, secret)
    first = _call(chat, findings={EMAIL: 2}, replaced={EMAIL: 2})  # pseudonymised
    _call(chat, findings={EMAIL: 2, PERSON: 1}, replaced={EMAIL: 1})  # in clear
    _call(chat, findings={"rule Codename": 1})  # a rule is no personal data
    _call(other, findings={"IBAN_CODE": 1})  # in clear
    _call(other)
    after = _call(chat)

    scope = _scope(first, after)

    assert scope.counts()["calls_in_clear"] == 2
    assert scope.counts()["calls_pseudonymised"] == 1
    assert scope.counts()["calls_nothing_found"] == 2
    assert scope.category_rows() == [
        {"category": "Confidential", "calls": 2, "in_clear": 1, "pseudonymised": 0,
         "nothing_found": 1},
        {"category": "Internal", "calls": 3, "in_clear": 1, "pseudonymised": 1,
         "nothing_found": 1},
    ]  # fmt: skip
    assert dict(scope.kinds_in_words()) == {
        "Email address": 1,
        "Person's name": 1,
        "IBAN": 1,
    }
    in_clear = {entry.public_id: entry.in_clear for entry in scope.conversations}
    assert in_clear[str(chat.public_id)] == {EMAIL, PERSON}


def test_it_counts_distinct_people_in_the_messages_sent_and_in_the_history(world):
    category, ann, bob = world
    one = make_conversation(ann, category, texts=TEXTS)
    two = make_conversation(bob, category, texts=TEXTS)
    _mention(_asked(one, 0), EMAIL, "jane@example.org")  # sent before the window: history
    _mention(_asked(one, 1), EMAIL, "jane@example.org")  # sent in it: the same person
    _mention(_asked(one, 1), PERSON, "Jane Roe")
    _mention(_asked(two, 0), EMAIL, "max@example.org")  # sent in it, to another backend
    _mention(_asked(two, 2), EMAIL, "late@example.org")  # after the conversation's last call
    _call(one, message=_asked(one, 0))
    first = _call(one, message=_asked(one, 1))
    _call(two, "Other", message=_asked(two, 0))
    _call(two, message=_asked(two, 1))
    after = _call(one, message=_asked(one, 2))
    # The last message was written after the calls in the window.
    late = _asked(two, 2)
    type(late).objects.filter(pk=late.pk).update(created_at=after.occurred_at)

    scope = _scope(first, after)

    assert scope.subjects_sent == {EMAIL: 1, PERSON: 1}
    assert scope.subjects_sent_total == 2
    # Jane (email and name) in one's history, Max in two's (its history went with its call).
    assert scope.subjects_history == {EMAIL: 2, PERSON: 1}
    assert scope.subjects_history_total == 3


def test_it_reads_as_many_queries_for_many_calls_as_for_few(world):
    category, ann, bob = world

    def queries(calls: int) -> int:
        conversations = [make_conversation(ann if n % 2 else bob, category) for n in range(calls)]
        first = _call(conversations[0], message=_asked(conversations[0], 0))
        for conversation in conversations[1:]:
            _mention(_asked(conversation, 0), EMAIL, f"{conversation.pk}@example.org")
            _call(conversation, message=_asked(conversation, 0), findings={EMAIL: 1})
        after = _call(conversations[0])
        with CaptureQueriesContext(connection) as captured:
            scope = _scope(first, after)
        assert scope.calls == calls and scope.subjects_sent_total == calls - 1
        return len(captured)

    assert queries(2) == queries(12)


def test_it_uses_the_backend_index_between_the_window_sequences(world):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plan")
    category, ann, _ = world
    conversation = make_conversation(ann, category)
    first, after = _call(conversation), _call(conversation)
    events = breach.calls_to("Cloud", start=first.occurred_at, end=after.occurred_at)
    sql, params = events.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # Which index depends on the table's statistics at the time (the backend's, the action's
    # or the outcome's: each leads to sequence); what matters is that the window's sequences
    # bound the walk.
    bounds = [line for line in plan.splitlines() if "Index Cond" in line]
    assert any("sequence >=" in line and "sequence <" in line for line in bounds), plan
    assert "sequence" in str(events.query)


# --- the pages ---------------------------------------------------------------------------


@pytest.fixture
def officer(client, world):
    client.force_login(make_user("pia@corp.example", Role.PRIVACY_OFFICER))
    return client


def _window(start: dt.datetime, end: dt.datetime | None = None, backend: str = "Cloud") -> dict:
    from governance.models import Backend

    end = end or timezone.localtime()
    return {
        "backend": str(Backend.objects.get(name=backend).public_id),
        "start": timezone.localtime(start).isoformat(),
        "end": timezone.localtime(end).isoformat(),
    }


def test_it_shows_the_scope_and_records_the_run_without_personal_data(officer, world):
    category, ann, _ = world
    conversation = make_conversation(ann, category)
    _call(conversation, findings={EMAIL: 1})
    _call(conversation, findings={EMAIL: 1}, replaced={EMAIL: 1})

    response = officer.get(
        asked(officer, reverse("privacy:breach"), _window(timezone.now() - dt.timedelta(1)))
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Calls to Cloud" in page and "Email address" in page
    assert "Download the conversations (CSV)" in page
    event = AuditEvent.objects.get(action=AuditEvent.Action.BREACH_SCOPED)
    assert event.backend == "Cloud" and event.actor.email == "pia@corp.example"
    assert event.details["calls"] == 2
    assert event.details["calls_in_clear"] == 1
    assert event.details["calls_pseudonymised"] == 1
    assert event.details["conversations"] == 1 and event.details["what"] == "page"
    assert "ann@corp.example" not in str(event.details)


def test_it_lists_disabled_backends_too(officer, world):
    make_backend(name="Retired", enabled=False)
    response = officer.get(reverse("privacy:breach"))
    assert response.status_code == 200
    assert "Retired (disabled)" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.BREACH_SCOPED).exists()


@pytest.mark.parametrize(
    ("start_ago", "end_ago", "error"),
    [
        (dt.timedelta(hours=1), dt.timedelta(hours=2), "The end must be after the start."),
        (dt.timedelta(hours=1), -dt.timedelta(hours=1), "The end is in the future"),
        (dt.timedelta(days=100), dt.timedelta(0), "The window is longer than 92 days"),
    ],
)
def test_it_refuses_a_bad_window_in_words(officer, start_ago, end_ago, error):
    now = timezone.now()
    response = officer.get(
        asked(officer, reverse("privacy:breach"), _window(now - start_ago, now - end_ago))
    )
    assert response.status_code == 422
    assert error in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.BREACH_SCOPED).exists()


def test_it_refuses_what_is_not_a_backend_or_a_time(officer):
    response = officer.get(
        asked(officer, reverse("privacy:breach"), {"backend": "nope", "start": "soon", "end": ""})
    )
    page = response.content.decode()
    assert response.status_code == 422
    assert "Choose one of the backends listed." in page
    assert "Give the start as a date and a time." in page


def test_it_downloads_the_conversations_as_csv(officer, world):
    category, ann, bob = world
    one, two = make_conversation(ann, category), make_conversation(bob, category)
    _call(one, findings={EMAIL: 1, PERSON: 2}, replaced={PERSON: 2})
    _call(one, findings={"IBAN_CODE": 1})
    _call(two, findings={EMAIL: 1}, replaced={EMAIL: 1})
    _call(two, "Other", findings={PERSON: 1})

    response = officer.get(
        asked(officer, reverse("privacy:breach_csv"), _window(timezone.now() - dt.timedelta(1)))
    )

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="breach-scope-cloud-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode().removeprefix("\ufeff"))))
    by_id = {row["conversation"]: row for row in rows}
    assert set(by_id) == {str(one.public_id), str(two.public_id)}
    assert by_id[str(one.public_id)]["owner_email"] == "ann@corp.example"
    assert by_id[str(one.public_id)]["calls"] == "2"
    assert by_id[str(one.public_id)]["sent_in_clear"] == "Email address; IBAN"
    assert by_id[str(one.public_id)]["category"] == "Internal"
    assert by_id[str(one.public_id)]["still_stored"] == "yes"
    assert by_id[str(two.public_id)]["owner_email"] == "bob@corp.example"
    assert by_id[str(two.public_id)]["sent_in_clear"] == ""
    assert by_id[str(two.public_id)]["first_call"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.BREACH_SCOPED)
    assert event.details["what"] == "csv" and event.details["authors"] == 2


def test_the_csv_of_a_bad_window_is_refused_in_words(officer):
    response = officer.get(asked(officer, reverse("privacy:breach_csv")))
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()


@pytest.mark.parametrize("name", ["privacy:breach", "privacy:breach_csv"])
def test_it_is_for_privacy_officers_only(client, world, name):
    client.force_login(make_user("auditor@corp.example", Role.AUDITOR, Role.STAFF))
    response = client.get(reverse(name), _window(timezone.now() - dt.timedelta(1)))
    assert response.status_code == 403
