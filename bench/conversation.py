"""A long conversation's page: the newest turns, an earlier page, and the old "every turn".

Runs against a throw-away database (test_<name>) on whatever DATABASE_URL points at. Builds
the demo organisation and one conversation of BENCH_CONVERSATION_MESSAGES messages (default
1,500: questions and Markdown answers with a list and a code block, sealed as the chat
seals them), then asks Django's test client for its page as its author: the newest page,
the page before a turn in the middle (``?before=``: "Show earlier messages" without script,
and a way back to an older turn), and a bookmarked ``?all=1`` (which rendered every turn
until the paged page replaced it). Prints the median of five of each, time and size.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from bench._support import python_speed  # noqa: E402
from chat.models import Conversation, Message  # noqa: E402
from governance.demo import seed_demo_organisation  # noqa: E402
from governance.models import Category, User  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_CONVERSATION_MESSAGES", 1_500))
ROUNDS = 5
ANSWER = """Here is the plan for step {n}:

- gather the figures for the quarter
- compare them with **last year's**
- write the summary

```python
total = sum(row.amount for row in rows if row.quarter == {n})
```
"""


def build(owner: User) -> Conversation:
    conversation = Conversation(owner=owner, category=Category.objects.get(slug="internal"))
    conversation.init_key()
    conversation.title = "Budget planning"
    conversation.save()
    messages = []
    for number in range(MESSAGES):
        asked = number % 2 == 0
        message = Message(
            conversation=conversation,
            role=Message.Role.USER if asked else Message.Role.ASSISTANT,
            status=Message.Status.SENT if asked else Message.Status.DONE,
            category_number=2,
        )
        message.content = f"Question {number // 2}?" if asked else ANSWER.format(n=number // 2)
        messages.append(message)
    Message.objects.bulk_create(messages, batch_size=500)
    return conversation


def timed(client: Client, url: str) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        size = len(response.content)
    return statistics.median(times), size


def main() -> None:
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        print(python_speed())
        seed_demo_organisation()
        alice = User.objects.get(email="alice@example.com")
        conversation = build(alice)
        client = Client()
        client.force_login(alice)
        page = reverse("chat:conversation", args=[conversation.public_id])
        middle = conversation.messages.order_by("created_at", "id")[MESSAGES // 2]
        print(f"database: {connection.vendor}; one conversation of {MESSAGES:,} messages")
        for label, url in (
            ("newest page", page),
            ("page before the middle", f"{page}?before={middle.public_id}"),
            ("?all=1 (bookmarked)", f"{page}?all=1"),
        ):
            took, size = timed(client, url)
            print(f"{label:24s} {took:7.1f} ms  {size / 1024:7.1f} KB  (median of {ROUNDS})")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
