"""The governed path, end to end against fake backends on loopback with the real clients.

Celery runs eagerly here: the answer is produced inside ``send_message``'s
on-commit hook, through the real adapter, into a real Redis stream.
"""

import json
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit import reports
from audit.models import AuditEvent
from audit.services import pseudonym
from chat import answering, services, streams
from chat.answering import liveness, production
from chat.models import Conversation, Message, SubjectMention
from chat.pseudonyms import canonical
from chat.sealing import UnreadableError
from chat.services import conversations, sending, steps
from chat.turns import turns_for
from config.celery import app as celery_app
from governance.models import Backend, Category, DetectionRule
from tests.chat.conftest import web_process_died
from tests.garbage import cycles_left

EMAIL = "jane.roe@example.org"
PHONE = "+44 20 7946 0958"


def _send(django_capture_on_commit_callbacks, conversation, author, text):
    with django_capture_on_commit_callbacks(execute=True):
        return services.send_message(conversation=conversation, author=author, text=text)


def _sent_to(fake) -> str:
    """Everything the fake backend was sent, as one string."""
    return json.dumps([r.body for r in fake.requests], ensure_ascii=False)


def test_it_sends_only_placeholders_to_an_external_backend(org, django_capture_on_commit_callbacks):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(
        django_capture_on_commit_callbacks,
        conversation,
        org.alice,
        f"Write to {EMAIL} and call {PHONE} about the invoice.",
    )
    assert sent.decision.outcome == "pseudonymised"
    received = _sent_to(org.external)
    assert EMAIL not in received and "7946" not in received
    assert "[EMAIL_1]" in received and "[PHONE_1]" in received
    assert org.local.requests == []
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.DONE
    assert sent.answer.content == "Hello from the API."


def test_the_automatic_title_hides_what_the_model_was_not_shown(
    org, django_capture_on_commit_callbacks
):
    """The title is on every list, the page's heading and the browser's tab and history:
    what was replaced for the model is named there, not shown. The author reads it in the
    conversation; a category that lets it go in clear shows it in the title too."""
    key = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" * 2
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    _send(
        django_capture_on_commit_callbacks,
        conversation,
        org.alice,
        f"Mail {EMAIL} the key {key} today",
    )
    title = Conversation.objects.get(pk=conversation.pk).title
    assert title == "Mail [email address] the key [secret or credential] today"
    on_premise = services.start_conversation(owner=org.carol, category=org.confidential)
    _send(django_capture_on_commit_callbacks, on_premise, org.carol, f"Summarise {EMAIL}'s file")
    assert Conversation.objects.get(pk=on_premise.pk).title == f"Summarise {EMAIL}'s file"


def test_a_sent_message_leaves_no_reference_cycle_behind(org):
    # Its objects are freed once unused; in a cycle (the question and its answer referring
    # to each other) they waited for the garbage collector (config.heap).
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with cycles_left(Message, Conversation) as left:
        services.send_message(conversation=conversation, author=org.alice, text=f"To {EMAIL}.")
        services.send_request(author=org.alice, category=org.internal, parts=[("user", "Hi")])
    assert left == []


def test_it_restores_placeholders_for_the_author_only(org, django_capture_on_commit_callbacks):
    org.external.reply = ["I will write to ", "[EMAIL", "_1] today."]
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    _send(django_capture_on_commit_callbacks, conversation, org.alice, f"Reply to {EMAIL}")
    conversation = Conversation.objects.get(pk=conversation.pk)
    question, answer = turns_for(conversation, conversation.messages.all())
    assert answer.text == f"I will write to {EMAIL} today."
    assert EMAIL in answer.html
    assert answer.message.content == "I will write to [EMAIL_1] today."  # stored as sent
    assert question.text == f"Reply to {EMAIL}" and question.sent == "Reply to [EMAIL_1]"


def test_the_same_value_keeps_its_placeholder_across_messages(
    org, django_capture_on_commit_callbacks
):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    _send(django_capture_on_commit_callbacks, conversation, org.alice, f"Mail {EMAIL}")
    _send(
        django_capture_on_commit_callbacks,
        conversation,
        org.alice,
        f"Again {EMAIL.upper()}, and bob@example.net",
    )
    last = org.external.last.body["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "user"]
    assert last[1]["content"] == "Mail [EMAIL_1]"
    assert last[3]["content"] == "Again [EMAIL_1], and [EMAIL_2]"


def test_category_3_reaches_only_the_on_premise_backend(org, django_capture_on_commit_callbacks):
    conversation = services.start_conversation(owner=org.carol, category=org.confidential)
    sent = _send(
        django_capture_on_commit_callbacks, conversation, org.carol, f"Summarise {EMAIL}'s file"
    )
    assert sent.decision.outcome == "allowed"  # personal data may stay in clear on-premise
    assert org.external.requests == []
    assert EMAIL in _sent_to(org.local)
    event = AuditEvent.objects.filter(action="chat.request").first()
    assert (event.backend, event.details["hosting_class"]) == ("Local Ollama", "on_prem")


def test_a_blocked_message_is_neither_sent_nor_stored(org, django_capture_on_commit_callbacks):
    DetectionRule.objects.create(
        name="Privilege", reason="Privileged legal advice", pattern="privileged", action="block"
    )
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    marker = "privileged memo about the Hartley merger"
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, marker)
    assert sent.decision.blocked and sent.answer is None
    assert org.external.requests == [] and org.local.requests == []
    message = Message.objects.get()
    assert message.status == Message.Status.BLOCKED
    assert bytes(message.content_sealed) == b"" and message.chars == len(marker)
    assert "Privileged legal advice" in " ".join(message.reasons)
    event = AuditEvent.objects.get(action="chat.request")
    assert event.outcome == "blocked"
    # The compliance report counts the block under the rule: it was under no type.
    assert event.details["findings"] == {"rule Privilege": 1}
    today = timezone.localdate()
    summary = reports.summarise(reports.Period(today, today))
    assert summary.findings_table == [("blocked", [("rule Privilege", 1)])]
    assert summary.finding_list == [("Rule “Privilege”", 1)]


def _client_files_go_to_category_3(org) -> None:
    DetectionRule.objects.create(
        name="Client files",
        reason="Client files are confidential",
        pattern="client file",
        action="escalate",
        min_category=org.confidential,
    )


def test_escalation_moves_the_conversation_up_and_routes_on_premise(
    org, django_capture_on_commit_callbacks
):
    _client_files_go_to_category_3(org)
    conversation = services.start_conversation(owner=org.carol, category=org.internal)
    sent = _send(
        django_capture_on_commit_callbacks, conversation, org.carol, "Summarise this client file"
    )
    assert sent.decision.outcome == "escalated"
    conversation.refresh_from_db()
    assert conversation.category == org.confidential
    assert org.external.requests == [] and len(org.local.requests) == 1


def test_an_uncleared_escalation_is_blocked(org, django_capture_on_commit_callbacks):
    _client_files_go_to_category_3(org)
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "A client file")
    assert sent.decision.blocked
    assert org.external.requests == [] and org.local.requests == []
    # The trail names the category the message was judged in, as its number does (it
    # showed the badge "3" beside the conversation's "Internal").
    event = AuditEvent.objects.get(action="chat.request")
    assert (event.details["category_number"], event.category) == (3, org.confidential.name)


def test_message_text_is_encrypted_at_rest(org, django_capture_on_commit_callbacks):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    marker = "zebra-marker-71"
    _send(django_capture_on_commit_callbacks, conversation, org.alice, f"Tell me about {marker}")
    with connection.cursor() as cursor:
        for table in ("chat_message", "chat_conversation"):
            cursor.execute(f"SELECT * FROM {table}")
            for row in cursor.fetchall():
                assert marker.encode() not in repr(row).encode()
    assert Message.objects.filter(role="user").get().content == f"Tell me about {marker}"


def test_deleting_a_conversation_leaves_nothing(org, django_capture_on_commit_callbacks):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    _send(django_capture_on_commit_callbacks, conversation, org.alice, f"Mail {EMAIL}")
    assert SubjectMention.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_conversation(conversation=conversation, actor=org.alice)
    assert not Conversation.objects.exists() and not Message.objects.exists()
    assert not SubjectMention.objects.exists()
    assert AuditEvent.objects.filter(action="chat.deleted").count() == 1


def test_a_delete_counts_and_stops_an_answer_sent_as_it_began(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """A message sent from another tab while the delete waited for the holds lock: its
    rows go with the conversation, so the delete counts them and stops its answer (its
    messages were read before the transaction, so neither happened)."""
    from privacy import purge

    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello")
    settled, forgotten = purge.holds_settled, []

    def another_tab_sends(**kwargs):
        settled(**kwargs)
        if not forgotten:
            forgotten.append(None)
            Message.objects.create(
                conversation=conversation,
                role=Message.Role.ASSISTANT,
                status=Message.Status.QUEUED,
                category_number=conversation.category.number,
            )

    monkeypatch.setattr(purge, "holds_settled", another_tab_sends)
    monkeypatch.setattr(
        conversations,
        "_forget_quietly",
        lambda *ids, stopping=(): forgotten.append((len(ids), len(stopping))),
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_conversation(conversation=conversation, actor=org.alice)
    assert forgotten[-1] == (3, 1)
    assert AuditEvent.objects.get(action="chat.deleted").details["messages"] == 3


def test_identifiers_reach_the_subject_index_as_keyed_hashes(
    org, django_capture_on_commit_callbacks
):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    _send(django_capture_on_commit_callbacks, conversation, org.alice, f"Mail {EMAIL}, {PHONE}")
    digests = set(SubjectMention.objects.values_list("digest", flat=True))
    assert pseudonym(canonical("EMAIL_ADDRESS", EMAIL.upper())) in digests
    assert pseudonym(canonical("PHONE_NUMBER", "020 7946 0958")) in digests
    assert all(EMAIL not in d for d in digests)


def test_no_audit_event_holds_message_text(org, django_capture_on_commit_callbacks):
    org.external.reply = ["The answer mentions ", "quokka-answer-93"]
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    marker = "quokka-marker-42"
    _send(django_capture_on_commit_callbacks, conversation, org.alice, f"{marker} {EMAIL}")
    events = list(AuditEvent.objects.values())
    assert {e["action"] for e in events} >= {"chat.started", "chat.request", "chat.response"}
    dump = json.dumps(events, default=str)
    assert marker not in dump and "quokka-answer-93" not in dump and EMAIL not in dump


def test_a_dead_backend_ends_in_a_visible_failed_state(org, django_capture_on_commit_callbacks):
    org.external.fail = 500
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello")
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.FAILED
    assert "HTTP 500" in sent.answer.error
    failure = AuditEvent.objects.get(action="chat.failure")
    assert failure.details["kind"] == "http" and failure.outcome == "failure"
    stream = streams.client().xrange(streams.stream_key(sent.answer.public_id))
    assert stream[-1][1] == {b"t": b"end", b"status": b"failed"}


def test_a_backends_refusal_is_recorded_with_its_status_and_code(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """An auditor counting refusals by cause (rate limits, context too long) reads the
    backend's status and its vendor code in the event; a code that is not an identifier
    (a backend may put anything there) is left out, as its text would be."""
    org.external.fail = 400
    error = {"message": "Your prompt is too long", "code": "context_length_exceeded"}
    monkeypatch.setattr(org.external, "error_body", lambda status: {"error": error})
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello")
    details = AuditEvent.objects.get(action="chat.failure").details
    assert (details["status"], details["code"]) == (400, "context_length_exceeded")
    error.update(message="Unknown parameter", code=f"call {EMAIL} back")
    _send(django_capture_on_commit_callbacks, conversation, org.alice, "Again")
    details = AuditEvent.objects.filter(action="chat.failure").latest("sequence").details
    assert details["status"] == 400 and "code" not in details


def test_an_unreachable_backend_fails_and_retry_answers(org, django_capture_on_commit_callbacks):
    org.external.stop()
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello")
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.FAILED
    assert "Cannot connect" in sent.answer.error
    # The API is down; the local model, the internal category's second choice, answers.
    with django_capture_on_commit_callbacks(execute=True):
        answer = services.retry_answer(answer=sent.answer, author=org.alice)
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE and answer.backend_name == "Local Ollama"
    assert answer.content == "Hello from the local model."
    assert bytes(answer.reply_to.sent_sealed) == b""  # nothing replaced: no second copy kept


def test_an_answers_liveness_key_is_dropped_where_it_was_set(redis_server, monkeypatch):
    """By a worker's start (begun) or by a beat; an API answer of a few ms has none to drop
    (a round trip less)."""
    heartbeats = liveness._Heartbeats()
    heartbeats._running = True  # no thread: this test beats by hand
    monkeypatch.setattr(liveness, "_heartbeats", heartbeats)
    dropped = []
    monkeypatch.setattr(streams, "stop_beat", dropped.append)
    with liveness._heartbeat("quick", threading.Event(), begun=False):
        pass
    with liveness._heartbeat("slow", threading.Event(), begun=False):
        heartbeats.beat_once()
        assert streams.beats("slow") == 1
    with liveness._heartbeat("worker's", threading.Event(), begun=True):
        pass
    assert dropped == ["slow", "worker's"]
    streams.client().delete(streams.alive_key("slow"))


def test_a_beat_sets_the_cancel_of_the_answers_whose_author_asked_to_stop(redis_server):
    heartbeats = liveness._Heartbeats()
    heartbeats._running = True  # no thread: this test beats by hand
    going_on, stopped = threading.Event(), threading.Event()
    heartbeats.add("going-on", going_on)
    heartbeats.add("stopped", stopped)
    streams.request_cancel("stopped")
    try:
        heartbeats.beat_once()
        assert stopped.is_set() and not going_on.is_set()
        assert streams.beats("going-on") == 1
        assert streams.beats("stopped") is None  # a stopped answer gets no beat
    finally:
        streams.forget("going-on", "stopped")


def _stop_once_called(fake, answer, heartbeats) -> threading.Thread:
    """The author presses Stop once ``fake`` was called, and the next beat finds it."""

    def stop():
        while not fake.requests:
            threading.Event().wait(0.02)
        streams.request_cancel(answer.public_id)
        heartbeats.beat_once()

    stopper = threading.Thread(target=stop)
    stopper.start()
    return stopper


def test_a_stop_pressed_while_the_backend_is_silent_is_seen_by_the_next_beat(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """A reasoning model thinks before its first words (empty deltas, none looked at for
    the stop flag): the heartbeat, which visits every live answer anyway, reads the flag
    and sets the answer's cancel, without waiting for a chunk to be looked at."""
    heartbeats = liveness._Heartbeats()
    heartbeats._running = True  # no thread: a beat is given once the backend is called
    monkeypatch.setattr(liveness, "_heartbeats", heartbeats)
    monkeypatch.setattr(production, "CANCEL_POLL_SECONDS", 30)  # no look at the flag
    org.external.reply = ["", "", "", "", "Let ", "me ", "think."]
    org.external.delay = 0.3
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Think")

    stopper = _stop_once_called(org.external, sent.answer, heartbeats)
    answering.generate_answer(sent.answer.pk)
    stopper.join()
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.CANCELLED and sent.answer.content == ""


def test_a_stop_ends_an_answer_whose_backend_says_nothing_at_all(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """A local model still loading sends not even its headers. The stop the next beat finds
    ends the answer at once, not when the backend speaks or the read times out: it is
    stored as stopped, and its author may send the next message."""
    heartbeats = liveness._Heartbeats()
    heartbeats._running = True  # no thread: a beat is given once the backend is called
    monkeypatch.setattr(liveness, "_heartbeats", heartbeats)
    org.external.fail = "hang"
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hi")

    _stop_once_called(org.external, sent.answer, heartbeats)
    began = time.monotonic()
    answering.generate_answer(sent.answer.pk)
    assert time.monotonic() - began < 3
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.CANCELLED and sent.answer.error == ""
    org.external.fail = None
    with django_capture_on_commit_callbacks(execute=False):
        services.send_message(conversation=conversation, author=org.alice, text="Again")


def test_an_unreachable_backend_fails_as_such_when_redis_cannot_note_it(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """Noting the backend as unreachable (a hint for the next choice) fails with Redis: the
    answer still fails as the connection's, not as "something went wrong" (or not at all)."""
    noting = redis.Redis.set

    def refused_for_marks(self, name, *args, **kwargs):
        if str(name).startswith("steward:unreachable:"):
            raise redis.ConnectionError("Connection refused.")
        return noting(self, name, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "set", refused_for_marks)
    org.external.stop()
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello")
    sent.answer.refresh_from_db()
    assert (sent.answer.status, sent.answer.error_kind) == (Message.Status.FAILED, "connection")
    assert "Cannot connect" in sent.answer.error


def test_a_backend_found_unreachable_elsewhere_is_passed_over_once_the_last_read_is_old(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """A process reads which backends are down at most once a second (a round trip less
    per message): what a worker in another process marks is seen by the next read."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    first = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello").answer
    assert first.backend_name == "OpenAI business API"
    api = Backend.objects.get(name="OpenAI business API")
    streams.client().set(f"steward:unreachable:{api.public_id}", b"1", ex=60)  # elsewhere
    second = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Again").answer
    assert second.backend_name == "OpenAI business API"  # read a moment ago: still trusted
    monkeypatch.setattr(streams, "UNREACHABLE_READ_SECONDS", 0)
    third = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Once more").answer
    assert third.backend_name == "Local Ollama"
    third.refresh_from_db()
    assert third.content == "Hello from the local model."


TO_LOCAL = "1 email address will be replaced before sending to Local Ollama."


def test_what_the_author_reads_names_the_backend_that_answers(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """The first choice without its key is passed over: the message's reasons (kept with it,
    shown with an escalation, exported) name the backend that answered, not the first."""
    monkeypatch.delenv("STEWARD_TEST_OPENAI_KEY")
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Mail a@b.example")
    assert sent.answer.backend_name == "Local Ollama"
    sent.message.refresh_from_db()
    assert sent.message.reasons == [TO_LOCAL]
    assert sent.decision.backends == (str(sent.answer.backend.public_id),)


def test_a_request_for_a_named_backend_names_it_in_its_reasons(org):
    local = Backend.objects.get(name="Local Ollama")
    sent = services.send_request(
        author=org.alice, category=org.internal, parts=[("user", "Mail a@b.example")], backend=local
    )
    assert sent.answer.backend_name == "Local Ollama"
    assert sent.message.reasons == [TO_LOCAL]


def test_a_retry_is_refused_when_a_message_was_sent_while_it_was_being_governed(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """ "Is this still the last answer?" is asked once the conversation is locked: a message
    sent meanwhile (another tab) would otherwise leave two answers on their way, the
    retried one no longer the last."""
    org.external.stop()
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    failed = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello").answer
    failed.refresh_from_db()
    assert failed.status == Message.Status.FAILED
    govern, sent_meanwhile = sending._govern, []

    def another_tab_sends_meanwhile(**kwargs):
        decided = govern(**kwargs)
        if not sent_meanwhile:
            sent_meanwhile.append(True)
            with django_capture_on_commit_callbacks(execute=False):  # its answer stays queued
                services.send_message(conversation=conversation, author=org.alice, text="Again")
        return decided

    monkeypatch.setattr(sending, "_govern", another_tab_sends_meanwhile)
    with pytest.raises(services.ChatError, match="Only the last answer"):
        services.retry_answer(answer=failed, author=org.alice)
    failed.refresh_from_db()
    assert failed.status == Message.Status.FAILED
    on_their_way = Message.objects.filter(conversation=conversation, status__in=Message.IN_FLIGHT)
    assert on_their_way.count() == 1


def test_a_backend_down_is_tried_last_for_a_while(org, django_capture_on_commit_callbacks):
    org.local.stop()  # public goes to the local model first
    conversation = services.start_conversation(owner=org.alice, category=org.public)
    first = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hi").answer
    first.refresh_from_db()
    assert (first.status, first.backend_name) == (Message.Status.FAILED, "Local Ollama")
    second = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Again").answer
    second.refresh_from_db()
    assert (second.status, second.backend_name) == (Message.Status.DONE, "OpenAI business API")


def test_a_second_delivery_produces_no_second_answer(org, django_capture_on_commit_callbacks):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello")
    answering.generate_answer(sent.answer.pk)
    assert len(org.external.requests) == 1
    assert AuditEvent.objects.filter(action="chat.response").count() == 1


def _streaming(org, django_capture_on_commit_callbacks, *, started_seconds_ago: float):
    """An answer a worker claimed and then went silent (killed: no heartbeat key)."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    started = timezone.now() - timedelta(seconds=started_seconds_ago)
    Message.objects.filter(pk=sent.answer.pk).update(
        status=Message.Status.STREAMING, enqueued_at=started, started_at=started, attempt=1
    )  # written as queued, then claimed
    return sent.answer


def test_a_redelivered_task_takes_over_an_answer_whose_worker_died(
    org, django_capture_on_commit_callbacks
):
    answer = _streaming(org, django_capture_on_commit_callbacks, started_seconds_ago=30)
    answering.generate_answer(answer.pk)  # Celery's redelivery of the killed task
    answer.refresh_from_db()
    assert (answer.status, answer.attempt) == (Message.Status.DONE, 2)
    assert answer.content == "Hello from the API."
    alive, _, _ = streams.liveness(answer.public_id)
    assert not alive


def test_the_worker_reads_what_settling_needs_with_the_answer(
    org, django_capture_on_commit_callbacks
):
    # The audit event's actor is the conversation's owner: read with the claimed answer,
    # not by a query of its own when the answer is settled.
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hi")
    with CaptureQueriesContext(connection) as queries:
        answering.generate_answer(sent.answer.pk)
    assert Message.objects.get(pk=sent.answer.pk).status == Message.Status.DONE
    assert not [q for q in queries if 'FROM "governance_user" WHERE' in q["sql"]]


def test_an_api_answer_a_worker_takes_over_keeps_its_sampling(org):
    # The web process answering it died: the sweeper hands it to a worker.
    sent = services.send_request(
        author=org.alice,
        category=org.internal,
        parts=[("user", "Hello")],
        sampling={"temperature": 0.3, "max_tokens": 40},
    )
    web_process_died(sent.answer)
    answering.generate_answer(sent.answer.pk)  # the sweeper's copy takes it over
    body = org.external.last.body
    assert (body["temperature"], body["max_tokens"]) == (0.3, 40)


def test_a_redelivery_leaves_a_live_answer_alone(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(liveness, "HEARTBEAT_SECONDS", 0.2)
    answer = _streaming(org, django_capture_on_commit_callbacks, started_seconds_ago=30)
    stop = threading.Event()

    def its_worker_beats():
        while not stop.wait(0.1):
            streams.beat(answer.public_id, ttl_seconds=5)

    streams.beat(answer.public_id, ttl_seconds=5)
    worker = threading.Thread(target=its_worker_beats)
    worker.start()
    try:
        answering.generate_answer(answer.pk)  # the broker's copy, delivered again
    finally:
        stop.set()
        worker.join()
    answer.refresh_from_db()
    assert (answer.status, answer.attempt) == (Message.Status.STREAMING, 1)
    assert org.external.requests == []


def test_a_redelivery_takes_over_when_the_heartbeat_stops(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(liveness, "HEARTBEAT_SECONDS", 0.2)
    answer = _streaming(org, django_capture_on_commit_callbacks, started_seconds_ago=1)
    streams.beat(answer.public_id, ttl_seconds=5)  # its last beat, just before it was killed
    answering.generate_answer(answer.pk)
    answer.refresh_from_db()
    assert (answer.status, answer.attempt) == (Message.Status.DONE, 2)


def test_a_second_redelivery_leaves_an_answer_just_taken_over_before_its_first_beat(
    org, django_capture_on_commit_callbacks
):
    """Two copies of a dead worker's task (the broker's, the sweeper's) reach a new worker:
    the first takes the answer over; the second, finding no heartbeat yet (the first has not
    begun), took it over again, and the next one failed it as interrupted too often."""
    answer = _streaming(org, django_capture_on_commit_callbacks, started_seconds_ago=0)
    Message.objects.filter(pk=answer.pk).update(attempt=2)  # the first copy's take-over
    taker = threading.Timer(
        0.5, streams.begin_answer, args=(answer.public_id, 2), kwargs={"alive_ttl_seconds": 30}
    )
    taker.start()  # ... begins, and beats, a moment later
    answering.generate_answer(answer.pk)  # the second copy
    taker.join()
    answer.refresh_from_db()
    assert (answer.status, answer.attempt) == (Message.Status.STREAMING, 2)
    assert org.external.requests == []


def test_a_claim_stamped_ahead_by_another_workers_clock_is_watched_a_heartbeats_life_at_most(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """A claim 20 s in the future (another worker's clock) kept a redelivery waiting 26 s for
    a first heartbeat that never came."""
    monkeypatch.setattr(liveness, "ALIVE_TTL_SECONDS", 1)
    answer = _streaming(org, django_capture_on_commit_callbacks, started_seconds_ago=-20)
    began = time.monotonic()
    answering.generate_answer(answer.pk)
    assert time.monotonic() - began < 5
    answer.refresh_from_db()
    assert (answer.status, answer.attempt) == (Message.Status.DONE, 2)


def test_an_answer_interrupted_too_often_fails(org, django_capture_on_commit_callbacks):
    answer = _streaming(org, django_capture_on_commit_callbacks, started_seconds_ago=30)
    Message.objects.filter(pk=answer.pk).update(attempt=answering.MAX_ATTEMPTS)
    answering.generate_answer(answer.pk)
    answer.refresh_from_db()
    assert answer.status == Message.Status.FAILED and answer.error == answering.LOST
    assert org.external.requests == []


def test_a_lost_answer_nobody_takes_over_is_failed_by_the_sweeper(
    org, django_capture_on_commit_callbacks
):
    seconds = answering.GIVE_UP_AFTER_SECONDS + 1
    answer = _streaming(org, django_capture_on_commit_callbacks, started_seconds_ago=seconds)
    assert answering.sweep() == {"requeued": 0, "resumed": 0, "failed": 1}
    answer.refresh_from_db()
    assert answer.status == Message.Status.FAILED
    assert answer.error == answering.LOST
    assert AuditEvent.objects.get(action="chat.failure").details["kind"] == "lost"
    stream = streams.client().xrange(streams.stream_key(answer.public_id))
    assert stream[-1][1] == {b"t": b"end", b"status": b"failed"}


def test_the_sweeper_hands_a_silent_answer_on_to_be_taken_over(
    org, django_capture_on_commit_callbacks
):
    seconds = answering.RESUME_AFTER_SECONDS + 1
    answer = _streaming(org, django_capture_on_commit_callbacks, started_seconds_ago=seconds)
    assert answering.sweep() == {"requeued": 0, "resumed": 1, "failed": 0}  # Celery is eager
    answer.refresh_from_db()
    assert (answer.status, answer.attempt) == (Message.Status.DONE, 2)
    assert answering.sweep() == {"requeued": 0, "resumed": 0, "failed": 0}


def test_a_worker_whose_answer_was_taken_over_stops_without_a_word(
    org, django_capture_on_commit_callbacks
):
    org.external.reply = ["one ", "two ", "three ", "four"]
    org.external.delay = 0.25
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Count")
    taker = threading.Timer(
        0.1, streams.begin_answer, args=(sent.answer.public_id, 7), kwargs={"alive_ttl_seconds": 30}
    )
    taker.start()  # another worker decided this one was dead, and took over
    answering.generate_answer(sent.answer.pk)
    taker.join()
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.STREAMING  # the new owner's to finish
    assert not AuditEvent.objects.filter(action__in=["chat.response", "chat.failure"]).exists()
    entries = streams.client().xrange(streams.stream_key(sent.answer.public_id))
    assert b"end" not in [fields[b"t"] for _, fields in entries]


def test_a_message_sent_while_the_broker_is_down_goes_out_later(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    from kombu.exceptions import OperationalError

    from chat import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis")

    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with monkeypatch.context() as patched:
        patched.setattr(tasks.generate_answer, "apply_async", broker_down)
        sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello")
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.PENDING
    assert org.external.requests == []
    Message.objects.filter(pk=sent.answer.pk).update(
        enqueued_at=None, created_at="2000-01-01T00:00Z"
    )
    assert answering.sweep()["requeued"] == 1
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.DONE
    assert len(org.external.requests) == 1


def test_a_new_answer_is_written_queued_and_marked_as_it_is_pushed(
    org, django_capture_on_commit_callbacks
):
    """The answer's row is QUEUED from the start (no PENDING → QUEUED statement after the
    push); the push sets its queued mark, by which the sweeper knows it reached Redis."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    answer = Message.objects.get(pk=sent.answer.pk)
    assert answer.status == Message.Status.QUEUED and answer.enqueued_at is not None
    marker = streams.queued_key(answer.pk)
    streams.client().delete(marker)  # an earlier test's answer of the same id
    eager, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, False
    try:
        for callback in callbacks:
            callback()
    finally:
        celery_app.conf.task_always_eager = eager
    assert 0 < streams.client().ttl(marker) <= streams.QUEUED_TTL_SECONDS
    streams.client().delete(marker, "inference_external")  # no worker takes it here


def _queued_unpushed(org, django_capture_on_commit_callbacks, *, seconds_ago: float):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):  # its process died before the push
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    Message.objects.filter(pk=sent.answer.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=seconds_ago)
    )
    streams.client().delete(streams.queued_key(sent.answer.pk))  # an earlier test's answer's
    return sent.answer


def test_a_queued_answer_that_never_reached_redis_is_pushed_by_the_sweeper(
    org, django_capture_on_commit_callbacks
):
    """Written as queued, never pushed (its web process died after the commit), or pushed to
    a Redis that lost it (restarted, flushed): without its queued mark it goes out again."""
    answer = _queued_unpushed(org, django_capture_on_commit_callbacks, seconds_ago=1)
    assert answering.sweep()["requeued"] == 0  # too soon: it may be on its way
    Message.objects.filter(pk=answer.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=answering.REQUEUE_AFTER_SECONDS + 1)
    )
    assert answering.sweep()["requeued"] == 1  # Celery is eager: answered at once
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE
    assert len(org.external.requests) == 1


def test_a_queued_answer_with_its_mark_waits_for_its_worker(
    org, django_capture_on_commit_callbacks
):
    """All workers busy: a queued answer whose mark says Redis has it is not pushed again
    at every sweep (the queue would fill with copies)."""
    answer = _queued_unpushed(org, django_capture_on_commit_callbacks, seconds_ago=60)
    streams.client().set(streams.queued_key(answer.pk), 1, ex=60)
    try:
        assert answering.sweep()["requeued"] == 0
    finally:
        streams.client().delete(streams.queued_key(answer.pk))
    answer.refresh_from_db()
    assert answer.status == Message.Status.QUEUED and org.external.requests == []


def test_the_sweeper_does_not_push_while_it_cannot_read_the_marks(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    answer = _queued_unpushed(org, django_capture_on_commit_callbacks, seconds_ago=60)

    def unreachable(*args, **kwargs):
        raise redis.ConnectionError("Error 111 connecting to redis")

    monkeypatch.setattr(redis.client.Pipeline, "execute", unreachable)
    assert answering.sweep()["requeued"] == 0
    answer.refresh_from_db()
    assert answer.status == Message.Status.QUEUED and org.external.requests == []


def test_a_scanner_failure_sends_nothing(org, django_capture_on_commit_callbacks, monkeypatch):
    def broken(text, **kwargs):
        raise RuntimeError("automaton exploded")

    monkeypatch.setattr(steps, "detect", broken)
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with pytest.raises(services.ChatError, match="could not check"):
        _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello")
    assert not Message.objects.exists()
    assert org.external.requests == []
    assert AuditEvent.objects.get(action="chat.failure").details["stage"] == "scan"


def test_an_audit_failure_stores_and_sends_nothing(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    real_record = steps.record

    def failing(**kwargs):
        if kwargs["action"] == AuditEvent.Action.CHAT_REQUEST:
            raise RuntimeError("audit store unavailable")
        return real_record(**kwargs)

    monkeypatch.setattr(steps, "record", failing)
    with pytest.raises(RuntimeError):
        _send(django_capture_on_commit_callbacks, conversation, org.alice, f"Mail {EMAIL}")
    assert not Message.objects.exists() and not SubjectMention.objects.exists()
    assert org.external.requests == []


def test_a_second_message_waits_for_the_answer(org, django_capture_on_commit_callbacks):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        services.send_message(conversation=conversation, author=org.alice, text="One")
    with pytest.raises(services.ChatError, match="still on its way"):
        services.send_message(conversation=conversation, author=org.alice, text="Two")
    assert conversation.messages.count() == 2  # the refused message left nothing behind


def test_a_blocked_message_waits_for_the_answer_too(org, django_capture_on_commit_callbacks):
    DetectionRule.objects.create(
        name="Privilege", reason="Privileged legal advice", pattern="privileged", action="block"
    )
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        services.send_message(conversation=conversation, author=org.alice, text="One")
    with pytest.raises(services.ChatError, match="still on its way"):
        services.send_message(conversation=conversation, author=org.alice, text="privileged")
    assert not conversation.messages.filter(status=Message.Status.BLOCKED).exists()


OTHER_EMAIL = "john.doe@example.com"


def test_a_message_sent_from_a_conversation_read_before_another_keeps_its_placeholders(
    org, django_capture_on_commit_callbacks
):
    """The page read the conversation, then a message went out from another tab: the
    mapping that message added is kept, and a new address gets the next placeholder."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    read_before = Conversation.objects.get(pk=conversation.pk)
    _send(django_capture_on_commit_callbacks, conversation, org.alice, f"Mail {EMAIL}")
    sent = _send(django_capture_on_commit_callbacks, read_before, org.alice, f"Mail {OTHER_EMAIL}")
    assert sent.message.sent_text == "Mail [EMAIL_2]"
    values = Conversation.objects.get(pk=conversation.pk).pseudonyms()["values"]
    assert values == {"[EMAIL_1]": EMAIL, "[EMAIL_2]": OTHER_EMAIL}
    assert OTHER_EMAIL not in _sent_to(org.external)


def test_a_message_sent_from_a_conversation_read_before_it_moved_up_is_decided_again(
    org, django_capture_on_commit_callbacks
):
    _client_files_go_to_category_3(org)
    conversation = services.start_conversation(owner=org.carol, category=org.internal)
    read_before = Conversation.objects.get(pk=conversation.pk)
    _send(django_capture_on_commit_callbacks, conversation, org.carol, "Read this client file")
    sent = _send(django_capture_on_commit_callbacks, read_before, org.carol, "Now summarise it")
    assert sent.decision.category == 3 and sent.answer.backend_name == "Local Ollama"
    assert org.external.requests == []


def test_a_message_in_a_conversation_deleted_meanwhile_is_not_stored(
    org, django_capture_on_commit_callbacks
):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    read_before = Conversation.objects.get(pk=conversation.pk)
    services.delete_conversation(conversation=conversation, actor=org.alice)
    with pytest.raises(Conversation.DoesNotExist):
        _send(django_capture_on_commit_callbacks, read_before, org.alice, f"Mail {EMAIL}")
    assert not Message.objects.exists() and org.external.requests == []


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_message_in_an_idle_conversation_is_one_statement_without_a_lock(
    org, django_capture_on_commit_callbacks
):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    _send(django_capture_on_commit_callbacks, conversation, org.alice, f"Mail {EMAIL}")
    # The same object: the first message left it as it wrote it (title, placeholders).
    with CaptureQueriesContext(connection) as queries:
        with django_capture_on_commit_callbacks(execute=False):
            services.send_message(conversation=conversation, author=org.alice, text="Two")
    statements = [q["sql"] for q in queries.captured_queries]
    assert not any("FOR UPDATE" in sql for sql in statements)
    assert sum("INSERT INTO" in sql for sql in statements) == 1


def _second_answer_on_its_way(conversation, first: Message) -> Message:
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.QUEUED,
        category_number=first.category_number,
    )


def test_the_database_keeps_one_answer_on_its_way_per_conversation(
    org, django_capture_on_commit_callbacks
):
    """Whatever path writes (a bug, a script, the admin): the check under the lock is not
    the only guard."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        first = services.send_message(conversation=conversation, author=org.alice, text="One")
    with pytest.raises(IntegrityError), transaction.atomic():
        _second_answer_on_its_way(conversation, first.answer)
    first.answer.status = Message.Status.DONE
    first.answer.save(update_fields=["status"])
    _second_answer_on_its_way(conversation, first.answer)  # once the first is done: fine


def test_it_refuses_empty_and_oversized_messages(org):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with pytest.raises(services.ChatError, match="Write a message"):
        services.send_message(conversation=conversation, author=org.alice, text="  \n ")
    with pytest.raises(services.ChatError, match="limit is 32,000"):
        services.send_message(conversation=conversation, author=org.alice, text="x" * 32_001)


def test_it_refuses_conversations_in_categories_the_user_may_not_use(org):
    with pytest.raises(services.ChatError, match="not cleared"):
        services.start_conversation(owner=org.alice, category=org.confidential)
    with pytest.raises(services.ChatError):
        services.start_conversation(owner=org.carol, category=org.prohibited)


def test_it_refuses_conversations_in_a_retired_category_even_to_the_cleared(org):
    services.start_conversation(owner=org.alice, category=org.internal)
    Category.objects.filter(pk=org.internal.pk).update(is_active=False)
    with pytest.raises(services.ChatError, match="not cleared"):
        services.start_conversation(owner=org.alice, category=org.internal)


def test_a_stop_request_ends_the_answer_as_cancelled(org, django_capture_on_commit_callbacks):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    Message.objects.filter(pk=sent.answer.pk).update(status=Message.Status.QUEUED)
    sent.answer.refresh_from_db()
    services.cancel_answer(answer=sent.answer, author=org.alice)
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.CANCELLED
    answering.generate_answer(sent.answer.pk)
    assert org.external.requests == []


def test_a_stop_during_the_answer_keeps_what_came(org, django_capture_on_commit_callbacks):
    org.external.reply = ["one ", "two ", "three ", "four"]
    org.external.delay = 0.25
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Count")

    def stop_once_called():  # as if pressed just after the start (before, nothing is sent)
        while not org.external.requests:
            time.sleep(0.02)
        streams.request_cancel(sent.answer.public_id)

    stopper = threading.Thread(target=stop_once_called)
    stopper.start()
    answering.generate_answer(sent.answer.pk)
    stopper.join()
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.CANCELLED
    assert sent.answer.content.startswith("one") and "four" not in sent.answer.content


def test_an_answer_whose_database_was_out_of_reach_for_a_moment_is_tried_again(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """Its task is acknowledged when it fails: without a retry, the answer stayed QUEUED
    until the sweeper failed it, 15 minutes on."""
    from django.db import OperationalError

    from chat.tasks import generate_answer

    claims = []
    claim = answering._claim

    def out_of_reach_once(message_id):
        claims.append(message_id)
        if len(claims) == 1:
            raise OperationalError("FATAL:  sorry, too many clients already")
        return claim(message_id)

    monkeypatch.setattr(answering, "_claim", out_of_reach_once)
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    generate_answer.apply(args=[sent.answer.pk], throw=False)  # eager: the retry runs at once
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.DONE and len(claims) == 2


def test_an_answer_past_its_time_limit_is_stopped_and_failed_keeping_what_came(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """Checked by the answer itself: a threads pool (as ``manage.py serve`` runs the external
    worker) has no Celery time limits, and the API's web process had none."""
    monkeypatch.setattr(production, "ANSWER_SOFT_LIMIT_SECONDS", 0.5)
    org.external.reply = [f"word{n} " for n in range(20)]
    org.external.delay = 0.1
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Count")
    answering.generate_answer(sent.answer.pk)
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.FAILED
    assert sent.answer.error_kind == "timeout" and "took too long" in sent.answer.error
    assert sent.answer.content.startswith("word0 ") and "word19" not in sent.answer.content


def test_an_answer_that_ends_before_its_next_look_is_due_settles_without_one(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """No round trip to Redis for the stop flag after the last chunk of a quick answer (most
    API answers): a stop is seen at most a look's interval late."""
    monkeypatch.setattr(production, "CANCEL_POLL_SECONDS", 30)
    looks = []
    monkeypatch.setattr(streams, "poll", lambda public_id: looks.append(public_id) or (True, 1))
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    answering.generate_answer(sent.answer.pk)
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.DONE and looks == []


def test_a_backend_whose_key_is_not_set_goes_to_the_back_of_the_line(
    org, monkeypatch, django_capture_on_commit_callbacks
):
    """A fresh demo without OPENAI_API_KEY: Internal is answered by the next approved backend."""
    from governance.demo import BUILTIN_NAME
    from governance.models import Backend

    Backend.objects.filter(name=BUILTIN_NAME).delete()
    monkeypatch.delenv("STEWARD_TEST_OPENAI_KEY")
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello")
    sent.answer.refresh_from_db()
    assert sent.answer.backend_name == "Local Ollama" and sent.answer.status == Message.Status.DONE
    assert org.external.requests == []


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_two_messages_sent_at_once_to_one_conversation_take_turns(
    transactional_db, org, monkeypatch
):
    """One goes out, the other is refused because an answer is on its way (not a second
    answer beside the first): the second, written first without a lock, makes the first's
    write find the conversation changed; the first, then locked, sees the answer."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    monkeypatch.setattr(sending, "enqueue_answer", lambda *args, **kwargs: True)
    first_inside, second_started = threading.Event(), threading.Event()
    record = sending._record

    def slow_first(*args, **kwargs):
        if not first_inside.is_set():
            first_inside.set()
            second_started.wait(5)
            threading.Event().wait(0.5)  # the second is now waiting for the lock
        return record(*args, **kwargs)

    monkeypatch.setattr(sending, "_record", slow_first)
    outcomes = {}

    def send(name: str) -> None:
        try:
            services.send_message(conversation=conversation, author=org.alice, text=name)
            outcomes[name] = "sent"
        except services.ChatError as exc:
            outcomes[name] = str(exc)
        finally:
            connection.close()

    first = threading.Thread(target=send, args=("first",))
    first.start()
    first_inside.wait(5)
    second = threading.Thread(target=send, args=("second",))
    second.start()
    second_started.set()
    first.join(10)
    second.join(10)
    assert sorted(outcomes.values()) == sorted(["sent", services.STILL_ON_ITS_WAY])
    answers = Message.objects.filter(conversation=conversation, role=Message.Role.ASSISTANT)
    assert answers.count() == 1


def test_an_identifier_inside_a_link_reaches_the_subject_index(
    org, django_capture_on_commit_callbacks
):
    """An address inside a link is a finding hidden under the link's: a data-subject request
    must still find the message."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    text = f"Profile: https://crm.example.com/people?mail={EMAIL}"
    _send(django_capture_on_commit_callbacks, conversation, org.alice, text)
    digests = set(SubjectMention.objects.values_list("digest", flat=True))
    assert pseudonym(canonical("EMAIL_ADDRESS", EMAIL)) in digests


def test_a_backends_error_is_kept_sealed_with_the_conversation(
    org, django_capture_on_commit_callbacks
):
    """A backend's error may quote what it was sent: it is sealed like the text, so
    deleting the conversation's key leaves it unreadable too."""
    org.external.fail = 422
    org.external.error_body = lambda status: {"error": {"message": "bad input: quokka-said-7"}}
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello")
    answer = Message.objects.get(pk=sent.answer.pk)
    assert answer.status == Message.Status.FAILED and "quokka-said-7" in answer.error
    raw = Message.objects.filter(pk=answer.pk).values_list("error_sealed", flat=True)[0]
    assert b"quokka-said-7" not in bytes(raw)
    Conversation.objects.filter(pk=conversation.pk).update(data_key_wrapped=b"shredded")
    with pytest.raises(UnreadableError):
        Message.objects.select_related("conversation").get(pk=answer.pk).error


def test_a_retried_request_keeps_its_turns_when_todays_policy_replaces_more(
    org, django_capture_on_commit_callbacks
):
    """An API request's answer failed; the retry, governed by today's policy, which now
    replaces a code name, still sends the request's turns with their roles."""
    parts = [("system", "Answer in French."), ("user", f"Project Falcon, for {EMAIL}.")]
    sent = services.send_request(author=org.alice, category=org.internal, parts=parts)
    answer = sent.answer
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.FAILED)
    answer.refresh_from_db()
    DetectionRule.objects.create(
        name="Code names", reason="Code names stay inside", pattern="Falcon",
        action="pseudonymise",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        services.retry_answer(answer=answer, author=org.alice)
    said = [(m["role"], m["content"]) for m in org.external.last.body["messages"]]
    assert said[1][0] == "system" and said[1][1] == "Answer in French."
    assert said[2][0] == "user" and "Falcon" not in said[2][1] and EMAIL not in said[2][1]
    assert said[2][1].startswith("Project [")
