"""Three weeks of a small organisation's audit trail, for the auditor's pages.

``record()`` stamps events with ``timezone.now()`` and the trail is append-only,
so the past is written by moving the clock, in order: sequence numbers must
grow with time (``AuditEventQuerySet.between`` relies on it). Everything here
is written before the browser signs in, whose events then follow at the real time.

On PostgreSQL ``audit_append`` stamps events with the database's clock, so
there they all land today (checkpoints keep their moved times). The tests
below hold either way; only the screenshots lose their three weeks.
"""

import datetime as dt
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from unittest import mock

from django.utils import timezone

from audit.models import AuditEvent
from audit.services import create_checkpoint, record, run_verification
from governance.demo import seed_demo_organisation
from governance.models import User
from governance.policy import entity_phrase

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome

PUBLIC, INTERNAL = "Public", "Internal"
CONFIDENTIAL, PROHIBITED = "Confidential / personal data", "Prohibited"
NUMBERS = {PUBLIC: 1, INTERNAL: 2, CONFIDENTIAL: 3, PROHIBITED: 4}
OLLAMA, OPENAI = "Local Ollama", "OpenAI business API"
BACKENDS = {OLLAMA: ("on_prem", "on-site"), OPENAI: ("external_api", "us")}
# The demo approvals, in order of preference (governance.demo.APPROVALS).
ROUTES = {PUBLIC: [OLLAMA, OPENAI], INTERNAL: [OPENAI, OLLAMA], CONFIDENTIAL: [OLLAMA]}
STAFF = ["alice@example.com", "bob@example.com", "carol@example.com", "paula@example.com"]
CLEARED = ["carol@example.com", "priya@example.com"]  # category 3


@dataclass
class Trail:
    requests: int = 0
    blocked: int = 0
    exception: int = 0  # the category-3 request that reached the external backend
    checkpoints: int = 0
    first_day: dt.date | None = None
    by_decision: dict[str, int] = field(default_factory=dict)


@contextmanager
def clock(moment: dt.datetime) -> Iterator[None]:
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def seed_audit_trail(*, days: int = 21, verified: bool = True, seed: int = 5) -> Trail:
    """The demo organisation, then ``days`` days of sign-ins, chat requests and responses,
    a few failures and blocks, one policy exception, nightly checkpoints every few days
    and (if ``verified``) a nightly verification. Deterministic for a given ``seed``."""
    rng = random.Random(seed)
    now = timezone.now()
    today = timezone.localdate(now)
    trail = Trail(first_day=today - dt.timedelta(days=days))
    start = timezone.make_aware(dt.datetime.combine(trail.first_day, dt.time(7, 30)))
    with clock(start):
        seed_demo_organisation()
    users = {user.email: user for user in User.objects.all()}
    exception_day = today - dt.timedelta(days=4)

    for offset in range(days, -1, -1):
        day = today - dt.timedelta(days=offset)
        moments = _working_day(rng, day)
        if day == exception_day:
            moments.sort()
            exception_at = moments[len(moments) // 2]
        for moment in sorted(m for m in moments if m < now - dt.timedelta(minutes=2)):
            with clock(moment):
                if day == exception_day and moment == exception_at:
                    trail.exception = _request(
                        trail, users["bob@example.com"], CONFIDENTIAL, OPENAI, "allowed", {}
                    ).sequence
                    _response(rng, moment, users["bob@example.com"], CONFIDENTIAL, OPENAI)
                else:
                    _activity(rng, moment, trail, users)
        nightly = timezone.make_aware(dt.datetime.combine(day, dt.time(23, 30)))
        if nightly >= now:
            continue
        if offset % 5 == 1:
            with clock(nightly):
                create_checkpoint()
            trail.checkpoints += 1
        if verified:
            with clock(nightly + dt.timedelta(minutes=15)):
                run_verification()
    return trail


def _working_day(rng: random.Random, day: dt.date) -> list[dt.datetime]:
    """Moments in distinct minutes, each in its first half: an answer follows within it."""
    count = rng.randint(2, 5) if day.weekday() >= 5 else rng.randint(18, 30)
    minutes = set()
    while len(minutes) < count:
        hour = rng.choice([8, 9, 9, 10, 10, 11, 11, 12, 13, 14, 14, 15, 15, 16, 16, 17, 18])
        minutes.add((hour, rng.randrange(60)))
    return [
        timezone.make_aware(
            dt.datetime.combine(day, dt.time(hour, minute, rng.randrange(30), rng.randrange(10**6)))
        )
        for hour, minute in minutes
    ]


def _activity(
    rng: random.Random, moment: dt.datetime, trail: Trail, users: dict[str, User]
) -> None:
    """One thing that happens in a working day, mostly a chat request and its answer."""
    roll = rng.random()
    if roll < 0.08:
        user = users[rng.choice(STAFF + CLEARED)]
        record(action=Action.LOGIN, actor=user, target=user, details={"method": "password"})
        return
    if roll < 0.1:
        record(
            action=Action.LOGIN_FAILED,
            actor_label="bob@example.com",
            outcome=Outcome.FAILURE,
            details={"reason": "wrong password"},
        )
        return

    category = rng.choices([PUBLIC, INTERNAL, CONFIDENTIAL, PROHIBITED], [30, 42, 22, 6])[0]
    user = users[rng.choice(CLEARED if category == CONFIDENTIAL else STAFF)]
    backend = ROUTES.get(category, [OLLAMA])[0 if rng.random() < 0.8 else -1]
    decision, findings = "allowed", {}
    if category == PROHIBITED:
        decision, findings = "blocked", {rng.choice(["SECRET", "SECRET", "CREDIT_CARD"]): 1}
    elif rng.random() < 0.05:
        decision, findings = "blocked", {rng.choice(["SECRET", "CREDIT_CARD"]): 1}
    elif category in (INTERNAL, CONFIDENTIAL) and rng.random() < 0.45:
        decision = "pseudonymised"
        findings = {"EMAIL_ADDRESS": rng.randint(1, 4)}
        if rng.random() < 0.5:
            findings["PHONE_NUMBER"] = rng.randint(1, 2)
        if rng.random() < 0.3:
            findings["PERSON"] = rng.randint(1, 3)
    _request(trail, user, category, backend, decision, findings)
    if decision == "blocked":
        return
    if rng.random() < 0.03:
        with clock(moment + dt.timedelta(seconds=25)):
            record(
                action=Action.CHAT_FAILURE,
                actor=user,
                outcome=Outcome.FAILURE,
                category=category,
                backend=backend,
                details={
                    "category_number": NUMBERS[category],
                    "error": "timeout",
                    "latency_ms": 25_000,
                },
            )
    else:
        _response(rng, moment, user, category, backend)


def _request(
    trail: Trail, user: User, category: str, backend: str, decision: str, findings: dict
) -> AuditEvent:
    """A ``chat.request`` shaped as the AuditEvent docstring describes it."""
    blocked = decision == "blocked"
    hosting, region = BACKENDS[backend]
    trail.requests += 1
    trail.blocked += blocked
    trail.by_decision[decision] = trail.by_decision.get(decision, 0) + 1
    return record(
        action=Action.CHAT_REQUEST,
        actor=user,
        category=category,
        backend="" if blocked else backend,
        outcome=Outcome.BLOCKED if blocked else Outcome.SUCCESS,
        details={
            "category_number": NUMBERS[category],
            "decision": decision,
            "hosting_class": "" if blocked else hosting,
            "region": "" if blocked else region,
            "findings": findings,
            "chars": random.Random(trail.requests).randint(40, 4000),
            **({"reasons": _reasons(category, findings)} if blocked else {}),
        },
    )


def _reasons(category: str, findings: dict) -> list[str]:
    """The reasons the policy gives the sender, as chat.services records them."""
    label = f"category {NUMBERS[category]} ({category})"
    if category == PROHIBITED:
        return [f"Blocked: {label} material is never sent to any model."]
    found = ", ".join(entity_phrase(kind, count) for kind, count in sorted(findings.items()))
    return [f"Blocked: {found} may not be sent in {label}."]


def _response(
    rng: random.Random, asked: dt.datetime, user: User, category: str, backend: str
) -> None:
    latency_ms = rng.randint(1500, 20_000)
    with clock(asked + dt.timedelta(milliseconds=latency_ms)):
        record(
            action=Action.CHAT_RESPONSE,
            actor=user,
            category=category,
            backend=backend,
            details={
                "category_number": NUMBERS[category],
                "chars": rng.randint(200, 6000),
                "latency_ms": latency_ms,
            },
        )
