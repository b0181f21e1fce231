"""A blocked message links the card that explains its block, and says what to do instead.

A review found a health message blocked in an Internal conversation saying "Why? See
the card for category 2": the Internal card says nothing about health data; the
Prohibited card lists it, and what to do instead was said nowhere.
"""

from types import SimpleNamespace

import pytest
from django.urls import reverse

from chat import services
from chat.turns import INSTEAD_OF_BLOCKED
from governance.demo import seed_demo_organisation
from governance.models import Backend, Category, DetectionRule, User


@pytest.fixture
def demo(db):
    seed_demo_organisation()
    return SimpleNamespace(
        alice=User.objects.get(email="alice@example.com"),
        internal=Category.objects.get(slug="internal"),
        confidential=Category.objects.get(slug="confidential"),
        prohibited=Category.objects.get(slug="prohibited"),
    )


def _blocked(client, demo, text: str) -> tuple[str, list[str]]:
    """The blocked turn of ``text`` sent by Alice in a new Internal conversation, as her
    page shows it, and the reasons the message keeps."""
    conversation = services.start_conversation(owner=demo.alice, category=demo.internal)
    sent = services.send_message(conversation=conversation, author=demo.alice, text=text)
    assert sent.decision.blocked
    client.force_login(demo.alice)
    page = client.get(reverse("chat:conversation", args=[conversation.public_id]))
    html = page.content.decode()
    start = html.index('<div class="turn-blocked"')
    return html[start : html.index("</div>", start)], sent.message.reasons


def test_a_message_a_rule_blocks_links_the_prohibited_card(client, demo):
    turn, reasons = _blocked(client, demo, "Bob was diagnosed with flu, can you draft a note?")
    assert "(rule “Health information”)" in reasons[0]
    assert 'href="/training/cards/4/">Why? See the card for category 4</a>' in turn
    assert "category 2" not in turn
    assert INSTEAD_OF_BLOCKED in turn


def test_without_a_prohibited_category_a_rule_block_links_the_conversations_card(client, demo):
    Category.objects.filter(pk=demo.prohibited.pk).update(is_active=False)
    turn, _ = _blocked(client, demo, "Bob was diagnosed with flu, can you draft a note?")
    assert 'href="/training/cards/2/">Why? See the card for category 2</a>' in turn


def test_a_finding_its_category_blocks_links_that_categorys_card(client, demo):
    demo.internal.finding_actions = {"EMAIL_ADDRESS": "block"}
    demo.internal.save()
    turn, reasons = _blocked(client, demo, "Write to jane.roe@example.org about the launch")
    assert reasons == ["Blocked: 1 email address may not be sent in category 2 (Internal)."]
    assert 'href="/training/cards/2/">Why? See the card for category 2</a>' in turn
    assert INSTEAD_OF_BLOCKED in turn


def test_a_message_raised_to_a_category_she_is_not_cleared_for_links_that_card(client, demo):
    DetectionRule.objects.create(
        name="Client files",
        reason="Client files are confidential",
        pattern="client file",
        action=DetectionRule.Action.ESCALATE,
        min_category=demo.confidential,
    )
    turn, reasons = _blocked(client, demo, "Summarise this client file for me")
    assert "which you are not cleared for" in reasons[0]
    assert "(rule “Client files”)" in reasons[0]  # a rule, but it names its category
    assert 'href="/training/cards/3/">Why? See the card for category 3</a>' in turn
    assert INSTEAD_OF_BLOCKED in turn


def test_a_message_no_model_may_take_now_gets_no_advice_to_reword_it(client, demo):
    Backend.objects.update(enabled=False)
    turn, reasons = _blocked(client, demo, "How do I rewrite an internal how-to?")
    assert reasons[0].startswith("No approved backend is available for category 2")
    assert 'href="/training/cards/2/">Why? See the card for category 2</a>' in turn
    assert INSTEAD_OF_BLOCKED not in turn
