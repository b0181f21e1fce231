"""The "How Steward uses your data" page (GDPR Art. 13): generated from the live policy, what
the audit trail holds, the contact, and the links to it."""

import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from chat import services
from chat.services import steps
from governance.models import Approval, Backend, Category
from privacy import transparency

NOTICE = "/privacy/how-steward-uses-your-data/"


def _page(client, user) -> str:
    client.force_login(user)
    response = client.get(NOTICE)
    assert response.status_code == 200
    return response.text


def _panel(page: str, number: int) -> str:
    """The part of the page about category ``number``."""
    start = page.index(f'id="use-{number}"')
    end = page.find("</article>", start)
    return page[start:end]


def _text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def test_each_category_shows_its_retention_and_the_models_it_may_reach(org, client):
    page = _page(client, org.alice)
    public = _text(_panel(page, 1))
    assert "90 days after the last message" in public
    assert "Local Ollama on-premise" in public
    assert "OpenAI business API external API · us" in public
    assert "The provider keeps it up to 30 days." in public
    confidential = _text(_panel(page, 3))
    assert "7 days after the last message" in confidential
    assert "Local Ollama" in confidential and "OpenAI" not in confidential
    assert "No model." in _text(_panel(page, 4))


def test_a_model_outside_the_eu_says_under_what_safeguard_its_data_goes(org, client, settings):
    """GDPR Art. 13(1)(f): the page named the US model's region only (a review found it)."""
    settings.STEWARD_PRIVACY_CONTACT = "dpo@example.com"
    public = _text(_panel(_page(client, org.alice), 1))
    assert "no transfer safeguard is recorded: ask dpo@example.com" in public
    Backend.objects.filter(name="OpenAI business API").update(
        transfer_safeguard="Standard contractual clauses (2021/914)"
    )
    public = _text(_panel(_page(client, org.alice), 1))
    assert "Sent outside the EU/EEA under: Standard contractual clauses (2021/914)." in public
    assert "Local Ollama on-premise Sent" not in public  # its own servers: no transfer


def test_the_page_follows_the_policy_in_the_database(org, client):
    Category.objects.filter(pk=org.public.pk).update(retention_days=45)
    Approval.objects.filter(category=org.public, backend__name="OpenAI business API").delete()
    Backend.objects.filter(name="Local Ollama").update(region="eu-west-1")
    public = _text(_panel(_page(client, org.alice), 1))
    assert "45 days after the last message" in public and "90 days" not in public
    assert "OpenAI" not in public
    assert "Local Ollama on-premise · eu-west-1" in public


def test_each_category_says_whether_personal_data_goes_pseudonymised_or_in_clear(org, client):
    page = _page(client, org.alice)
    assert "Pseudonymised" in _panel(page, 1)
    assert "Sent in clear" in _panel(page, 3)
    assert "Never sent" in _panel(page, 4)
    Category.objects.filter(pk=org.public.pk).update(finding_actions={"EMAIL_ADDRESS": "allow"})
    public = _text(_panel(_page(client, org.alice), 1))
    assert "Partly in clear" in public
    assert "Sent as written: email addresses." in public
    assert "Replaced by placeholders when Steward recognises them: phone numbers," in public


def test_a_category_that_sends_personal_data_in_clear_still_replaces_secrets(org, client):
    """Category 3 read "nothing is replaced in this category" while its card said it replaces
    secrets or credentials."""
    confidential = _text(_panel(_page(client, org.alice), 3))
    assert "nothing is replaced" not in confidential
    assert "Steward replaces no personal data in this category." in confidential
    assert "Secrets and credentials are still replaced when Steward recognises them." in (
        confidential
    )
    Category.objects.filter(pk=org.confidential.pk).update(finding_actions={"SECRET": "block"})
    confidential = _text(_panel(_page(client, org.alice), 3))
    assert "Steward still blocks the message when it recognises a secret or credential." in (
        confidential
    )


def test_it_never_claims_that_every_name_is_replaced(org, client):
    """The scanner finds a name only after a title or on a protected-term list: a category
    that replaces names says so, and that any other name is sent as written."""
    page = _page(client, org.alice)
    assert "never sees" not in page
    assert transparency.NAMES_CAVEAT in _text(_panel(page, 1))
    assert "Pseudonymised when recognised" in _text(_panel(page, 1))
    assert transparency.NAMES_CAVEAT not in _text(_panel(page, 3))  # names go as written
    Category.objects.filter(pk=org.public.pk).update(finding_actions={"PERSON": "allow"})
    public = _text(_panel(_page(client, org.alice), 1))
    assert transparency.NAMES_CAVEAT not in public
    assert "Sent as written: people&#x27;s names." in public


def test_it_says_what_the_audit_trail_holds_and_that_message_text_is_not_in_it(org, client):
    page = _text(_page(client, org.alice))
    assert "The text of your messages and of the answers is never in the audit trail." in page
    assert "the IP address you signed in from" in page
    assert "How long it is kept Without a time limit for the events" in page
    assert "kept 400 days, and removed at once when the account is erased" in page
    for words in transparency.message_records():
        assert words in page
    assert "Privacy officers When a copy of your data is made for a request" in page
    assert "When someone asks for their data, a message of yours that names them" in page
    assert "Auditors The audit trail" in page


def test_the_contact_is_named_when_set_and_the_privacy_team_otherwise(org, client, settings):
    settings.STEWARD_PRIVACY_CONTACT = "Example Ltd, DPO, dpo@example.com"
    page = _text(_page(client, org.alice))
    assert "Contact: Example Ltd, DPO, dpo@example.com" in page
    assert "the privacy team" not in page.replace("The privacy team handles", "")
    settings.STEWARD_PRIVACY_CONTACT = ""
    page = _text(_page(client, org.alice))
    assert "Contact: The privacy team" in page
    assert "write to the privacy team" in page


def test_someone_without_a_role_sees_it_without_the_training_links(client, outsider):
    page = _page(client, outsider)
    assert reverse("privacy:mine") in page
    assert reverse("training:overview") not in page


def test_it_is_linked_from_the_chat_your_data_and_the_account_menu(org, client):
    client.force_login(org.alice)
    link = f'href="{NOTICE}"'
    chat = client.get(reverse("chat:home")).text
    start = chat[chat.index('id="start"') :]
    assert link in start[: start.index("</section>")]  # beside the category picker
    mine = client.get(reverse("privacy:mine")).text
    lead = mine[mine.index("<h1>Your data</h1>") :]
    assert link in lead[: lead.index("</p>")]
    menu = mine[mine.index('class="usermenu-panel"') :]
    assert link in menu[: menu.index("</details>")]


def test_every_detail_a_message_leaves_in_the_audit_trail_is_told(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """The page's list is the chat's: a detail the chat starts to record must be told."""

    def send(conversation, author, text):
        with django_capture_on_commit_callbacks(execute=True):
            services.send_message(conversation=conversation, author=author, text=text)

    public = services.start_conversation(owner=org.alice, category=org.public)
    send(public, org.alice, "Write to jane.roe@example.org about the offsite")  # pseudonymised
    org.local.fail = 500  # category 3 only goes to the local model: its answer fails
    send(services.start_conversation(owner=org.carol, category=org.confidential), org.carol, "Hi")
    Backend.objects.update(enabled=False)  # no model left: blocked, with its reasons
    send(public, org.alice, "And again")

    def broken(text, **kwargs):
        raise RuntimeError("scanner down")

    monkeypatch.setattr(steps, "detect", broken)
    with pytest.raises(services.ChatError):
        send(public, org.alice, "Once more")  # the scan fails: a failure of its own
    actions = ("chat.request", "chat.response", "chat.failure")
    events = AuditEvent.objects.filter(action__in=actions)
    assert {event.action for event in events} == set(actions)
    recorded = {key for event in events for key in event.details}
    assert {"findings", "replaced", "reasons", "hosting_class"} <= recorded
    assert recorded - transparency.described_message_details() == set()


def test_what_a_sign_in_records_is_told(org, client):
    client.force_login(org.alice)
    sign_in = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert set(sign_in.details) <= set(transparency.SIGN_IN_RECORDS)
