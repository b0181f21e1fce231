"""The chat promises no more than Steward does: names are replaced only when it finds them.

A review found "From: John Carter" sent to the model as written under a page that said
"personal data and secrets are replaced" and a preview that said an email address and
a phone number would be: names are found only after a title (Mr, Dr) or on a
protected-term list (governance/scanning/names.py).
"""

from types import SimpleNamespace

import pytest
from django.urls import reverse

from chat import services
from governance.demo import seed_demo_organisation
from governance.models import Category, User
from tests.chat.test_views import HTMX

NAMES_LINE = (
    "Names are recognised only with a title (Ms Jane Roe) or on the company's protected list: "
    "any other name goes as written."
)


@pytest.fixture
def demo(db):
    seed_demo_organisation()
    alice = User.objects.get(email="alice@example.com")
    internal = Category.objects.get(slug="internal")
    conversation = services.start_conversation(owner=alice, category=internal)
    return SimpleNamespace(alice=alice, conversation=conversation)


def _preview(client, demo, text: str) -> str:
    client.force_login(demo.alice)
    url = reverse("chat:preview", args=[demo.conversation.public_id])
    return client.post(url, {"text": text}, **HTMX).content.decode()


def test_a_new_conversation_does_not_promise_that_all_personal_data_is_replaced(client, demo):
    client.force_login(demo.alice)
    url = reverse("chat:conversation", args=[demo.conversation.public_id])
    page = client.get(url).content.decode()
    assert "personal data and secrets are replaced" not in page
    assert "email addresses, phone numbers, card and account numbers, IDs and secrets" in page
    assert "names only when written with a title (Ms Jane Roe) or on the company's" in page


def test_a_preview_that_replaces_something_says_which_names_go_as_written(client, demo):
    page = _preview(
        client, demo, "From: John Carter <john.carter@example.org>, call +44 20 7946 0958"
    )
    assert "Some details will be replaced" in page
    assert "1 email address, 1 phone number will be replaced before sending to" in page
    assert page.count(NAMES_LINE) == 1


def test_a_preview_says_names_once_and_only_when_it_matters(client, demo):
    # Nothing replaced: the line of its own already says names without a title pass.
    allowed = _preview(client, demo, "How do I rewrite an internal how-to?")
    assert "Nothing recognised to replace" in allowed
    assert "does not recognise names without a title" in allowed
    assert NAMES_LINE not in allowed
    # Blocked: nothing goes anywhere, so nothing about what goes as written.
    blocked = _preview(client, demo, "Bob was diagnosed with flu")
    assert "Will be blocked" in blocked
    assert NAMES_LINE not in blocked
    assert NAMES_LINE not in _preview(client, demo, "")
