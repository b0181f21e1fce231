"""The chat pages: every endpoint's access matrix, then what each one does for its owner.

Where a test sends, the fake backends on loopback answer with Celery eager: a
send made inside ``django_capture_on_commit_callbacks(execute=True)`` is
answered (and written to its Redis stream) when the block exits, so the page
the request itself rendered still shows the answer on its way. Tests about
who may see what write the conversation straight to the database instead.
"""

import html
import json
import re
import uuid
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from chat import services, streams
from chat.models import Conversation, Message
from chat.pseudonyms import Pseudonymiser
from chat.services import conversations
from governance.models import Backend, Category, DetectionRule
from tests.asked_here import asked

HTMX = {"HTTP_HX_REQUEST": "true"}
LIVE = {**HTMX, "HTTP_ACCEPT": "text/event-stream"}  # what the page's script sends
#: send_and_stream sends on the database threads: their connections see only what was
#: committed, so its tests commit instead of rolling back.
ON_THREADS = pytest.mark.django_db(transaction=True)
EMAIL = "jane.roe@example.org"


def restored(value: str, placeholder: str) -> str:
    """How a value put back in an answer's text reads in its HTML (chat.markdown)."""
    title = f"Your value, put back by Steward: the model saw {placeholder}"
    return f'<span class="restored" title="{title}">{value}</span>'


#: The address in an answer's HTML, put back for its author.
EMAIL_BACK = restored(EMAIL, "[EMAIL_1]")


def _shown(html: str) -> str:
    """What ``html`` shows as text (no tags, nor their attributes)."""
    return re.sub(r"<[^>]+>", "", html)


QUESTION = f"Write to {EMAIL} about the invoice"
LOGIN = "/accounts/login/"


@pytest.fixture
def thread(org):
    """Alice's category-2 conversation: a question with an email, and the answer that used it.

    Written straight to the database, as the service would have stored it (the
    backends are not called: most tests here are about who may see what).
    """
    conversation, question, answer = _answered(
        org.alice,
        org.internal,
        QUESTION,
        "I will write to [EMAIL_1] today.",
        pseudonyms={EMAIL: "[EMAIL_1]"},
    )
    return SimpleNamespace(org=org, conversation=conversation, question=question, answer=answer)


@pytest.fixture
def answered(org, django_capture_on_commit_callbacks):
    """Like ``thread``, but sent through the service: the fake backend answered into Redis."""
    org.external.reply = ["I will write to ", "[EMAIL", "_1] today."]
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=True):
        sent = services.send_message(conversation=conversation, author=org.alice, text=QUESTION)
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.DONE
    return SimpleNamespace(
        org=org, conversation=conversation, question=sent.message, answer=sent.answer
    )


def _answered(owner, category, question_text, answer_text, *, pseudonyms=None, conversation=None):
    """One stored question and its finished answer (``pseudonyms``: value -> placeholder)."""
    backend = Backend.objects.get(name="OpenAI business API")
    if conversation is None:
        conversation = Conversation(owner=owner, category=category)
        conversation.init_key()
        conversation.title = question_text
    sent_text = question_text
    if pseudonyms:
        pseudonymiser = Pseudonymiser(conversation.pseudonyms())
        for value, placeholder in pseudonyms.items():
            assert pseudonymiser.placeholder("EMAIL_ADDRESS", value) == placeholder
            sent_text = sent_text.replace(value, placeholder)
        conversation.set_pseudonyms(pseudonymiser.mapping)
    conversation.save()
    question = Message(
        conversation=conversation,
        role=Message.Role.USER,
        status=Message.Status.SENT,
        category_number=category.number,
        decision="pseudonymised" if pseudonyms else "allowed",
        replaced={"EMAIL_ADDRESS": len(pseudonyms)} if pseudonyms else {},
    )
    question.content = question_text
    if sent_text != question_text:
        question.sent_text = sent_text
    question.save()
    answer = Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.DONE,
        reply_to=question,
        category_number=category.number,
        backend=backend,
        backend_name=backend.name,
    )
    answer.content = answer_text
    answer.save()
    return conversation, question, answer


def _send(client, thread, text, django_capture_on_commit_callbacks, **extra):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(_url("chat:send", thread), {"text": text}, **extra)


def _url(name: str, thread, *args) -> str:
    if name in ("chat:home", "chat:start"):
        return reverse(name)
    if name in ("chat:turn", "chat:stop", "chat:retry", "chat:stream"):
        return reverse(name, args=[thread.answer.public_id, *args])
    return reverse(name, args=[thread.conversation.public_id, *args])


def _call(client, method: str, url: str, data: dict, **extra):
    """GET ``url``, or POST ``data`` to it."""
    return client.get(url, **extra) if method == "get" else client.post(url, data, **extra)


def _events(response) -> list[bytes]:
    """The server-sent events of a streaming response, each one ``event: …`` block."""

    async def consume():
        return [part async for part in response.streaming_content]

    body = b"".join(async_to_sync(consume)())
    return [block for block in body.split(b"\n\n") if block]


def _fields(block: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in block.decode().split("\n"):
        name, _, value = line.partition(": ")
        fields[name] = (fields[name] + "\n" + value) if name in fields else value
    return fields


# --- the access matrix ---------------------------------------------------------------------

ON_A_CONVERSATION = [
    pytest.param("chat:conversation", "get", (), id="conversation"),
    pytest.param("chat:send", "post", (), id="send"),
    pytest.param("chat:send_and_stream", "post", (), id="send-and-stream", marks=ON_THREADS),
    pytest.param("chat:preview", "post", (), id="preview"),
    pytest.param("chat:export", "get", ("md",), id="export-md"),
    pytest.param("chat:export", "get", ("json",), id="export-json"),
    pytest.param("chat:delete", "post", (), id="delete"),
    pytest.param("chat:rename", "post", (), id="rename"),
    pytest.param("chat:turn", "get", (), id="turn"),
    pytest.param("chat:stop", "post", (), id="stop"),
    pytest.param("chat:retry", "post", (), id="retry"),
    pytest.param("chat:stream", "get", (), id="stream"),
]
EVERY_ENDPOINT = [
    pytest.param("chat:home", "get", (), id="home"),
    pytest.param("chat:start", "post", (), id="start"),
    *ON_A_CONVERSATION,
]
OTHER_METHOD = {"get": "post", "post": "get"}


#: Ids that match nothing: the checks below come before any look-up, so they answer alike.
NOWHERE = SimpleNamespace(
    conversation=SimpleNamespace(public_id=uuid.uuid4()),
    answer=SimpleNamespace(public_id=uuid.uuid4()),
)


@pytest.mark.parametrize(("name", "method", "args"), EVERY_ENDPOINT)
def test_it_sends_anonymous_visitors_to_the_login_page(client, db, name, method, args):
    url = _url(name, NOWHERE, *args)
    response = _call(client, method, url, {"text": "Hello", "category": "internal"})
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={quote(url)}"


@pytest.mark.parametrize(("name", "method", "args"), EVERY_ENDPOINT)
def test_it_sends_the_whole_page_of_a_signed_out_htmx_request_to_sign_in(
    client, db, name, method, args
):
    """Not a redirect that the request follows, putting the sign-in page inside the page;
    signing in comes back to the page."""
    page = f"/chat/c/{NOWHERE.conversation.public_id}/"
    url = _url(name, NOWHERE, *args)
    response = _call(
        client,
        method,
        url,
        {"text": "Hello", "category": "internal"},
        **HTMX,
        HTTP_HX_CURRENT_URL=f"http://testserver{page}?q=budget#turn-1",
    )
    assert response.status_code == 200 and "Location" not in response
    assert response["HX-Redirect"] == f"{LOGIN}?next={quote(page)}"


@pytest.mark.parametrize(("name", "method", "args"), EVERY_ENDPOINT)
def test_it_refuses_signed_in_users_without_the_staff_role(
    client, thread, outsider, reader, name, method, args
):
    for user in (outsider, reader):
        client.force_login(user)
        url = _url(name, thread, *args)
        response = _call(client, method, url, {"text": "Hello", "category": "internal"})
        assert response.status_code == 403, user
        assert b"invoice" not in response.content
    assert Message.objects.count() == 2 and Conversation.objects.count() == 1


@pytest.mark.parametrize(("name", "method", "args"), EVERY_ENDPOINT)
def test_it_answers_the_wrong_method_with_405(client, member, name, method, args):
    client.force_login(member)
    response = getattr(client, OTHER_METHOD[method])(_url(name, NOWHERE, *args))
    assert response.status_code == 405


def _state(thread) -> dict:
    """Everything an intruder's request could change."""
    redis = streams.client()
    return {
        "conversations": list(
            Conversation.objects.values_list("public_id", "category_id", "title_sealed")
        ),
        "messages": list(
            Message.objects.order_by("pk").values_list(
                "public_id", "status", "chars", "error_sealed"
            )
        ),
        "audit": list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True)),
        "sent": (len(thread.org.external.requests), len(thread.org.local.requests)),
        "stream": redis.xlen(streams.stream_key(thread.answer.public_id)),
        "cancel": redis.exists(streams.cancel_key(thread.answer.public_id)),
    }


#: The answer's state that gives each endpoint something to do for its owner.
ANSWER_STATE = {"chat:stop": Message.Status.QUEUED, "chat:retry": Message.Status.FAILED}


@pytest.mark.parametrize(("name", "method", "args"), ON_A_CONVERSATION)
def test_it_hides_a_conversation_from_everyone_but_its_owner(
    client, thread, member, django_capture_on_commit_callbacks, name, method, args
):
    if name in ANSWER_STATE:
        Message.objects.filter(pk=thread.answer.pk).update(status=ANSWER_STATE[name])
    for intruder in (thread.org.carol, member):  # staff, like the owner
        client.force_login(intruder)
        before = _state(thread)
        url = _url(name, thread, *args)
        with django_capture_on_commit_callbacks(execute=True):
            data = {"text": f"Mail {EMAIL}, a privileged note", "title": "Taken over"}
            response = _call(client, method, url, data)
        assert response.status_code == 404, intruder
        assert b"invoice" not in response.content and EMAIL.encode() not in response.content
        assert _state(thread) == before


# --- home and start ------------------------------------------------------------------------


def test_it_lists_the_users_conversations_and_the_categories_they_may_start(client, thread):
    other = services.start_conversation(owner=thread.org.carol, category=thread.org.internal)
    client.force_login(thread.org.alice)
    response = client.get(reverse("chat:home"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page
    assert QUESTION in page
    assert _url("chat:conversation", thread) in page
    assert str(other.public_id) not in page
    assert 'value="public"' in page and 'value="internal"' in page
    assert 'value="confidential"' not in page and 'value="prohibited"' not in page


def test_it_searches_conversations_by_title(client, thread):
    second, _, _ = _answered(thread.org.alice, thread.org.public, "Quarterly plan", "An answer")
    client.force_login(thread.org.alice)
    page = client.get(reverse("chat:home"), {"q": "INVOICE"}).content.decode()
    assert str(thread.conversation.public_id) in page
    assert str(second.public_id) not in page
    page = client.get(reverse("chat:home"), {"q": "quarterly"}).content.decode()
    assert str(second.public_id) in page
    assert str(thread.conversation.public_id) not in page
    page = client.get(reverse("chat:home"), {"q": "answer"}).content.decode()
    assert "No conversation matches “answer”" in page  # the answer's text is not searched


def test_a_search_says_what_it_found_to_a_screen_reader(client, thread):
    """The list is replaced as one types: a polite status line, kept in the page and filled
    out of band, says how many titles match (a screen reader heard nothing)."""
    _answered(thread.org.alice, thread.org.public, "Quarterly plan", "An answer")
    client.force_login(thread.org.alice)
    page = client.get(reverse("chat:home")).content.decode()
    assert re.search(r'<p id="conversation-search-status"[^>]*role="status"', page)
    found = client.get(reverse("chat:home"), {"q": "quarterly"}, **HTMX).content.decode()
    assert re.search(
        r'<p id="conversation-search-status" hx-swap-oob="innerHTML">\s*1 conversation '
        r"matches “quarterly”",
        found,
    )
    none = client.get(reverse("chat:home"), {"q": "zzz"}, **HTMX).content.decode()
    assert "No conversation matches “zzz”" in none.split('id="conversation-search-status"')[1]
    cleared = client.get(reverse("chat:home"), {"q": ""}, **HTMX).content.decode()
    assert "Your newest conversations" in cleared.split('id="conversation-search-status"')[1]


def test_it_finds_an_older_conversation_by_title(client, thread, monkeypatch):
    from chat import views

    monkeypatch.setattr(views, "CONVERSATION_LIST_LIMIT", 2)
    for title in ("Quarterly plan", "Holiday rota"):
        _answered(thread.org.alice, thread.org.public, title, "An answer")
    Conversation.objects.filter(pk=thread.conversation.pk).update(
        last_activity_at="2020-01-01T00:00Z"
    )
    client.force_login(thread.org.alice)
    page = client.get(reverse("chat:home"), {"q": "invoice"}).content.decode()
    assert str(thread.conversation.public_id) in page


def test_it_returns_the_conversation_list_fragment_to_htmx(client, thread):
    client.force_login(thread.org.alice)
    response = client.get(reverse("chat:home"), {"q": "invoice"}, **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page
    assert page.lstrip().startswith('<ul id="conversation-list"')
    assert QUESTION in page


def _titled(owner, category, titles, *, at=None) -> list[Conversation]:
    """Conversations with these titles, each a minute older than the one before (or all
    last active at ``at``)."""
    now = timezone.now()
    made = []
    for minutes, title in enumerate(titles):
        when = at or now - timedelta(minutes=minutes)
        conversation = Conversation(
            owner=owner, category=category, last_activity_at=when, created_at=when
        )
        conversation.init_key()
        conversation.title = title
        conversation.save()
        made.append(conversation)
    return made


def _listed(page: str) -> list[str]:
    return re.findall(r'<span class="conversation-title">([^<]*)</span>', page)


def _older_link(page: str) -> str | None:
    found = re.search(r'href="([^"]*)"[^>]*>Older conversations</a>', page)
    return html.unescape(found.group(1)) if found else None


def test_older_conversations_are_a_click_away_past_the_newest(client, org, monkeypatch):
    """Past the newest page, "Older conversations" loads the next ones into the list (htmx:
    only the new rows), until there are no more; each shows once, newest first, even
    conversations last active in the same instant."""
    from chat import views

    monkeypatch.setattr(views, "CONVERSATION_LIST_LIMIT", 2)
    titles = [f"Conversation {i}" for i in range(5)]
    _titled(org.alice, org.internal, titles[:3])
    tied = _titled(org.alice, org.internal, titles[3:], at=timezone.now() - timedelta(days=1))
    client.force_login(org.alice)
    page = client.get(reverse("chat:home")).content.decode()
    assert _listed(page) == titles[:2]
    listed, older, loads = _listed(page), _older_link(page), 0
    while older:
        more = client.get(older, **HTMX).content.decode()
        assert "<html" not in more and 'id="conversation-list"' not in more
        listed += _listed(more)
        older, loads = _older_link(more), loads + 1
    assert loads == 2
    assert listed[:3] == titles[:3]
    assert sorted(listed[3:]) == titles[3:] and len(tied) == 2


def test_older_conversations_keep_the_search(client, org, monkeypatch):
    from chat import views

    monkeypatch.setattr(views, "CONVERSATION_LIST_LIMIT", 2)
    _titled(org.alice, org.internal, ["Plan A", "Rota", "Plan B", "Plan C", "Menu"])
    client.force_login(org.alice)
    found = client.get(reverse("chat:home"), {"q": "plan"}, **HTMX).content.decode()
    assert _listed(found) == ["Plan A", "Plan B"]
    assert "q=plan" in _older_link(found)
    more = client.get(_older_link(found), **HTMX).content.decode()
    assert (_listed(more), _older_link(more)) == (["Plan C"], None)
    two = client.get(reverse("chat:home"), {"q": "rota"}).content.decode()
    assert (_listed(two), _older_link(two)) == (["Rota"], None)  # nothing more to say


def test_older_conversations_work_without_javascript(client, org, monkeypatch):
    """The link is a page of its own: the older conversations, and the way back to the newest."""
    from chat import views

    monkeypatch.setattr(views, "CONVERSATION_LIST_LIMIT", 2)
    _titled(org.alice, org.internal, ["One", "Two", "Three"])
    client.force_login(org.alice)
    first = client.get(reverse("chat:home")).content.decode()
    older = client.get(_older_link(first))
    assert older.status_code == 200 and "<html" in older.content.decode()
    assert _listed(older.content.decode()) == ["Three"]
    assert 'href="/chat/">Newest conversations</a>' in older.content.decode()


@pytest.mark.parametrize(
    "before", ["yesterday", "2026-01-01T00:00:00+00:00~nonsense", "~", "9" * 30]
)
def test_a_garbled_older_link_shows_the_newest(client, org, before):
    _titled(org.alice, org.internal, ["One"])
    client.force_login(org.alice)
    response = client.get(reverse("chat:home"), {"before": before})
    assert response.status_code == 200
    assert _listed(response.content.decode()) == ["One"]
    assert "Newest conversations" not in response.content.decode()


def test_it_starts_a_conversation_and_opens_it(client, org):
    client.force_login(org.alice)
    response = client.post(reverse("chat:start"), {"category": "internal"})
    conversation = Conversation.objects.get()
    assert (conversation.owner, conversation.category) == (org.alice, org.internal)
    assert response.status_code == 302
    assert response["Location"] == _url(
        "chat:conversation", SimpleNamespace(conversation=conversation)
    )
    assert AuditEvent.objects.filter(action="chat.started").count() == 1


def test_it_starts_a_conversation_for_htmx_with_a_client_redirect(client, org):
    client.force_login(org.alice)
    response = client.post(reverse("chat:start"), {"category": "public"}, **HTMX)
    conversation = Conversation.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("chat:conversation", args=[conversation.public_id])
    assert b"<html" not in response.content


@pytest.mark.parametrize(
    ("category", "error"),
    [
        ("confidential", "You are not cleared for category 3 (Confidential / personal data)."),
        ("prohibited", "You are not cleared for category 4"),
        ("", "Choose a category for the conversation."),
        ("no-such-category", "Choose a category for the conversation."),
    ],
)
def test_it_starts_nothing_in_a_category_the_user_may_not_use(client, org, category, error):
    client.force_login(org.alice)
    events = AuditEvent.objects.count()
    response = client.post(reverse("chat:start"), {"category": category}, follow=True)
    assert response.redirect_chain == [(reverse("chat:home"), 302)]
    assert error in response.content.decode()
    assert not Conversation.objects.exists()
    assert AuditEvent.objects.count() == events


# --- one conversation ----------------------------------------------------------------------


def test_it_shows_the_author_the_real_values_and_the_model_only_placeholders(
    client, org, django_capture_on_commit_callbacks
):
    org.external.reply = ["Sure, I will write to ", "[EMAIL_1]", "."]
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    client.force_login(org.alice)
    thread = SimpleNamespace(conversation=conversation)
    response = _send(client, thread, QUESTION, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    question = Message.objects.get(role=Message.Role.USER)
    assert response["Location"].endswith(f"#turn-{question.public_id}")  # not the box
    received = json.dumps([r.body for r in org.external.requests])
    assert "[EMAIL_1]" in received and EMAIL not in received
    assert org.local.requests == []
    page = client.get(response["Location"]).content.decode()
    title = "Write to [email address] about the invoice"  # named, not shown, in the title
    assert f'<h1 id="conversation-title">{title}</h1>' in page
    assert f"<title>{title}" in page
    assert f"Sure, I will write to {EMAIL_BACK}." in page  # the answer, restored
    assert "What the model saw" in page and "Write to [EMAIL_1] about the invoice" in page
    assert "1 email address replaced" in page


def test_an_answer_the_backend_cut_at_its_length_limit_says_so(
    client, org, django_capture_on_commit_callbacks
):
    org.external.finish = "length"
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    client.force_login(org.alice)
    thread = SimpleNamespace(conversation=conversation)
    response = _send(client, thread, QUESTION, django_capture_on_commit_callbacks)
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert (answer.status, answer.finish_reason) == (Message.Status.DONE, "length")
    page = client.get(response["Location"]).content.decode()
    assert "reached the backend&#x27;s length limit and may be cut short" in page
    exported = json.loads(client.get(asked(client, _url("chat:export", thread, "json"))).content)
    assert exported["messages"][1]["finish_reason"] == "length"
    assert (
        "may be cut short"
        in client.get(asked(client, _url("chat:export", thread, "md"))).content.decode()
    )
    event = AuditEvent.objects.get(action=AuditEvent.Action.CHAT_RESPONSE)
    assert event.details["finish"] == "length"


@pytest.mark.parametrize(
    "finish, note",
    [("stop", None), ("", None), ("content_filter", "The backend&#x27;s content filter stopped")],
)
def test_only_an_unfinished_answer_has_a_note(client, thread, finish, note):
    Message.objects.filter(pk=thread.answer.pk).update(finish_reason=finish)
    client.force_login(thread.org.alice)
    page = client.get(_url("chat:conversation", thread)).content.decode()
    if note is None:
        assert "turn-cut" not in page
    else:
        assert note in page


@pytest.fixture
def blocking(org, client):
    """A rule that blocks "privileged", and Alice signed in, in a new conversation."""
    DetectionRule.objects.create(
        name="Privilege", reason="Privileged legal advice", pattern="privileged", action="block"
    )
    client.force_login(org.alice)
    return services.start_conversation(owner=org.alice, category=org.internal)


def test_it_shows_a_blocked_message_as_not_sent_with_the_reason(
    client, org, blocking, django_capture_on_commit_callbacks
):
    thread = SimpleNamespace(conversation=blocking)
    response = _send(
        client, thread, "The privileged memo on Hartley", django_capture_on_commit_callbacks
    )
    assert response.status_code == 302
    page = client.get(_url("chat:conversation", thread)).content.decode()
    assert "Not sent." in page and "Privileged legal advice" in page
    assert "Hartley" not in page  # a blocked message keeps no text
    assert org.external.requests == [] and org.local.requests == []
    assert Message.objects.get().status == Message.Status.BLOCKED


def test_it_sends_with_htmx_and_returns_the_new_turns_and_a_fresh_composer(
    client, org, django_capture_on_commit_callbacks
):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    client.force_login(org.alice)
    thread = SimpleNamespace(conversation=conversation)
    response = _send(
        client, thread, "What is a ledger?", django_capture_on_commit_callbacks, **HTMX
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page
    assert page.lstrip().startswith('<li id="turn-')  # appended to the list, not the list
    assert 'id="message-list"' not in page
    assert "What is a ledger?" in page
    assert 'id="thread-empty" hx-swap-oob="delete"' in page  # the first message
    assert 'id="title-block" class="title-block" hx-swap-oob="true"' in page
    assert '<h1 id="conversation-title">What is a ledger?</h1>' in page
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert f'id="turn-{answer.public_id}" class="turn turn-assistant' in page
    assert reverse("chat:stream", args=[answer.public_id]) in page  # on its way as rendered
    assert '<form id="composer"' in page and 'hx-swap-oob="true"' in page
    assert "What is a ledger?</textarea>" not in page  # the box is emptied
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE


def test_it_renders_the_sent_turns_without_reading_the_conversation_again(client, thread):
    # The fragment is rendered from the row as the service locked and saved it: once the
    # message is written, neither the conversation nor its category is read again.
    client.force_login(thread.org.alice)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(_url("chat:send", thread), {"text": f"And {EMAIL}?"}, **HTMX)
    assert response.status_code == 200
    statements = [q["sql"] for q in queries]
    written = next(i for i, sql in enumerate(statements) if 'INSERT INTO "chat_message"' in sql)
    after = [sql for sql in statements[written + 1 :] if sql.lstrip().startswith("SELECT")]
    assert not [sql for sql in after if '"chat_conversation"' in sql]
    assert not [sql for sql in after if '"governance_category"' in sql]
    page = response.content.decode()
    assert f"And {EMAIL}?" in page  # the question as written, for its author
    assert page.count('class="turn turn-') == 2


@ON_THREADS
def test_it_sends_and_streams_the_answer_on_the_same_response(
    client, org, django_capture_on_commit_callbacks
):
    org.external.reply = ["Sure, I will write to ", "[EMAIL", "_1]."]
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    client.force_login(org.alice)
    url = reverse("chat:send_and_stream", args=[conversation.public_id])
    with django_capture_on_commit_callbacks(execute=True):  # answered as the block exits
        response = client.post(url, {"text": QUESTION}, **LIVE)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-store"
    events = [_fields(block) for block in _events(response)]
    assert events[0]["event"] == "sent"  # the new turns first, as the plain send renders them
    turns = events[0]["data"]
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert QUESTION in turns and '<form id="composer"' in turns
    assert f'id="turn-{answer.public_id}"' in turns
    assert f'data-resume="{reverse("chat:turn", args=[answer.public_id])}"' in turns
    assert "sse-connect" not in turns  # the page reads the answer here, not on a stream
    chunks = [e for e in events if e.get("event") == "chunk"]
    assert f"<p>Sure, I will write to {EMAIL_BACK}.</p>" in chunks[-1]["data"]
    assert events[-1]["event"] == "end"
    # Restored for the author (the placeholder is only in the restored value's title).
    assert all("[EMAIL" not in _shown(chunk["data"]) for chunk in chunks)
    received = json.dumps([r.body for r in org.external.requests])
    assert "[EMAIL_1]" in received and EMAIL not in received


@ON_THREADS
def test_it_answers_a_blocked_message_sent_to_stream_as_the_plain_send_does(
    client, org, blocking, django_capture_on_commit_callbacks
):
    url = reverse("chat:send_and_stream", args=[blocking.public_id])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"text": "The privileged memo on Hartley"}, **LIVE)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")  # nothing to stream
    page = response.content.decode()
    assert "Not sent." in page and "Hartley" not in page
    assert org.external.requests == [] and org.local.requests == []


@ON_THREADS
def test_it_keeps_the_typed_text_when_a_message_sent_to_stream_is_refused(client, thread):
    client.force_login(thread.org.alice)
    url = _url("chat:send_and_stream", thread)
    response = client.post(url, {"text": "  \n "}, **LIVE)
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#composer"
    assert "Write a message first." in response.content.decode()
    assert Message.objects.count() == 2


def test_it_refuses_an_empty_message_in_the_composer(client, thread):
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:send", thread), {"text": "  \n "}, **HTMX)
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#composer"
    page = response.content.decode()
    assert "<html" not in page
    assert page.lstrip().startswith('<form id="composer"')
    assert "Write a message first." in page and 'aria-invalid="true"' in page
    assert "hx-swap-oob" not in page
    assert Message.objects.count() == 2


@pytest.mark.parametrize(
    ("text", "typed", "error"),
    [
        pytest.param(
            "And the <b>second</b>?",
            "And the &lt;b&gt;second&lt;/b&gt;?",
            "An answer is still on its way",
            id="answer-on-its-way",
        ),
        pytest.param("x" * 32_001, "x" * 32_001, "the limit is 32,000", id="too-long"),
    ],
)
def test_it_keeps_the_typed_text_when_a_message_is_refused(client, thread, text, typed, error):
    if "second" in text:
        Message.objects.filter(pk=thread.answer.pk).update(status=Message.Status.STREAMING)
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:send", thread), {"text": text}, **HTMX)
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#composer"
    page = response.content.decode()
    assert error in page
    assert f">{typed}</textarea>" in page
    assert Message.objects.count() == 2


def test_it_reports_a_refused_message_on_the_page_without_htmx(client, thread):
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:send", thread), {"text": "  "})
    assert response.status_code == 422  # the page again, with the reason beside the box
    assert "Write a message first." in response.content.decode()
    assert Message.objects.count() == 2


def test_it_shows_the_owner_the_conversation(client, thread):
    client.force_login(thread.org.alice)
    response = client.get(_url("chat:conversation", thread))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page
    assert QUESTION in page
    assert f"I will write to {EMAIL_BACK} today." in page
    assert reverse("chat:stream", args=[thread.answer.public_id]) not in page  # finished
    assert _url("chat:export", thread, "md") in page and _url("chat:delete", thread) in page


def test_it_escapes_what_was_written_and_sanitises_what_the_model_wrote(client, org):
    _, _, answer = _answered(
        org.alice,
        org.internal,
        '<script>alert("q")</script> and <b>bold</b>',
        'Fine <img src=x onerror="alert(1)"> **really**',
    )
    client.force_login(org.alice)
    for url in (
        reverse("chat:home"),
        reverse("chat:turn", args=[answer.public_id]),
        reverse("chat:conversation", args=[answer.conversation.public_id]),
    ):
        page = client.get(url).content.decode()
        for unsafe in ("<script>alert", "<b>bold", "<img src=x"):
            assert unsafe not in page, url
        if url != reverse("chat:home"):
            assert "<strong>really</strong>" in page, url
    assert "&lt;script&gt;alert(&quot;q&quot;)&lt;/script&gt;" in page  # the conversation page


# --- preview -------------------------------------------------------------------------------


def test_it_previews_what_will_happen_and_stores_nothing(client, thread):
    DetectionRule.objects.create(
        name="Privilege", reason="Privileged legal advice", pattern="privileged", action="block"
    )
    client.force_login(thread.org.alice)
    before = _state(thread)
    response = client.post(_url("chat:preview", thread), {"text": f"Mail {EMAIL}"}, **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page and page.lstrip().startswith('<div id="preview"')
    assert "Some details will be replaced" in page
    page = client.post(_url("chat:preview", thread), {"text": "a privileged memo"}).content.decode()
    assert "Will be blocked" in page and "Privileged legal advice" in page
    page = client.post(_url("chat:preview", thread), {"text": "   "}).content.decode()
    assert "Steward shows here what it will do" in page
    assert _state(thread) == before  # no message, no audit event, nothing sent
    assert not AuditEvent.objects.filter(action="chat.request").exists()


def test_the_preview_names_the_backend_the_message_would_go_to(client, thread, monkeypatch):
    """The policy's first choice for category 2 is the OpenAI API; without its key, the
    local model answers: the preview says so, as the send would do."""
    client.force_login(thread.org.alice)
    page = client.post(_url("chat:preview", thread), {"text": f"Mail {EMAIL}"}).content.decode()
    assert "before sending to OpenAI business API" in page
    monkeypatch.delenv("STEWARD_TEST_OPENAI_KEY")
    page = client.post(_url("chat:preview", thread), {"text": f"Mail {EMAIL}"}).content.decode()
    assert "before sending to Local Ollama" in page and "OpenAI" not in page


# --- one turn, stop, retry -----------------------------------------------------------------


def test_it_returns_one_turn_fresh_from_the_database(client, thread):
    client.force_login(thread.org.alice)
    for extra in ({}, HTMX):
        response = client.get(_url("chat:turn", thread), **extra)
        assert response.status_code == 200
        page = response.content.decode()
        assert "<html" not in page
        assert page.lstrip().startswith(f'<li id="turn-{thread.answer.public_id}"')
        assert f"I will write to {EMAIL_BACK} today." in page


def test_an_answer_without_text_says_so(client, org, django_capture_on_commit_callbacks):
    """Not an empty bubble: a backend that sent back nothing is named as having done so."""
    org.external.reply = []
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=True):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hi")
    client.force_login(org.alice)
    page = client.get(reverse("chat:turn", args=[sent.answer.public_id])).content.decode()
    assert "The model sent back no text" in page


def test_erased_text_is_explained_where_it_shows(client, thread):
    """After a data-subject erasure, "[erased]" stood in the text with no word of why."""
    thread.question.content = "Write to [erased] about the invoices."
    thread.question.save()
    client.force_login(thread.org.alice)
    page = client.get(_url("chat:conversation", thread)).content.decode()
    assert page.count("[erased] marks what the privacy team removed") == 1  # its turn only


def test_it_returns_404_for_a_turn_that_does_not_exist(client, thread):
    client.force_login(thread.org.alice)
    assert client.get(reverse("chat:turn", args=[thread.conversation.public_id])).status_code == 404


def test_it_stops_an_answer_on_its_way(client, thread):
    Message.objects.filter(pk=thread.answer.pk).update(status=Message.Status.QUEUED)
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:stop", thread), **HTMX)
    assert response.status_code == 204 and response.content == b""
    thread.answer.refresh_from_db()
    assert thread.answer.status == Message.Status.CANCELLED
    last = streams.client().xrevrange(streams.stream_key(thread.answer.public_id), count=1)
    assert last[0][1] == {b"t": b"end", b"status": b"cancelled"}


def test_it_asks_a_streaming_answer_to_stop_and_redirects_without_htmx(client, thread):
    Message.objects.filter(pk=thread.answer.pk).update(status=Message.Status.STREAMING)
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:stop", thread))
    assert response.status_code == 302
    assert response["Location"] == (
        _url("chat:conversation", thread) + f"#turn-{thread.answer.public_id}"
    )
    assert streams.poll(thread.answer.public_id)[0]  # the stop was asked for


def test_it_ignores_a_stop_for_a_finished_answer(client, thread):
    client.force_login(thread.org.alice)
    assert client.post(_url("chat:stop", thread), **HTMX).status_code == 204
    thread.answer.refresh_from_db()
    assert thread.answer.status == Message.Status.DONE
    assert not streams.poll(thread.answer.public_id)[0]


def test_it_retries_a_failed_answer(client, org, django_capture_on_commit_callbacks):
    org.external.fail = 500
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=True):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    org.external.fail = None
    thread = SimpleNamespace(conversation=conversation, answer=sent.answer)
    client.force_login(org.alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("chat:retry", thread), **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page
    assert page.lstrip().startswith(f'<li id="turn-{sent.answer.public_id}"')
    assert reverse("chat:stream", args=[sent.answer.public_id]) in page  # pending when rendered
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.DONE
    assert sent.answer.content == "Hello from the API."
    assert len(org.external.requests) == 2


def test_it_retries_without_htmx_and_redirects_to_the_turn(
    client, thread, django_capture_on_commit_callbacks
):
    Message.objects.filter(pk=thread.answer.pk).update(status=Message.Status.CANCELLED)
    client.force_login(thread.org.alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("chat:retry", thread))
    assert response.status_code == 302
    assert response["Location"].endswith(f"#turn-{thread.answer.public_id}")
    thread.answer.refresh_from_db()
    assert thread.answer.status == Message.Status.DONE
    assert len(thread.org.external.requests) == 1


def test_it_explains_why_an_answer_cannot_be_retried(client, thread):
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:retry", thread), **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page
    assert "Only a failed or stopped answer can be retried." in page
    response = client.post(_url("chat:retry", thread), follow=True)
    assert "Only a failed or stopped answer can be retried." in response.content.decode()
    assert thread.org.external.requests == []


# --- export and delete ---------------------------------------------------------------------


def test_it_exports_markdown_with_the_values_restored(client, thread):
    client.force_login(thread.org.alice)
    response = client.get(asked(client, _url("chat:export", thread, "md")))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="conversation-')
    assert response["Content-Disposition"].endswith('.md"')
    text = response.content.decode()
    assert text.startswith(f"# {QUESTION}\n")
    assert f"I will write to {EMAIL} today." in text and "[EMAIL_1]" not in text
    event = AuditEvent.objects.get(action="chat.exported")
    assert event.actor == thread.org.alice
    assert event.details == {"format": "md", "messages": 2}
    assert EMAIL not in json.dumps(event.details)


def test_it_exports_json_with_the_values_restored(client, thread):
    client.force_login(thread.org.alice)
    response = client.get(asked(client, _url("chat:export", thread, "json")))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="conversation-')
    data = json.loads(response.content)
    assert data["conversation"] == str(thread.conversation.public_id)
    assert data["title"] == QUESTION
    question, answer = data["messages"]
    assert question["text"] == QUESTION
    assert question["sent_as"] == "Write to [EMAIL_1] about the invoice"
    assert answer["text"] == f"I will write to {EMAIL} today."
    assert answer["backend"] == "OpenAI business API"
    assert AuditEvent.objects.get(action="chat.exported").details["format"] == "json"


def test_a_json_export_writes_times_on_the_companys_clock(client, thread, settings):
    """As the Markdown export and every other download: Auckland's offset, not UTC's."""
    settings.TIME_ZONE = "Pacific/Auckland"
    client.force_login(thread.org.alice)
    data = json.loads(client.get(asked(client, _url("chat:export", thread, "json"))).content)
    created = thread.conversation.created_at
    assert data["created_at"] == timezone.localtime(created).isoformat(timespec="seconds")
    assert data["created_at"].endswith("+13:00")
    assert all(m["created_at"].endswith("+13:00") for m in data["messages"])


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_an_export_does_not_draw_the_answers_html(client, thread, monkeypatch, fmt):
    """An export holds the text only: rendering each answer's HTML (Markdown, highlighting,
    sanitising) made a 1,500-message export take a second instead of a tenth."""
    from chat import turns

    def refuse(*args, **kwargs):
        raise AssertionError("an export rendered an answer's HTML")

    monkeypatch.setattr(turns, "render_markdown", refuse)
    client.force_login(thread.org.alice)
    assert EMAIL in client.get(asked(client, _url("chat:export", thread, fmt))).content.decode()


def test_it_exports_only_markdown_or_json(client, thread):
    client.force_login(thread.org.alice)
    assert client.get(asked(client, _url("chat:export", thread, "txt"))).status_code == 404
    assert not AuditEvent.objects.filter(action="chat.exported").exists()


def test_it_deletes_a_conversation_and_returns_home(
    client, thread, django_capture_on_commit_callbacks
):
    streams.AnswerWriter(thread.answer.public_id).start()
    client.force_login(thread.org.alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("chat:delete", thread), follow=True)
    assert response.redirect_chain == [(reverse("chat:home"), 302)]
    assert "Conversation deleted." in response.content.decode()
    assert not Conversation.objects.exists() and not Message.objects.exists()
    assert AuditEvent.objects.filter(action="chat.deleted").count() == 1
    assert not streams.client().exists(streams.stream_key(thread.answer.public_id))


def test_it_deletes_for_htmx_with_a_client_redirect(client, thread):
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:delete", thread), **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("chat:home")
    assert not Conversation.objects.exists()


def test_it_keeps_a_conversation_under_legal_hold(client, thread):
    Conversation.objects.update(legal_hold=True)
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:delete", thread), follow=True)
    assert response.redirect_chain == [(_url("chat:conversation", thread), 302)]
    page = response.content.decode()
    assert "kept by the privacy team for now: it cannot be deleted" in page
    assert "legal hold" not in page  # not said to the person it may be about
    assert Message.objects.count() == 2


# --- renaming ------------------------------------------------------------------------------


def _title(thread) -> str:
    return Conversation.objects.get(pk=thread.conversation.pk).title


def test_it_renames_a_conversation_in_place_for_htmx(client, thread):
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:rename", thread), {"title": "  Invoice   follow-up "}, **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert '<h1 id="conversation-title">Invoice follow-up</h1>' in page
    assert 'id="side-list" class="side-list" hx-swap-oob="true"' in page
    assert '<span class="side-title">Invoice follow-up</span>' in page
    assert _title(thread) == "Invoice follow-up"
    event = AuditEvent.objects.get(action="chat.renamed")
    assert event.actor == thread.org.alice and event.details == {"chars": 17}
    assert "Invoice" not in json.dumps(event.details) and "Invoice" not in event.target_repr


def test_a_title_keeps_what_a_message_would_have_had_replaced_as_its_text_does(client, thread):
    """Pseudonymising is for what a model sees; a title, like a message's text, is kept as
    typed (sealed), as the first message's title is."""
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:rename", thread), {"title": f"Invoice for {EMAIL}"}, **HTMX)
    assert response.status_code == 200 and _title(thread) == f"Invoice for {EMAIL}"


def test_it_renames_without_javascript_and_says_so(client, thread):
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:rename", thread), {"title": "Invoice"}, follow=True)
    assert response.redirect_chain == [(_url("chat:conversation", thread), 302)]
    assert "Conversation renamed." in response.content.decode()
    assert _title(thread) == "Invoice"


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        pytest.param("   ", "Give the conversation a title.", id="empty"),
        pytest.param("x" * 81, "Keep the title to 80 characters (this one has 81).", id="long"),
        pytest.param("Privileged: the merger", "Blocked: Privileged legal advice", id="blocked"),
        pytest.param(
            "Client file of the Hartleys",
            "this is category 3 (Confidential / personal data) material, which you are not "
            "cleared for: Client files are",
            id="escalated",
        ),
    ],
)
def test_it_refuses_a_title_saying_why_and_keeps_what_was_typed(client, thread, typed, said):
    """A title is screened like a message here: what would block it is not kept, and
    what would move it to another category does not stand in this one's title."""
    DetectionRule.objects.create(
        name="Privilege", reason="Privileged legal advice", pattern="privileged", action="block"
    )
    DetectionRule.objects.create(
        name="Client files",
        reason="Client files are confidential",
        pattern="client file",
        action="escalate",
        min_category=thread.org.confidential,
    )
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:rename", thread), {"title": typed}, **HTMX)
    assert response.status_code == 422
    page = response.content.decode()
    assert said in html.unescape(page)
    assert f'value="{html.escape(typed)}"' in page and '<details class="rename" open>' in page
    assert _title(thread) == QUESTION
    assert not AuditEvent.objects.filter(action="chat.renamed").exists()


def test_a_refused_title_without_javascript_shows_the_page_with_the_form_open(client, thread):
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:rename", thread), {"title": ""})
    assert response.status_code == 422
    page = response.content.decode()
    assert "Give the conversation a title." in page and 'id="composer"' in page
    assert '<details class="rename" open>' in page


def test_a_title_the_scanner_could_not_check_is_not_saved(client, thread, monkeypatch):
    def broken(text, **kwargs):
        raise RuntimeError("the scanner broke")

    monkeypatch.setattr(conversations, "detect", broken)
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:rename", thread), {"title": "Invoice"}, **HTMX)
    assert response.status_code == 422
    assert "could not check this title" in response.content.decode()
    assert _title(thread) == QUESTION


def test_a_conversation_under_legal_hold_keeps_its_title(client, thread):
    Conversation.objects.update(legal_hold=True)
    client.force_login(thread.org.alice)
    response = client.post(_url("chat:rename", thread), {"title": "Invoice"}, **HTMX)
    assert response.status_code == 422
    assert "kept by the privacy team for now: its title" in response.content.decode()
    assert _title(thread) == QUESTION
    assert not AuditEvent.objects.filter(action="chat.renamed").exists()


def test_a_category_that_keeps_no_content_has_no_title_to_rename(client, thread):
    Category.objects.filter(pk=thread.org.internal.pk).update(retention_days=None)
    client.force_login(thread.org.alice)
    assert 'class="rename"' not in client.get(_url("chat:conversation", thread)).content.decode()
    response = client.post(_url("chat:rename", thread), {"title": "Invoice"}, **HTMX)
    assert response.status_code == 422
    assert "keeps no content" in response.content.decode()


def test_the_rename_form_offers_the_current_title(client, thread):
    client.force_login(thread.org.alice)
    page = client.get(_url("chat:conversation", thread)).content.decode()
    assert f'name="title" type="text" maxlength="80" value="{html.escape(QUESTION)}"' in page


# --- query counts --------------------------------------------------------------------------


def _fill(owner, category, conversations: int, turns: int) -> list[Conversation]:
    made = []
    for i in range(conversations):
        conversation, _, _ = _answered(owner, category, f"Conversation {i}", "Answer **0**")
        for j in range(1, turns):
            _answered(
                owner, category, f"Question {j}", f"Answer **{j}**", conversation=conversation
            )
        made.append(conversation)
    return made


@pytest.mark.parametrize("n", [1, 5])
def test_the_home_page_takes_a_fixed_number_of_queries(client, org, django_assert_num_queries, n):
    _fill(org.alice, org.internal, conversations=n, turns=1)
    client.force_login(org.alice)
    # session, user, permissions, the policy version and the current policy document
    # (training's gate; the document is cached per version after this first read),
    # conversations (with categories), the active categories (which of them she is cleared
    # for), the policy admins to ask for the others, session save ×3 (savepoint, update,
    # release)
    with django_assert_num_queries(11):
        response = client.get(reverse("chat:home"))
    assert response.content.decode().count('class="conversation-title"') == n


@pytest.mark.parametrize("n", [1, 5])
def test_the_conversation_page_takes_a_fixed_number_of_queries(
    client, org, django_assert_num_queries, n
):
    conversation, *_ = _fill(org.alice, org.internal, conversations=n, turns=n)
    client.force_login(org.alice)
    # session, user, permissions, the conversation, its messages (with backends), the
    # side list, session save ×3
    with django_assert_num_queries(9):
        response = client.get(reverse("chat:conversation", args=[conversation.public_id]))
    page = response.content.decode()
    assert page.count('class="turn turn-assistant') == n
    assert f"Answer <strong>{n - 1}</strong>" in page


# --- the answer's stream -------------------------------------------------------------------


def test_it_ends_the_stream_of_a_finished_answer_at_once(client, thread):
    # No Redis stream (it expired, or this answer never had one): the answer is in the database.
    client.force_login(thread.org.alice)
    response = client.get(_url("chat:stream", thread))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-store"
    assert _events(response) == [b"event: end\ndata: "]


def test_the_stream_takes_a_fixed_number_of_queries_to_open(
    client, thread, django_assert_num_queries
):
    client.force_login(thread.org.alice)
    # session, user (read once: the middlewares' request.user serves the view too),
    # permissions, the answer, session save ×3 (savepoint, update, release)
    with django_assert_num_queries(7):
        response = client.get(_url("chat:stream", thread))
    assert response.status_code == 200


def test_it_streams_the_answer_restored_for_its_author(client, answered):
    thread = answered
    client.force_login(thread.org.alice)
    events = [_fields(block) for block in _events(client.get(_url("chat:stream", thread)))]
    assert events[0] == {"retry": "1000"}
    chunks = [e for e in events if e.get("event") == "chunk"]
    assert chunks
    assert f"<p>I will write to {EMAIL_BACK} today.</p>" in chunks[-1]["data"]
    assert all("[EMAIL" not in _shown(e.get("data", "")) for e in events)
    entries = streams.client().xrange(streams.stream_key(thread.answer.public_id))
    ids = [entry_id.decode() for entry_id, _ in entries]
    assert all(c["id"] in ids for c in chunks)
    assert events[-1]["event"] == "end"


def test_it_resumes_a_stream_after_the_last_event_id(client, answered):
    thread = answered
    client.force_login(thread.org.alice)
    first = [_fields(b) for b in _events(client.get(_url("chat:stream", thread)))]
    last_id = [e for e in first if e.get("event") == "chunk"][-1]["id"]
    again = _events(client.get(_url("chat:stream", thread), HTTP_LAST_EVENT_ID=last_id))
    resumed = [_fields(b) for b in again]
    assert [e.get("event") for e in resumed] == [None, "end"]  # retry:, then the end only


def _streaming(client, thread, monkeypatch, written) -> tuple:
    """The answer's writer, ``written(writer)`` already done, and Alice's stream of it
    (its reads block 20 ms at a time)."""
    from chat import streaming

    monkeypatch.setattr(streaming, "BLOCK_MS", 20)
    Message.objects.filter(pk=thread.answer.pk).update(status=Message.Status.STREAMING)
    writer = streams.AnswerWriter(thread.answer.public_id)
    writer.start()
    written(writer)
    client.force_login(thread.org.alice)
    return writer, client.get(_url("chat:stream", thread))


def test_it_streams_chunks_as_they_arrive_and_resumes_mid_answer(client, thread, monkeypatch):
    writer, response = _streaming(
        client, thread, monkeypatch, lambda w: (w.chunk("Dear [EMAIL"), w.chunk("_1], "))
    )

    async def consume():
        seen = []
        async for part in response.streaming_content:
            seen.append(part)
            if part.startswith(b"event: chunk") and len(seen) == 2:
                writer.chunk("thank you.")
                writer.end(Message.Status.DONE)
        return seen

    events = [_fields(b.rstrip(b"\n")) for b in async_to_sync(consume)()]
    chunks = [e for e in events if e.get("event") == "chunk"]
    assert [c["data"].split("\n")[0] for c in chunks] == [
        f"<p>Dear {EMAIL_BACK},</p>",
        f"<p>Dear {EMAIL_BACK}, thank you.</p>",
    ]
    resumed = _events(client.get(_url("chat:stream", thread), HTTP_LAST_EVENT_ID=chunks[0]["id"]))
    later = [_fields(b) for b in resumed if b.startswith(b"event: chunk")]
    assert [c["id"] for c in later] == [chunks[1]["id"]]


def test_it_says_the_answer_waits_for_the_model_until_its_first_words(client, thread, monkeypatch):
    """The built-in model answers one at a time: the others' pages say they wait for it."""
    writer, response = _streaming(client, thread, monkeypatch, lambda w: w.wait())

    async def consume():
        seen = []
        async for part in response.streaming_content:
            seen.append(part)
            if part.startswith(b"event: waiting"):
                writer.chunk("Here it is.")
                writer.end(Message.Status.DONE)
        return seen

    events = [_fields(b.rstrip(b"\n")) for b in async_to_sync(consume)()]
    assert [e.get("event") for e in events] == [None, "waiting", "chunk", "end"]
    assert "Waiting for the model" in events[1]["data"]
    assert events[2]["data"].startswith("<p>Here it is.</p>")


def test_it_streams_only_answers(client, thread):
    client.force_login(thread.org.alice)
    url = reverse("chat:stream", args=[thread.question.public_id])
    assert client.get(url).status_code == 404


def test_a_conversations_side_list_leads_to_the_older_ones(client, org, monkeypatch):
    """The side list holds the newest conversations: past them, a link to the chat page,
    which pages through all of them."""
    from chat import views

    monkeypatch.setattr(views, "CONVERSATION_LIST_LIMIT", 2)
    first, *_ = _titled(org.alice, org.internal, ["One", "Two"])
    client.force_login(org.alice)
    url = reverse("chat:conversation", args=[first.public_id])
    assert "All your conversations" not in client.get(url).content.decode()
    _titled(org.alice, org.internal, ["Three"])
    assert "All your conversations" in client.get(url).content.decode()


@pytest.mark.parametrize(
    ("kind", "advice"),
    [
        ("config", "retrying will not help until a policy admin fixes it"),
        ("connection", "The model may be down or busy: retry in a moment."),
        ("malformed", "if it keeps failing, tell your Steward administrator"),
    ],
)
def test_a_failed_answer_says_what_its_author_can_do(client, org, kind, advice):
    """It showed the backend's reason alone ("… reads its key from OPENAI_API_KEY, which is
    not set"), and a Retry that could not help."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    answer = Message.objects.get(pk=sent.answer.pk)
    answer.conversation = conversation
    answer.error = "OpenAI business API could not answer."
    answer.status, answer.error_kind = Message.Status.FAILED, kind
    answer.save(update_fields=["error_sealed", "status", "error_kind"])
    client.force_login(org.alice)
    page = client.get(reverse("chat:conversation", args=[conversation.public_id])).text
    assert "OpenAI business API could not answer." in page and advice in page
