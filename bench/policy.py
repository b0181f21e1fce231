"""Scan + decide per message: the governance work before anything is sent.

Pure in-process (no database): the demo policy's categories and two backends
as the engine sees them, a 1,000-name protected-term list, and a seeded corpus
of ~2 KB chat messages with identifiers embedded. Prints p50/p99 per message
for decide() alone and for scan + decide, on one core.
"""

import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from governance.demo import CATEGORIES  # noqa: E402
from governance.policy import (  # noqa: E402
    ROUTING_FIELDS,
    BackendSpec,
    CategorySpec,
    PolicyInput,
    decide,
)
from governance.scanning import ProtectedTerms, scan  # noqa: E402

MESSAGES = 2_000
SIZE = 2_048
WORDS = (
    "the quarterly report shows revenue growth across regions while costs stayed flat and the "
    "team plans to review supplier contracts next month before the board meeting in spring"
).split()
IDENTIFIERS = (
    "jane.doe@example.com",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32",
    "AKIAIOSFODNN7EXAMPLE",
    "192.168.10.24",
    "https://intranet.example.com/wiki/Plan",
)


def corpus(rng: random.Random, clients: list[str]) -> list[str]:
    messages = []
    for _ in range(MESSAGES):
        parts = []
        while sum(len(p) + 1 for p in parts) < SIZE:
            roll = rng.random()
            if roll < 0.03:
                parts.append(rng.choice(IDENTIFIERS))
            elif roll < 0.05:
                parts.append(rng.choice(clients))
            else:
                parts.append(rng.choice(WORDS))
        messages.append(" ".join(parts)[:SIZE])
    return messages


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"p50 {p50 * 1000:6.3f} ms   p99 {p99 * 1000:6.3f} ms"


def main() -> None:
    rng = random.Random(20261123)
    clients = [f"Client{n:04d} Holdings" for n in range(1000)]
    terms = ProtectedTerms((name, "client") for name in clients)
    categories = {
        c["number"]: CategorySpec(
            number=c["number"], name=c["name"], **{k: c[k] for k in ROUTING_FIELDS if k in c}
        )
        for c in CATEGORIES
    }
    backends = (
        BackendSpec(
            key="ollama", name="Local Ollama", hosting_class="on_prem", approvals={1: 0, 2: 1, 3: 0}
        ),
        BackendSpec(
            key="openai",
            name="OpenAI",
            hosting_class="external_api",
            dpa_signed=True,
            provider_retention_days=30,
            region="us",
            approvals={1: 1, 2: 0},
        ),
    )
    messages = corpus(rng, clients)
    decide_times, total_times = [], []
    findings = 0
    for index, text in enumerate(messages):
        start = time.perf_counter()
        result = scan(text, protected_terms=terms)
        scanned = time.perf_counter()
        decide(
            PolicyInput(
                cleared=frozenset({1, 2, 3}),
                chosen=1 + index % 3,
                categories=categories,
                backends=backends,
                findings=result.findings,
            )
        )
        done = time.perf_counter()
        decide_times.append(done - scanned)
        total_times.append(done - start)
        findings += len(result.findings)
    megabytes = sum(len(m.encode()) for m in messages) / 1e6
    print(f"messages: {MESSAGES} × ~{SIZE} B, {findings} findings, 1,000 protected terms")
    print(f"decide() alone:   {percentiles(decide_times)}")
    print(
        f"scan + decide:    {percentiles(total_times)}   "
        f"{MESSAGES / sum(total_times):7.0f} msg/s   {megabytes / sum(total_times):5.2f} MB/s"
    )


if __name__ == "__main__":
    main()
