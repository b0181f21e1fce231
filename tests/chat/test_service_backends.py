"""Every backend kind answers through the whole governed path, with its vendor's real client
against its fake on loopback; the console approves a private-cloud backend for category 3."""

import json

import pytest

from audit.models import AuditEvent
from chat import answering, services
from chat.answering import history
from chat.models import Message
from governance.models import Approval, Backend, HostingClass, User
from governance.roles import Role
from tests.chat.conftest import KEY, MODELS, key_for
from tests.factories import make_user
from tests.fakes.llm_servers import FakeLLM

EMAIL = "jane.roe@example.org"


def _send(django_capture_on_commit_callbacks, conversation, author, text):
    with django_capture_on_commit_callbacks(execute=True):
        return services.send_message(conversation=conversation, author=author, text=text)


def test_each_kind_streams_an_answer_through_the_governed_path(
    org, fake, backend_for, django_capture_on_commit_callbacks
):
    backend = backend_for(fake, hosting_class=HostingClass.PRIVATE_CLOUD, dpa_signed=True)
    Approval.objects.create(category=org.internal, backend=backend, preference=0)
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, f"Mail {EMAIL}")
    sent.answer.refresh_from_db()
    assert (sent.answer.status, sent.answer.backend_name) == (Message.Status.DONE, backend.name)
    assert sent.answer.content == "Hello, world!"
    assert (sent.answer.input_tokens, sent.answer.output_tokens) == (12, 4)
    received = json.dumps([r.body for r in fake.requests])
    assert "[EMAIL_1]" in received and EMAIL not in received
    assert org.external.requests == [] and org.local.requests == []
    response = AuditEvent.objects.get(action="chat.response")
    assert response.backend == backend.name and response.details["hosting_class"] == "private_cloud"


def test_a_backend_error_is_a_failed_answer_and_an_audit_event(
    org, fake, backend_for, django_capture_on_commit_callbacks
):
    fake.fail = 429
    backend = backend_for(fake, hosting_class=HostingClass.PRIVATE_CLOUD, dpa_signed=True)
    Approval.objects.create(category=org.internal, backend=backend, preference=0)
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello")
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.FAILED
    assert f"{backend.name} answered HTTP 429" in sent.answer.error
    failure = AuditEvent.objects.get(action="chat.failure")
    assert (failure.details["kind"], failure.backend) == ("http", backend.name)


@pytest.mark.parametrize("kind", ["bedrock", "vertex"])
def test_the_console_approves_a_private_cloud_backend_for_category_3(
    org, client, kind, django_capture_on_commit_callbacks
):
    """A policy admin adds the backend and approves it for category 3 in the console; a
    category-3 message then goes to it, recorded as private cloud."""
    fake = FakeLLM(kind)
    try:
        admin = make_user("policy@example.com", Role.POLICY_ADMIN)
        client.force_login(admin)
        form = {
            "name": f"{kind} EU",
            "kind": kind,
            "base_url": fake.url,
            "model": MODELS[kind],
            "credential": key_for(kind),
            "hosting_class": "",  # the kind's usual: private cloud
            "region": "eu-central-1" if kind == "bedrock" else "europe-west4",
            "project": "proj-1",
            "dpa_signed": "on",
        }
        response = client.post("/policy/backends/new/", form)
        assert response.status_code == 302, response.context["form"].errors
        backend = Backend.objects.get(name=f"{kind} EU")
        assert backend.hosting_class == HostingClass.PRIVATE_CLOUD
        Approval.objects.filter(category=org.confidential).update(preference=5)  # on-prem second
        response = client.post(
            "/policy/approvals/",
            {"category": "confidential", "backend": backend.public_id, "preference": "1"},
        )
        assert response.status_code == 302, response.context["form"].errors
        carol = User.objects.get(pk=org.carol.pk)
        conversation = services.start_conversation(owner=carol, category=org.confidential)
        sent = _send(django_capture_on_commit_callbacks, conversation, carol, "Summarise a file")
        sent.answer.refresh_from_db()
        assert (sent.answer.status, sent.answer.backend_name) == (Message.Status.DONE, backend.name)
        assert sent.answer.content == "Hello, world!"
        assert org.local.requests == [] and len(fake.requests) == 1
        request = AuditEvent.objects.get(action="chat.request")
        assert request.backend == backend.name
        assert request.details["hosting_class"] == "private_cloud"
        assert KEY not in json.dumps(list(AuditEvent.objects.values("before", "after", "details")))
    finally:
        fake.stop()


def test_history_is_trimmed_to_each_backends_context_budget(
    org, django_capture_on_commit_callbacks
):
    """The oldest turns are left out first, to fit the budget of the backend called."""
    api = Backend.objects.get(name="OpenAI business API")
    api.context_tokens = 1_000  # history: 750 tokens, ~2,250 characters
    api.save(update_fields=["context_tokens"])
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    for word in ("first", "second", "third"):
        _send(django_capture_on_commit_callbacks, conversation, org.alice, f"{word} " * 150)
    said = [m["content"][:6] for m in org.external.last.body["messages"] if m["role"] == "user"]
    assert said == ["second", "third "]
    assert answering.history_budget(api) == 750 * answering.CHARS_PER_TOKEN
    api.context_tokens = None  # the kind's usual: 16,384 tokens
    api.save(update_fields=["context_tokens"])
    _send(django_capture_on_commit_callbacks, conversation, org.alice, "fourth")
    said = [m["content"][:6] for m in org.external.last.body["messages"] if m["role"] == "user"]
    assert said == ["first ", "second", "third ", "fourth"]


def test_the_history_is_read_a_page_at_a_time_and_sent_whole(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(history, "HISTORY_PAGE", 2)  # turns read at once
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    for word in ("first", "second", "third", "fourth"):
        _send(django_capture_on_commit_callbacks, conversation, org.alice, word)
    roles = [m["role"] for m in org.external.last.body["messages"]]
    said = [m["content"] for m in org.external.last.body["messages"] if m["role"] == "user"]
    assert said == ["first", "second", "third", "fourth"]  # 7 turns: pages of 2, 2, 2, 1
    assert roles == ["system", *["user", "assistant"] * 3, "user"]


def test_each_kind_has_a_usual_context_budget(db):
    from tests.factories import make_backend

    assert make_backend(name="a", kind="ollama").context_budget == 4_096
    assert make_backend(name="b", kind="bedrock").context_budget == 32_768
    gemini = make_backend(name="c", kind="vertex", context_tokens=1_000_000)
    assert gemini.context_budget == 1_000_000
