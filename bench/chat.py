"""The chat path: governance overhead per message, time to first token, concurrent streams.

Builds its own world and takes it down again, however the run ends: a fresh
database (``steward_bench_chat`` next to the one DATABASE_URL names, else
SQLite in a temporary data directory), the Redis REDIS_URL names (else an
embedded one), the demo organisation with both backends pointed at fake
servers on loopback (the one that answers in a process of its own), and, as
subprocesses, a real uvicorn web process (parts 2 and 3) and real Celery workers
(parts 2 and 5). Settings are ``config.settings`` (Celery not eager: enqueues
really reach the broker). About six minutes with the built-in model.

1. Governance per message: ``send_message`` in-process (scan, decide, store
   with the audit event, enqueue to the broker; no worker consumes).
2. Time to first token: POST the message to the web server as the chat page
   does (``send/stream/``: the new turns, then the answer's events on the same
   response), first ``chunk`` event; against the fake backend's own.
3. 200 concurrent SSE streams on one web process, fed by this script; then what
   one reader's renders of an answer growing to 8 KB cost, in-process.
4. The built-in model (when the ``local`` extra is installed), in-process
   through its adapter as the worker calls it: load time, time to first token
   and tokens per second, for a short question and for a ~2 KB message.
5. Answers at once: 50 messages sent together, each answered by the fake in
   about a second, through one Celery worker as ``manage.py serve`` started it
   before (prefork, two processes) and as it starts it now (threads): when each
   answer's first chunk and end reach Redis, the worker's CPU and memory.

``--parts 2,3`` runs only those parts; ``--pools threads:32,prefork:2`` sets part 5's
workers (pool and concurrency), ``--at-once 150`` its number of messages.
"""

import asyncio
import http.client
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._support import (  # noqa: E402
    database_url,
    free_port,
    healthy,
    messages,
    option,
    python_speed,
    rank,
    refuse_if_in_use,
    reset_database,
    start_fake,
    stop,
    wait_for,
)

DATA_DIR = Path(tempfile.mkdtemp(prefix="steward-bench-chat-"))
BENCH_DB = "steward_bench_chat"
EVENT_STREAM = {"Accept": "text/event-stream"}  # what a browser's EventSource sends
SOURCE_DATABASE_URL = os.environ.get("DATABASE_URL", "")


# Subprocesses inherit this environment, so web, worker and this script share
# the data directory (its generated keys), the database and Redis.
os.environ["STEWARD_DATA_DIR"] = str(DATA_DIR)
# config.settings, not tests.settings: the test settings make Celery eager.
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
os.environ.setdefault("LOG_LEVEL", "WARNING")
if SOURCE_DATABASE_URL:
    os.environ["DATABASE_URL"] = database_url(SOURCE_DATABASE_URL, BENCH_DB)

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
import psutil  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from chat import services, streams  # noqa: E402
from chat.models import Message  # noqa: E402
from chat.services import sending  # noqa: E402
from config.celery import app as celery_app  # noqa: E402
from config.heap import freeze_after_loading  # noqa: E402
from governance.models import Backend, Category, User  # noqa: E402
from tests.fakes.llm_servers import FakeLLM  # noqa: E402

# Part 1 runs the send path in this process: its code kept out of the garbage collector's
# rounds, as in the web process (config.asgi), or a full collection (~200 ms) is timed too.
freeze_after_loading(settings.ROOT_URLCONF)

#: ``--parts 1,2``: only those parts (all five by default).
PARTS = {int(part) for part in option("--parts", "1,2,3,4,5").split(",")}
OVERHEAD_MESSAGES, OVERHEAD_TURNS = 300, 30
TTFT_MESSAGES, TTFT_TURNS, TTFT_WARMUP = 30, 10, 3
TTFT_REPLY = ["Here is ", "a short ", "summary ", "of the ", "thread: ", "the invoice ", "was ",
              "paid ", "on time", "."]  # fmt: skip
TTFT_DELAY = 0.02
TIMELINE = (
    "message stored (its row written)",
    "worker claims the answer",
    "worker has written the first chunk",
    "page has the new turns (response starts)",
    "page has the first chunk",
)
STREAMS, STREAM_CHUNKS, STREAM_TICK = 200, 40, 0.1
PHRASES = [
    "Following up on yesterday's call about the logistics contract renewal,",
    "the finance team confirmed that the March invoice was paid in full",
    "but the credit note for the damaged pallets is still outstanding.",
    "Could you draft a short, friendly reply that explains the timeline",
    "and asks them to confirm the delivery address for the next shipment?",
    "We agreed to keep the current rates until the end of the quarter,",
    "after which the new price list applies to all standing orders.",
    "Please also mention that the warehouse in Leeds closes early on Fridays",
    "and that returns must be booked at least two working days ahead.",
    "The account manager will be on leave next week, so copy her deputy.",
    "Summarise the open points as a numbered list at the end of the email.",
    "Keep the tone professional; they have been a customer for nine years.",
]
EMAILS = ["j.hartley@acme-logistics.co.uk", "accounts@northwind-trading.com",
          "maria.lopez@example.org", "p.nowak@brightfield.eu"]  # fmt: skip
PHONES = ["+44 20 7946 0958", "020 7946 0321", "+49 30 901820"]
IBANS = ["GB82 WEST 1234 5698 7654 32", "DE89 3704 0044 0532 0130 00"]


# --- helpers -------------------------------------------------------------------------------


def identifiers(rng: random.Random) -> list[str]:
    """Two email addresses, a phone number and an IBAN."""
    return [*rng.sample(EMAILS, 2), rng.choice(PHONES), rng.choice(IBANS)]


def sample_messages(rng: random.Random, count: int) -> list[str]:
    """~2 KB of business prose each, with :func:`identifiers`."""
    return messages(rng, count, PHRASES, identifiers)


def ms(samples: list[float], *quantiles: float) -> str:
    return "  ".join(f"p{round(q * 100)} {rank(samples, q) * 1000:6.2f}" for q in quantiles) + " ms"


def spawn(name: str, argv: list[str]) -> subprocess.Popen:
    """A subprocess in its own process group (so a stop also reaches what it forks)."""
    log = open(DATA_DIR / f"{name}.log", "wb")  # the child holds it; closed when we exit
    return subprocess.Popen(
        argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def purge_queues() -> int:
    """Drop whatever this run left on the answer queues (nothing else uses them here)."""
    with celery_app.connection_for_write() as conn:
        return sum(conn.default_channel.queue_purge(q) or 0 for q in settings.WORKER_QUEUES)


def tidy_redis() -> None:
    """Queues purged, every answer's keys dropped (a shared Redis; an embedded one just stops)."""
    purge_queues()
    if settings.EMBEDDED_REDIS:
        return
    answers = Message.objects.filter(role=Message.Role.ASSISTANT)
    for public_id in answers.values_list("public_id", flat=True):
        streams.forget(public_id)
    bindings = list(streams.client().scan_iter("_kombu.binding*"))  # the worker's queues
    if bindings:
        streams.client().delete(*bindings)


# --- 1. governance overhead ----------------------------------------------------------------


def governance_overhead(alice: User, internal: Category, texts: list[str]) -> None:
    """Time send_message, with timers around its scan + decide and its enqueue.

    Wall time, this thread's CPU time (the rest is waiting: database, Redis,
    other processes) and the number of SQL statements, per step.
    """
    spent: dict[str, tuple[float, float, int]] = {}
    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    def timed(name, function):
        def wrapper(*args, **kwargs):
            wall, cpu, before = time.perf_counter(), time.thread_time(), statements[0]
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = (
                    time.perf_counter() - wall,
                    time.thread_time() - cpu,
                    statements[0] - before,
                )

        return wrapper

    original = sending._govern, sending.enqueue_answer
    sending._govern = timed("govern", original[0])
    sending.enqueue_answer = timed("enqueue", original[1])
    send = timed("total", services.send_message)
    steps: dict[str, list[tuple[float, float, int]]] = {"total": [], "govern": [], "enqueue": []}
    outcomes: dict[str, int] = {}
    try:
        with connection.execute_wrapper(count):
            warmup = services.start_conversation(owner=alice, category=internal)
            for text in texts[:10]:
                sent = services.send_message(conversation=warmup, author=alice, text=text)
                Message.objects.filter(pk=sent.answer.pk).update(status=Message.Status.DONE)
            conversation = None
            for index, text in enumerate(texts[10:]):
                if index % OVERHEAD_TURNS == 0:
                    conversation = services.start_conversation(owner=alice, category=internal)
                spent.clear()
                sent = send(conversation=conversation, author=alice, text=text)
                for name, samples in steps.items():
                    samples.append(spent.get(name, (0.0, 0.0, 0)))
                outcome = str(sent.decision.outcome)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if sent.answer:  # untimed: as if the answer had come, so the next may go
                    Message.objects.filter(pk=sent.answer.pk).update(status=Message.Status.DONE)
    finally:
        sending._govern, sending.enqueue_answer = original
    steps["store"] = [
        tuple(t - g - e for t, g, e in zip(*columns, strict=True))
        for columns in zip(steps["total"], steps["govern"], steps["enqueue"], strict=True)
    ]
    queued = purge_queues()
    sent_count = len(steps["total"])
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(outcomes.items()))
    size = sum(len(t) for t in texts[10:]) / sent_count
    print(
        f"{sent_count} messages of ~{size:,.0f} chars (2 emails, a phone, an IBAN each) in "
        f"{sent_count // OVERHEAD_TURNS} category-2 conversations of {OVERHEAD_TURNS} turns "
        f"(after 10 warm-up); decisions: {kinds}"
    )
    print(
        "each answer marked done (untimed) after its send, as if the worker had answered; "
        f"no worker consumed: {queued} tasks purged from the broker afterwards"
    )
    print(" " * 35 + "wall ms: p50    p95    p99   CPU ms: p50    p99  SQL")
    labels = {
        "total": "send_message, whole",
        "govern": "  scan + decide (_govern)",
        "store": "  checks + transaction (audit incl.)",
        "enqueue": "  enqueue (enqueue_answer)",
    }
    for name, label in labels.items():
        wall = [w for w, _, _ in steps[name]]
        cpu = [c for _, c, _ in steps[name]]
        sql = rank([q for _, _, q in steps[name]], 0.5)
        print(
            f"{label:<34} {rank(wall, 0.5) * 1000:12.2f} {rank(wall, 0.95) * 1000:6.2f} "
            f"{rank(wall, 0.99) * 1000:6.2f}   {rank(cpu, 0.5) * 1000:11.2f} "
            f"{rank(cpu, 0.99) * 1000:6.2f}  {sql:3.0f}"
        )
    wall = [w for w, _, _ in steps["total"]]
    print(f"messages/s, one caller: {sent_count / sum(wall):.0f}")


# --- 2. time to first token ----------------------------------------------------------------


def backend_first_token(fake_url: str, texts: list[str]) -> tuple[list[float], list[float]]:
    """The fake's own time to first token through the openai client: with one client kept
    open, and with a new client per call (its construction timed too)."""
    import openai

    def first_token(client, text: str, start: float) -> float:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": text}],
            stream=True,
            stream_options={"include_usage": True},
        )
        try:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    return time.perf_counter() - start
        finally:
            stream.close()
        raise RuntimeError("the fake sent no text")

    def new_client():
        return openai.OpenAI(base_url=fake_url, api_key="sk-bench", max_retries=0)

    kept_client = new_client()
    first_token(kept_client, texts[0], time.perf_counter())
    kept = [first_token(kept_client, text, time.perf_counter()) for text in texts]
    kept_client.close()
    fresh = []
    for text in texts:
        start = time.perf_counter()
        client = new_client()
        fresh.append(first_token(client, text, start))
        client.close()
    return kept, fresh


class Browser:
    """What the chat page does, on a kept-alive connection, with the standard library's lean
    HTTP client: httpx spends milliseconds of CPU per request (the figures measure
    Steward, not the client)."""

    def __init__(self, base: str, cookies: dict):
        host, port = base.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=30)
        self.headers = {
            "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
            "X-CSRFToken": cookies[settings.CSRF_COOKIE_NAME],
            "HX-Request": "true",
            **EVENT_STREAM,
        }

    def send(self, path: str, form: dict):
        """POST the form as the page's script does; the response once its headers are in
        (read its lines to the end before the next request)."""
        headers = {**self.headers, "Content-Type": "application/x-www-form-urlencoded"}
        self.connection.request("POST", path, body=urlencode(form), headers=headers)
        return self.connection.getresponse()

    def close(self) -> None:
        self.connection.close()


def first_chunk(browser: Browser, conversation, text: str, start: float) -> tuple:
    """Send one message as the page does, and read the response (new turns, then the
    answer's events) to its end."""
    response = browser.send(f"/chat/c/{conversation.public_id}/send/stream/", {"text": text})
    if response.status != 200 or response.getheader("Content-Type") != "text/event-stream":
        response.read()
        raise ValueError(f"send: HTTP {response.status}")
    sent = first = None
    public_id, written = "", 0.0
    for line in response:
        if line == b"event: sent\n":
            sent = time.perf_counter()
        elif sent and not public_id and b"data-resume=" in line:
            public_id = re.search(rb'data-resume="/chat/m/([0-9a-f-]+)/', line)[1].decode()
        elif line == b"event: chunk\n" and first is None:
            first = time.perf_counter()
        elif first is not None and not written and line.startswith(b"id: "):
            written = int(line[4:].split(b"-")[0]) / 1000  # the stream entry's time, in ms
    if sent is None or first is None or not public_id:
        raise ValueError("the response ended without the new turns and a chunk")
    return public_id, start, sent, first, written


def time_to_first_token(base: str, cookies: dict, alice: User, internal: Category, texts):
    """Send each message as the chat page does, and read its response to the end."""
    rows = []
    errors = []
    conversation = None
    browser = Browser(base, cookies)
    try:
        for index, text in enumerate(texts):
            if index % TTFT_TURNS == 0:
                conversation = services.start_conversation(owner=alice, category=internal)
            wall, start = time.time(), time.perf_counter()
            try:
                row = first_chunk(browser, conversation, text, start)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if index >= TTFT_WARMUP:
                    errors.append(str(exc) if isinstance(exc, ValueError) else type(exc).__name__)
                browser.close()  # http.client reconnects on the next request
                # Let whatever is still answering finish, or the next send is refused.
                wait_for(lambda: not conversation.messages.in_flight().exists(), 30, "an answer")
                continue
            if index >= TTFT_WARMUP:
                public_id, _, sent, first, written = row
                rows.append((index % TTFT_TURNS, public_id, start, wall, sent, first, written))
    finally:
        browser.close()
    return rows, errors


def report_first_token(rows, errors, backend_kept, backend_fresh, warmup: int) -> None:
    if not rows:
        print(f"no answer streamed: {len(errors)} errors ({'; '.join(sorted(set(errors)))})")
        return
    through = [row[5] - row[2] for row in rows]
    post_early = [sent - start for turn, _, start, _, sent, _, _ in rows if turn < 3]
    post_late = [sent - start for turn, _, start, _, sent, *_ in rows if turn >= TTFT_TURNS - 3]
    answers = {
        str(m.public_id): m
        for m in Message.objects.filter(public_id__in=[r[1] for r in rows]).select_related(
            "reply_to"
        )
    }
    statuses = {}
    # One clock for the client's and the server's moments: seconds since the POST left.
    moments = {name: [] for name in TIMELINE}
    for _, public_id, start, wall, sent, first, written in rows:
        answer = answers[public_id]
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        claimed = answer.started_at.timestamp() - wall
        moments["message stored (its row written)"].append(
            answer.reply_to.created_at.timestamp() - wall
        )
        moments["worker claims the answer"].append(claimed)
        moments["worker has written the first chunk"].append(written - wall)
        moments["page has the new turns (response starts)"].append(sent - start)
        moments["page has the first chunk"].append(first - start)
    p50, p95 = rank(through, 0.5), rank(through, 0.95)
    b50, b95 = rank(backend_kept, 0.5), rank(backend_kept, 0.95)
    done = ", ".join(f"{n} {s}" for s, n in statuses.items())
    print(
        f"{len(rows)} messages (after {warmup} warm-up), conversations of {TTFT_TURNS} turns; "
        f"reply {len(TTFT_REPLY)} chunks, {TTFT_DELAY * 1000:.0f} ms apart; answers: {done}; "
        f"errors: {len(errors)}{' ' + '; '.join(sorted(set(errors))) if errors else ''}"
    )
    print(f"through Steward (POST → first chunk event):  {ms(through, 0.5, 0.95)}")
    print(f"backend's own (openai client, kept):         {ms(backend_kept, 0.5, 0.95)}")
    print(f"backend's own (new openai client per call):  {ms(backend_fresh, 0.5, 0.95)}")
    print(
        f"Steward adds:                                p50 {(p50 - b50) * 1000:6.2f}  "
        f"p95 {(p95 - b95) * 1000:6.2f} ms"
    )
    print("  timeline, p50 ms after the POST left (server moments from the rows' timestamps):")
    for name, samples in moments.items():
        print(f"    {name + ':':<46} {rank(samples, 0.5) * 1000:6.1f}")
    # Where the added time goes: up to the worker's claim (the request, governance, the
    # record, part 1's overhead and the web's around it, the queue hop), and after it (the
    # worker's work around the backend call, the stream, the page), the backend's own out.
    print(
        "    the new turns, by the turn's place in its conversation: "
        f"turns 1-3 p50 {rank(post_early, 0.5) * 1000:.1f} ms, "
        f"turns {TTFT_TURNS - 2}-{TTFT_TURNS} p50 {rank(post_late, 0.5) * 1000:.1f} ms"
    )
    claimed = rank(moments["worker claims the answer"], 0.5)
    print(
        f"Steward adds, split at the worker's claim (p50): {claimed * 1000:.1f} ms before it "
        f"(request, governance, record, commit, queue hop), {(p50 - claimed - b50) * 1000:.1f} "
        "ms after it (worker, stream, page) beyond the backend's own"
    )


# --- 3. concurrent streams -----------------------------------------------------------------


class Sampler(threading.Thread):
    """The web process's RSS and thread count, every 20 ms, until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak_rss = self.peak_threads = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
                self.peak_threads = max(self.peak_threads, self.process.num_threads())
            except psutil.Error:
                return
            time.sleep(0.02)


def chunk_text(tick: int) -> str:
    """A sentence; every fifth ends a paragraph, as a model's answers are written."""
    end = "\n\n" if tick % 5 == 4 else " "
    return f"Point {tick + 1}: the **invoice** was paid, the credit note is due.{end}"


def feed(answer_ids, all_open: threading.Event, peak: dict) -> float:
    """The worker's part, done here: STREAM_CHUNKS chunks to every stream, then the end."""
    redis = streams.client()
    keys = [streams.stream_key(public_id) for public_id in answer_ids]
    connection.ensure_connection()  # before the streams take the database's connections
    all_open.wait(60)
    started = time.perf_counter()
    try:
        for tick in range(STREAM_CHUNKS):
            pipe = redis.pipeline(transaction=False)
            text = chunk_text(tick)
            for key in keys:
                pipe.xadd(key, {"t": "chunk", "text": text})
            pipe.execute()
            if tick == STREAM_CHUNKS // 2 and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*), current_setting('max_connections') "
                        "FROM pg_stat_activity WHERE datname = %s",
                        [BENCH_DB],
                    )
                    peak["db_connections"], peak["db_limit"] = cursor.fetchone()
            time.sleep(max(0.0, started + (tick + 1) * STREAM_TICK - time.perf_counter()))
        Message.objects.filter(public_id__in=answer_ids).update(
            status=Message.Status.DONE, finished_at=timezone.now()
        )
    finally:
        connection.close()
        pipe = redis.pipeline(transaction=False)
        for key in keys:
            pipe.xadd(key, {"t": "end", "status": Message.Status.DONE})
            pipe.expire(key, streams.ENDED_TTL_SECONDS)
        pipe.execute()
    return time.perf_counter() - started


def logged_errors(name: str) -> str:
    """The tracebacks a subprocess logged, and their distinct exception lines."""
    text = (DATA_DIR / f"{name}.log").read_text()
    found = re.findall(r"^\w[\w.]*(?:Error|Exception)\b.*$", text, re.MULTILINE)
    if not found:
        return "none"
    distinct = list(dict.fromkeys(line[:100] for line in found))
    logged = len(re.findall(r"^\S+ \S+ ERROR ", text, re.MULTILINE))
    return f"{logged} errors logged: " + " | ".join(distinct[:4])


async def watch_all(base: str, cookies: dict, answer_ids, all_open: threading.Event) -> dict:
    stats = {"ended": 0, "chunks": 0, "errors": [], "open": [], "lag": []}
    settled = 0

    def settle() -> None:
        nonlocal settled
        settled += 1
        if settled == len(answer_ids):
            all_open.set()

    async def watch(client: httpx.AsyncClient, public_id) -> None:
        start = time.perf_counter()
        counted = False
        try:
            async with client.stream(
                "GET", f"/chat/m/{public_id}/stream/", headers=EVENT_STREAM
            ) as response:
                if response.status_code != 200:
                    stats["errors"].append(f"HTTP {response.status_code}")
                    return
                stats["open"].append(time.perf_counter() - start)
                counted = True
                settle()
                event = ""
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                        if event == "end":
                            stats["ended"] += 1
                            return
                    elif event == "chunk" and line.startswith("id: "):
                        stats["chunks"] += 1
                        written = int(line[4:].split("-")[0]) / 1000  # Redis's clock = ours
                        stats["lag"].append(time.time() - written)
                stats["errors"].append("closed without an end event")
        except (httpx.HTTPError, OSError) as exc:
            stats["errors"].append(type(exc).__name__)
        finally:
            if not counted:
                settle()

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    timeout = httpx.Timeout(60, connect=30)
    async with httpx.AsyncClient(
        base_url=base, cookies=cookies, limits=limits, timeout=timeout
    ) as client:
        await asyncio.gather(*(watch(client, public_id) for public_id in answer_ids))
    return stats


def concurrent_streams(base: str, cookies: dict, web_pid: int, alice, internal) -> None:
    """STREAMS answers made STREAMING (their tasks purged), one SSE connection to each."""
    answers = []
    for _ in range(STREAMS):
        conversation = services.start_conversation(owner=alice, category=internal)
        sent = services.send_message(
            conversation=conversation,
            author=alice,
            text="Summarise the open points of the logistics contract renewal.",
        )
        answers.append(sent.answer)
    purge_queues()
    now = timezone.now()
    Message.objects.filter(pk__in=[a.pk for a in answers]).update(
        status=Message.Status.STREAMING, started_at=now
    )
    answer_ids = [a.public_id for a in answers]
    for public_id in answer_ids:
        streams.AnswerWriter(public_id).start()
    web = psutil.Process(web_pid)
    rss_before, threads_before = web.memory_info().rss, web.num_threads()
    cpu_before = sum(web.cpu_times()[:2])
    sampler = Sampler(web_pid)
    sampler.start()
    all_open = threading.Event()
    peak: dict = {}
    fed: list[float] = []
    feeder = threading.Thread(target=lambda: fed.append(feed(answer_ids, all_open, peak)))
    feeder.start()
    started = time.perf_counter()
    try:
        stats = asyncio.run(watch_all(base, cookies, answer_ids, all_open))
    finally:
        all_open.set()
        feeder.join()
        sampler.running = False
        sampler.join()
    elapsed = time.perf_counter() - started
    cpu = sum(web.cpu_times()[:2]) - cpu_before
    rss_after = web.memory_info().rss
    errors = stats["errors"]
    listed = ", ".join(f"{errors.count(e)} {e}" for e in sorted(set(errors)))
    size = sum(len(chunk_text(tick)) for tick in range(STREAM_CHUNKS))
    print(
        f"{STREAMS} answers STREAMING, their Redis streams written by this script, not by a "
        f"worker (the web process alone is measured): {STREAM_CHUNKS} chunks × "
        f"{STREAM_TICK * 1000:.0f} ms, one pipelined write per tick for all streams, "
        f"{size:,} chars per answer"
    )
    print(
        f"streams ended with `end`:    {stats['ended']:5d} / {STREAMS}   "
        f"errors: {len(errors)}{' (' + listed + ')' if errors else ''}"
    )
    if stats["open"]:
        slowest = max(stats["open"]) * 1000
        print(f"time to response headers:    {ms(stats['open'], 0.5, 0.95)}  max {slowest:.0f} ms")
    if stats["lag"]:
        print(
            f"chunk written → received:    {ms(stats['lag'], 0.5, 0.95, 0.99)}  "
            f"({stats['chunks']} chunk events; {STREAMS * STREAM_CHUNKS} chunks written)"
        )
    print(
        f"web process RSS:             before {rss_before / 2**20:5.0f} MB   peak "
        f"{sampler.peak_rss / 2**20:5.0f} MB   after {rss_after / 2**20:5.0f} MB"
    )
    db = ""
    if peak:
        db = (
            f"\ndatabase connections:        {peak['db_connections']} to {BENCH_DB} at mid-stream "
            f"(server max_connections {peak['db_limit']}, shared with other databases)"
        )
    print(
        f"web process threads:         before {threads_before:5d}      peak "
        f"{sampler.peak_threads:5d}{db}"
    )
    print(
        f"web process CPU:             {cpu:5.1f} s in {elapsed:.1f} s "
        f"(feeding took {fed[0] if fed else 0:.1f} s)"
    )
    print(f"exceptions in the web log:   {logged_errors('web')}")
    growing_render_cost()


def growing_render_cost() -> None:
    """What one reader's renders cost, in this process: an answer of paragraphs, lists and
    code growing to 8 KB, rendered at every 100 characters (as 12 renders a second do)."""
    from chat.markdown import GrowingAnswer, render_markdown

    block = (
        "Here is a **summary** of the thread: the invoice was paid on time, and [EMAIL_1] "
        "confirmed it. " * 3 + "\n\n- item one\n- item two\n\n"
    )
    code = "```python\ndef total(x):\n    return x * 2\n```\n\n"
    text = "".join(block + (code if n % 3 == 0 else "") for n in range(40))[:8_000]
    steps = [text[:n] for n in range(100, len(text) + 1, 100)]
    started = time.perf_counter()
    for step in steps:
        render_markdown(step)
    whole = time.perf_counter() - started
    growing = GrowingAnswer()
    started = time.perf_counter()
    for step in steps:
        growing.html(step)
    settled = time.perf_counter() - started
    print(
        f"rendering one answer as it grows to 8 KB ({len(steps)} renders): whole each time "
        f"{whole * 1000:.0f} ms, settled blocks once {settled * 1000:.0f} ms"
    )


# --- 4. the built-in model ------------------------------------------------------------------

BUILTIN_RUNS = 10
BUILTIN_QUESTIONS = [
    "What is the capital of France?",
    "Give me three tips for writing a clear email.",
    "Explain in two sentences what an invoice is.",
    "Name a good title for a meeting about the budget.",
    "What does GDPR stand for?",
]


def builtin_model(texts: list[str]) -> None:
    """Load time (a fresh load, the file in the page cache), then per answer: time to first
    token (the prompt's evaluation) and tokens per second after it."""
    from chat import llm
    from chat.answering import SYSTEM_PROMPT
    from chat.llm import builtin as llm_builtin

    if not llm_builtin.installed():
        print('not installed (pip install -e ".[local]"): skipped')
        return
    path = llm_builtin.packaged_model_path()
    adapter = llm.adapter_for(Backend(name="Built-in", kind=Backend.Kind.BUILTIN, model=""))
    loads = []
    for _ in range(3):
        started = time.perf_counter()
        llm_builtin.load(path, context=adapter.context).close()
        loads.append(time.perf_counter() - started)

    def answer(text: str) -> tuple[float, float, int]:
        messages = [llm.ChatMessage("system", SYSTEM_PROMPT), llm.ChatMessage("user", text)]
        started = time.perf_counter()
        first = None
        for _ in adapter.stream(messages, timeout=60):
            if first is None:
                first = time.perf_counter() - started
        total = time.perf_counter() - started
        tokens = adapter.usage.output_tokens
        return first, (tokens - 1) / max(total - first, 1e-9), adapter.usage.input_tokens

    started = time.perf_counter()
    cold_first, _, _ = answer(BUILTIN_QUESTIONS[0])  # loads the model into this process
    cold = time.perf_counter() - started
    print(
        f"model: {path.name} ({path.stat().st_size / 1e6:.0f} MB), "
        f"{llm_builtin.threads()} threads, context {adapter.context} tokens"
    )
    print(f"load (fresh, file cached):   {ms(loads, 0.5, 1.0)}")
    print(f"first answer of a process:   first token {cold_first:.2f} s (load included), "
          f"whole answer {cold:.2f} s")  # fmt: skip
    for label, prompts in (
        ("short question", BUILTIN_QUESTIONS),
        ("~2 KB message", [t[:2_048] for t in texts]),
    ):
        rows = [answer(prompts[n % len(prompts)]) for n in range(BUILTIN_RUNS)]
        firsts, rates, inputs = zip(*rows, strict=True)
        print(
            f"{label + ':':<28} prompt ~{sorted(inputs)[len(inputs) // 2]} tokens; first token "
            f"{ms(list(firsts), 0.5, 0.95)}; {sorted(rates)[len(rates) // 2]:.0f} tokens/s "
            f"(median; worst {min(rates):.0f})"
        )


# --- 5. answers at once -------------------------------------------------------------------

AT_ONCE = int(option("--at-once", "50"))
#: About a second per answer, as a short answer of a real model streams.
LONG_REPLY = [f"word{n} " for n in range(40)]
LONG_DELAY = 0.025
#: The worker as ``manage.py serve`` started it before (prefork, two processes), and now;
#: ``--pools threads:32`` runs only that one.
POOLS = tuple(
    (pool, int(concurrency))
    for pool, concurrency in (
        entry.split(":") for entry in option("--pools", "prefork:2,threads:32").split(",")
    )
)


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def answer_round(alice: User, internal: Category, texts: list[str]) -> tuple[dict, dict, float]:
    """Send ``texts`` at once, each in a new conversation, and read every answer's stream
    to its end: per answer, when its first chunk and its end reached Redis (the entries'
    own times), in seconds after its send returned; and the round's wall time."""
    conversations = [services.start_conversation(owner=alice, category=internal) for _ in texts]
    sent_at = {}
    began = time.perf_counter()
    for conversation, text in zip(conversations, texts, strict=True):
        sent = services.send_message(conversation=conversation, author=alice, text=text)
        sent_at[streams.stream_key(sent.answer.public_id)] = time.time()
    first, ended, last = {}, {}, dict.fromkeys(sent_at, "0")
    deadline = time.monotonic() + 60
    while len(ended) < len(sent_at) and time.monotonic() < deadline:
        waiting = {key: last[key] for key in sent_at if key not in ended}
        for key, entries in streams.client().xread(waiting, block=1000) or []:
            key = key.decode()
            for entry_id, fields in entries:
                last[key] = entry_id
                at = int(entry_id.split(b"-")[0]) / 1000 - sent_at[key]
                if fields.get(b"t") == b"chunk":
                    first.setdefault(key, at)
                elif fields.get(b"t") == b"end":
                    ended[key] = (at, fields[b"status"].decode())
    return first, ended, time.perf_counter() - began


def answers_at_once(alice: User, internal: Category, rng: random.Random) -> None:
    fake, fake_url = start_fake(ROOT, "openai", LONG_REPLY, LONG_DELAY)
    Backend.objects.filter(kind=Backend.Kind.OPENAI).update(base_url=fake_url)
    try:
        for pool, concurrency in POOLS:
            worker = start_worker(f"worker-{pool}", pool, concurrency)
            try:
                answer_round(alice, internal, sample_messages(rng, AT_ONCE))  # warm-up
                processes = tree(worker.pid)
                cpu = sum(sum(p.cpu_times()[:2]) for p in processes)
                texts = sample_messages(rng, AT_ONCE)
                first, ended, wall = answer_round(alice, internal, texts)
                processes = tree(worker.pid)
                cpu = sum(sum(p.cpu_times()[:2]) for p in processes) - cpu
                rss = sum(p.memory_info().rss for p in processes) / 2**20
                threads = sum(p.num_threads() for p in processes)
            finally:
                stop(worker)
            firsts = list(first.values())
            ends = [at for at, _ in ended.values()]
            statuses = {}
            for _, status in ended.values():
                statuses[status] = statuses.get(status, 0) + 1
            done = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none"
            print(f"worker -P {pool} -c {concurrency}: answers {done} of {AT_ONCE}")
            if statuses.get("done", 0) < AT_ONCE:
                print(f"  exceptions in the worker log: {logged_errors(f'worker-{pool}')}")
            if firsts:
                print(
                    f"  first chunk after the send: p50 {rank(firsts, 0.5):6.2f}  "
                    f"p95 {rank(firsts, 0.95):6.2f}  max {max(firsts):6.2f} s"
                )
            if ends:
                print(
                    f"  answer ended after the send:  p50 {rank(ends, 0.5):6.2f}  "
                    f"p95 {rank(ends, 0.95):6.2f}  max {max(ends):6.2f} s; round {wall:.2f} s"
                )
            print(
                f"  worker CPU {cpu / max(len(ended), 1) * 1000:.1f} ms per answer; "
                f"RSS {rss:.0f} MB in {len(processes)} process(es), {threads} threads"
            )
    finally:
        stop(fake)


# --- the run -------------------------------------------------------------------------------


def start_worker(name: str, pool: str, concurrency: int) -> subprocess.Popen:
    """A Celery worker on the answer queues, with ``pool`` of ``concurrency``."""
    return spawn(name, [
        sys.executable, "-m", "celery", "--quiet", "-A", "config", "worker", "-Q",
        ",".join(settings.WORKER_QUEUES), "-c", str(concurrency), "-P", pool, "-n",
        f"bench-{name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "-l", "WARNING",
    ])  # fmt: skip


def start_servers(alice: User, started: list) -> tuple[str, dict]:
    """The web server and a Celery worker (appended to ``started`` as they start); the web
    server's URL and cookies that sign Alice in."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    python = sys.executable
    web = spawn("web", [python, "-m", "config.web", "--host", "127.0.0.1", "--port", str(port)])
    started.append(web)
    started.append(start_worker("worker", "threads", 2))
    wait_for(lambda: healthy(base + "/healthz"), 60, "the web server", web)
    from django.test import Client

    django_client = Client()
    django_client.force_login(alice)
    cookies = {
        settings.SESSION_COOKIE_NAME: django_client.cookies[settings.SESSION_COOKIE_NAME].value,
        settings.CSRF_COOKIE_NAME: secrets.token_hex(16),
    }
    return base, cookies


def main() -> None:
    began = time.perf_counter()
    if SOURCE_DATABASE_URL:
        refuse_if_in_use(SOURCE_DATABASE_URL, BENCH_DB)
    fakes: list[FakeLLM] = []
    redis_server = None
    started: list[subprocess.Popen] = []  # web server, worker
    external = None  # the fake backend's process
    try:
        if SOURCE_DATABASE_URL:
            reset_database(SOURCE_DATABASE_URL, BENCH_DB, create=True)
        if settings.EMBEDDED_REDIS:
            from config import embedded_redis

            redis_server = embedded_redis.start(Path(settings.REDIS_URL.removeprefix("unix://")))
        call_command("migrate", verbosity=0)
        from governance.demo import seed_demo_organisation

        seed_demo_organisation()
        local = FakeLLM("ollama")
        fakes.append(local)
        # The backend the answers come from runs in a process of its own: in this one, it
        # would share the GIL with the client that times them.
        external, external_url = start_fake(ROOT, "openai", TTFT_REPLY, TTFT_DELAY)
        Backend.objects.filter(kind=Backend.Kind.OLLAMA).update(base_url=local.url)
        openai_backend = Backend.objects.get(kind=Backend.Kind.OPENAI)
        openai_backend.base_url = external_url
        openai_backend.seal_credential("sk-bench")
        openai_backend.save()
        alice = User.objects.get(email="alice@example.com")
        internal = Category.objects.get(number=2)
        purge_queues()
        redis_label = "embedded" if settings.EMBEDDED_REDIS else settings.REDIS_URL
        print(
            f"database: {connection.vendor}   redis: {redis_label}   cores: {os.cpu_count()}   "
            f"load average: {os.getloadavg()[0]:.1f} (other work on the machine skews wall times)"
        )
        print(python_speed())
        rng = random.Random(20261123)

        if 1 in PARTS:
            print("\n== 1. governance overhead per message (in-process, no web server)")
            governance_overhead(alice, internal, sample_messages(rng, OVERHEAD_MESSAGES + 10))
        if PARTS & {2, 3}:
            base, cookies = start_servers(alice, started)
        if 2 in PARTS:
            print("\n== 2. time to first token (uvicorn + Celery worker, -P threads -c 2)")
            texts = sample_messages(rng, TTFT_WARMUP + TTFT_MESSAGES)
            rows, errors = time_to_first_token(base, cookies, alice, internal, texts)
            kept, fresh = backend_first_token(external_url, texts[TTFT_WARMUP:])
            report_first_token(rows, errors, kept, fresh, TTFT_WARMUP)
            if errors:
                print(f"  exceptions in the web log: {logged_errors('web')}")
                print(f"  exceptions in the worker log: {logged_errors('worker')}")

        if 3 in PARTS:
            stop(started[1])  # no worker: part 3 writes the answers' streams itself
            print(f"\n== 3. {STREAMS} concurrent SSE streams on one uvicorn process")
            concurrent_streams(base, cookies, started[0].pid, alice, internal)

        if 4 in PARTS:
            print("\n== 4. the built-in model (in-process, as the inference_local worker runs it)")
            builtin_model(sample_messages(rng, BUILTIN_RUNS))
        if 5 in PARTS:
            print(
                f"\n== 5. {AT_ONCE} answers at once through one Celery worker "
                f"({len(LONG_REPLY)} chunks {LONG_DELAY * 1000:.0f} ms apart each)"
            )
            answers_at_once(alice, internal, rng)

        print(
            f"\ntotal {time.perf_counter() - began:.0f} s; load average now "
            f"{os.getloadavg()[0]:.1f}"
        )
    except BaseException:
        for log in sorted(DATA_DIR.glob("*.log")):
            print(f"--- last lines of {log.name}:", *log.read_text().splitlines()[-30:], sep="\n")
        raise
    finally:
        for process in [*started, external]:
            stop(process)
        for fake in fakes:
            fake.stop()
        try:
            tidy_redis()
        except Exception as exc:  # the database or Redis never came up: nothing to tidy
            print(f"(Redis not tidied: {type(exc).__name__})")
        if redis_server is not None:
            from config import embedded_redis

            embedded_redis.stop(redis_server)
        if SOURCE_DATABASE_URL:
            reset_database(SOURCE_DATABASE_URL, BENCH_DB, create=False)
        shutil.rmtree(DATA_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
