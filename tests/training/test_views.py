"""The training pages: the new staff member's way to the chat, the admin's pages, the report."""

import csv
import datetime as dt
import io
import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from chat import services as chat
from tests.asked_here import asked
from training import services
from training.models import PolicyDocument, QuizAttempt, QuizQuestion

HTMX = {"HTTP_HX_REQUEST": "true"}


# --- the way to the chat --------------------------------------------------------------------


def test_chat_sends_a_new_staff_member_to_the_summary_first(client, demo, publish):
    publish()
    client.force_login(demo.alice)
    response = client.get(reverse("chat:home"))
    assert response.status_code == 302
    assert response["Location"] == "/training/acknowledge/?next=%2Fchat%2F"
    page = client.get(response["Location"]).content.decode()
    assert "Before you chat: the policy in two minutes" in page
    assert "Be careful." in page
    assert 'href="/training/cards/2/"' in page  # her categories link to their cards


def test_acknowledging_leads_on_to_the_chat(client, demo, publish):
    document = publish()
    client.force_login(demo.alice)
    response = client.post(
        reverse("training:acknowledge"), {"version": 1, "confirm": "on", "next": "/chat/"}
    )
    assert response.status_code == 302 and response["Location"] == "/chat/"
    assert not services.needs_acknowledgement(demo.alice)
    assert client.get("/chat/").status_code == 200
    assert document.acknowledgements.get().user == demo.alice


def test_acknowledging_needs_the_box_ticked(client, demo, publish):
    publish()
    client.force_login(demo.alice)
    response = client.post(reverse("training:acknowledge"), {"version": 1})
    assert response.status_code == 422
    assert services.needs_acknowledgement(demo.alice)


def test_acknowledging_a_version_replaced_meanwhile_shows_the_new_one(client, demo, publish):
    publish()
    client.force_login(demo.alice)
    publish("Newer", "Newer")
    response = client.post(reverse("training:acknowledge"), {"version": 1, "confirm": "on"})
    assert response.status_code == 302
    assert response["Location"] == reverse("training:acknowledge")
    assert services.needs_acknowledgement(demo.alice)


def test_it_refuses_an_offsite_next(client, demo, publish):
    publish()
    client.force_login(demo.alice)
    response = client.post(
        reverse("training:acknowledge"),
        {"version": 1, "confirm": "on", "next": "https://evil.example/"},
    )
    assert response["Location"] == "/chat/"


def test_the_summary_lists_every_change_since_the_version_acknowledged(client, demo, publish):
    services.acknowledge(user=demo.alice, document=publish("v1", "First"))
    publish("v1\n\nNo customer data in Internal.", "No customer data in Internal")
    publish("v1\n\nNo customer data in Internal.\n\nTypo fixed.", "Typo fixed")
    client.force_login(demo.alice)
    page = client.get(reverse("training:acknowledge")).content.decode()
    assert "You acknowledged version 1" in page
    notes = page.split('class="change-note"')[1].split("Show the changed lines")[0]
    assert "Version 2: No customer data in Internal" in notes
    assert "Version 3: Typo fixed" in notes
    assert "First" not in notes


def test_the_summary_lists_a_prohibited_category_once(client, demo, publish):
    """Listed among someone's categories when they are cleared for it, and after them if not."""
    from governance.models import Clearance

    publish()
    client.force_login(demo.alice)
    page = client.get(reverse("training:acknowledge")).content.decode()
    assert page.count('href="/training/cards/4/"') == 1
    Clearance.objects.create(category=demo.prohibited, user=demo.alice)
    page = client.get(reverse("training:acknowledge")).content.decode()
    assert page.count('href="/training/cards/4/"') == 1


def test_an_htmx_send_is_redirected_to_the_acknowledgement(client, demo, publish, settings):
    settings.STEWARD_ACK_GRACE_DAYS = 0
    services.acknowledge(user=demo.alice, document=publish())
    conversation = chat.start_conversation(owner=demo.alice, category=demo.internal)
    publish("New", "New")
    client.force_login(demo.alice)
    url = reverse("chat:send", args=[conversation.public_id])
    response = client.post(url, {"text": "Hello"}, **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/training/acknowledge/?next=%2Fchat%2Fc%2F")
    assert not conversation.messages.exists()
    response = client.post(url, {"text": "Hello"})  # without JavaScript: a plain redirect
    assert response.status_code == 302
    assert response["Location"].startswith("/training/acknowledge/")


def test_an_htmx_start_is_redirected_to_the_acknowledgement(client, demo, publish):
    publish()
    client.force_login(demo.alice)
    response = client.post(reverse("chat:start"), {"category": "internal"}, **HTMX)
    assert response["HX-Redirect"] == "/training/acknowledge/?next=%2Fchat%2F"


def test_the_chat_reminds_during_the_grace_period(client, demo, publish):
    services.acknowledge(user=demo.alice, document=publish())
    publish("New", "Stricter rules")
    client.force_login(demo.alice)
    page = client.get(reverse("chat:home")).content.decode()
    assert "Version 2 of the policy was published." in page
    page = client.get(reverse("training:acknowledge")).content.decode()
    assert "The policy has changed" in page
    assert "Stricter rules" in page
    assert 'class="diff-added"' in page


def test_nothing_to_acknowledge_before_a_policy_is_published(client, demo):
    client.force_login(demo.alice)
    page = client.get(reverse("training:acknowledge")).content.decode()
    assert "nothing to acknowledge" in page
    assert client.get(reverse("chat:home")).status_code == 200


def test_the_chat_links_categories_and_blocked_messages_to_their_cards(client, demo):
    from governance.models import DetectionRule

    DetectionRule.objects.create(
        name="Privilege", reason="Legal advice stays out.", pattern="privileged", action="block"
    )
    client.force_login(demo.alice)
    page = client.get(reverse("chat:home")).content.decode()
    assert 'href="/training/cards/1/">What belongs here?<span class="visually-hidden">' in page
    conversation = chat.start_conversation(owner=demo.alice, category=demo.internal)
    chat.send_message(conversation=conversation, author=demo.alice, text="privileged advice")
    chat.send_message(conversation=conversation, author=demo.alice, text="Mail jo@example.org")
    page = client.get(reverse("chat:conversation", args=[conversation.public_id])).content.decode()
    assert 'href="/training/cards/2/">category card</a>' in page
    assert "Why? See the card for category 4" in page  # a rule's block: the prohibited card
    assert 'href="/training/cards/2/#qcard-2-found"' in page  # "1 replaced" explains itself


# --- cards and the policy document ----------------------------------------------------------


def test_a_card_shows_the_live_policy(client, demo):
    client.force_login(demo.aaron)  # auditors read cards too
    page = client.get(reverse("training:card", args=[2])).content.decode()
    assert "OpenAI business API" in page
    assert "30 days after the last message" in page
    assert "Rewrite an internal how-to" in page
    assert "replaced by a placeholder" in page
    assert client.get(reverse("training:card", args=[9])).status_code == 404


def test_a_card_offers_its_quiz_to_staff_whenever_the_quiz_has_questions(client, demo):
    """The Prohibited card too, as the Training page does; not to those who cannot take it."""
    client.force_login(demo.alice)
    assert 'href="/training/quiz/4/"' in client.get(reverse("training:home")).content.decode()
    assert (
        'href="/training/quiz/4/"'
        in client.get(reverse("training:card", args=[4])).content.decode()
    )
    QuizQuestion.objects.filter(category_number=2).update(is_active=False)
    assert "Take the quiz" not in client.get(reverse("training:card", args=[2])).content.decode()
    client.force_login(demo.aaron)  # an auditor: no quizzes
    assert "Take the quiz" not in client.get(reverse("training:card", args=[4])).content.decode()


def test_the_card_of_a_retired_category_says_it_is_retired(client, demo):
    """The chat still links a retired category's conversations and messages to its card."""
    from governance.models import Category

    conversation = chat.start_conversation(owner=demo.alice, category=demo.internal)
    Category.objects.filter(pk=demo.internal.pk).update(is_active=False)
    client.force_login(demo.alice)
    page = client.get(reverse("chat:conversation", args=[conversation.public_id])).content.decode()
    assert 'href="/training/cards/2/"' in page
    response = client.get(reverse("training:card", args=[2]))
    assert response.status_code == 200
    assert "nobody can choose it any more" in response.content.decode()
    assert "Take the quiz" not in response.content.decode()


def test_the_overview_has_every_category(client, demo):
    client.force_login(demo.alice)
    page = client.get(reverse("training:overview")).content.decode()
    for number in (1, 2, 3, 4):
        assert f'href="/training/cards/{number}/"' in page
    assert "Nowhere:" in page
    assert "<dd>Never stored.</dd>" in page  # the prohibited category, worded as elsewhere


def test_the_policy_document_is_rendered_safely(client, demo, publish):
    publish("## Rules\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))")
    client.force_login(demo.alice)
    page = client.get(reverse("training:policy")).content.decode()
    assert "<h2>Rules</h2>" in page
    assert "<script>alert" not in page
    assert 'href="javascript' not in page


def test_the_policy_document_links_to_pages_of_steward(client, demo, publish):
    publish("Read [the cards](/training/cards/) before you chat.")
    client.force_login(demo.alice)
    page = client.get(reverse("training:policy")).content.decode()
    assert '<a href="/training/cards/" rel="noopener noreferrer nofollow">the cards</a>' in page


def test_a_version_page_shows_what_changed(client, demo, publish):
    publish("one\ntwo")
    publish("one\nthree", "Two became three")
    client.force_login(demo.alice)
    page = client.get(reverse("training:policy_version", args=[2])).content.decode()
    assert "Changes since version 1" in page
    assert '<li class="diff-removed"><span class="visually-hidden">Removed: </span>two</li>' in page
    assert '<li class="diff-added"><span class="visually-hidden">Added: </span>three</li>' in page
    assert "Two became three" in page


def test_a_version_page_counts_the_staff_who_acknowledged_it_as_the_report_does(
    client, demo, publish
):
    document = publish()
    for person in (demo.alice, demo.bob):
        services.acknowledge(user=person, document=document)
    demo.bob.is_active = False  # left the company
    demo.bob.save()
    client.force_login(demo.alice)
    page = client.get(reverse("training:policy_version", args=[1])).content.decode()
    assert "acknowledged by 1 person." in page


# --- writing and publishing -----------------------------------------------------------------


def test_the_editor_starts_from_the_suggested_policy(client, demo):
    client.force_login(demo.paula)
    page = client.get(reverse("training:policy_edit")).content.decode()
    assert "Why this policy exists" in page
    assert "Write the first version" in page


def test_the_suggested_policy_promises_only_what_steward_does(demo):
    """A key in an Internal message goes out replaced, legal and health words as written:
    the text must say so, not that Steward blocks them."""
    from training.defaults import DEFAULT_POLICY_BODY

    conversation = chat.start_conversation(owner=demo.alice, category=demo.internal)
    key = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd"
    sent = chat.send_message(
        conversation=conversation,
        author=demo.alice,
        text=f"Privileged legal advice about Bob's HIV diagnosis. Key: {key}",
    )
    assert sent.answer is not None
    assert (
        sent.outgoing[-1][1] == "Privileged legal advice about Bob's HIV diagnosis. Key: [SECRET_1]"
    )
    assert "Steward blocks them" not in DEFAULT_POLICY_BODY
    assert "Steward\n   cannot recognise most of these" in DEFAULT_POLICY_BODY
    assert "it replaces the keys\n   and tokens it does recognise" in DEFAULT_POLICY_BODY


def test_an_admin_saves_a_draft_and_publishes_it(client, demo, django_capture_on_commit_callbacks):
    client.force_login(demo.paula)
    url = reverse("training:policy_edit")
    response = client.post(url, {"title": "Rules", "body": "## One", "change_note": ""}, **HTMX)
    assert response["HX-Redirect"] == url
    assert PolicyDocument.objects.draft().version == 1
    assert not services.needs_acknowledgement(demo.alice)  # a draft gates nobody
    reviewed = PolicyDocument.objects.draft().content_hash
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("training:policy_publish"), {"draft_hash": reviewed})
    assert response["Location"] == reverse("training:policy_version", args=[1])
    assert services.needs_acknowledgement(demo.alice)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.TRAINING_POLICY_PUBLISHED).exists()


def _draft_hash(page: str, form_action: str) -> str:
    form = page.split(f'action="{form_action}"')[1].split("</form>")[0]
    return re.search(r'name="draft_hash"(?: value="([^"]*)")?', form)[1] or ""


@pytest.fixture
def ed(demo):
    """A second policy admin, editing at the same time as Paula."""
    from governance.roles import Role
    from tests.factories import make_user

    return make_user("ed@example.com", Role.POLICY_ADMIN, full_name="Ed Editor")


def test_publishing_publishes_the_draft_as_the_admin_read_it(client, demo, ed):
    services.save_draft(actor=demo.paula, title="Policy", body="Reviewed text.", change_note="")
    client.force_login(demo.paula)
    page = client.get(reverse("training:policy_edit")).content.decode()
    reviewed = _draft_hash(page, reverse("training:policy_publish"))
    services.save_draft(actor=ed, title="Policy", body="Unreviewed text.", change_note="")
    response = client.post(
        reverse("training:policy_publish"), {"draft_hash": reviewed}, follow=True
    )
    assert "Read it again before publishing it." in response.content.decode()
    assert "Unreviewed text." in response.content.decode()  # the preview shows the draft now
    assert PolicyDocument.objects.current() is None
    page = response.content.decode()
    response = client.post(
        reverse("training:policy_publish"),
        {"draft_hash": _draft_hash(page, reverse("training:policy_publish"))},
    )
    assert PolicyDocument.objects.current().body == "Unreviewed text."


def test_discarding_keeps_a_draft_changed_since_the_admin_saw_it(client, demo, ed):
    services.save_draft(actor=demo.paula, title="Policy", body="Old text.", change_note="")
    client.force_login(demo.paula)
    page = client.get(reverse("training:policy_edit")).content.decode()
    seen = _draft_hash(page, reverse("training:policy_discard"))
    services.save_draft(actor=ed, title="Policy", body="New text by Ed.", change_note="")
    response = client.post(reverse("training:policy_discard"), {"draft_hash": seen}, follow=True)
    assert "Look at it again before discarding it." in response.content.decode()
    assert PolicyDocument.objects.draft().body == "New text by Ed."


def test_a_save_over_a_draft_changed_meanwhile_is_refused_keeping_the_text(client, demo, ed):
    """Two admins editing at once: the later save does not silently overwrite the other's."""
    services.save_draft(actor=demo.paula, title="Policy", body="First.", change_note="")
    client.force_login(demo.paula)
    page = client.get(reverse("training:policy_edit")).content.decode()
    began_from = _draft_hash(page, reverse("training:policy_edit"))
    services.save_draft(actor=ed, title="Policy", body="Text by Ed.", change_note="")
    mine = {
        "title": "Policy",
        "body": "Text by Paula.",
        "change_note": "",
        "draft_hash": began_from,
    }
    response = client.post(reverse("training:policy_edit"), mine, **HTMX)
    assert response.status_code == 422
    form = response.content.decode()
    assert "after you opened it. Your text is kept here: save again to replace it." in form
    assert "Text by Paula." in form
    assert PolicyDocument.objects.draft().body == "Text by Ed."
    again = {**mine, "draft_hash": _draft_hash(form, reverse("training:policy_edit"))}
    response = client.post(reverse("training:policy_edit"), again, **HTMX)
    assert response.status_code == 200
    assert PolicyDocument.objects.draft().body == "Text by Paula."


def test_a_new_draft_started_meanwhile_is_not_overwritten(client, demo, ed):
    client.force_login(demo.paula)
    page = client.get(reverse("training:policy_edit")).content.decode()
    began_from = _draft_hash(page, reverse("training:policy_edit"))
    assert began_from == ""
    services.save_draft(actor=ed, title="Policy", body="Text by Ed.", change_note="")
    mine = {"title": "Policy", "body": "Text by Paula.", "change_note": "", "draft_hash": ""}
    response = client.post(reverse("training:policy_edit"), mine)
    assert response.status_code == 422
    assert "Another admin started a draft of version 1 meanwhile." in response.content.decode()
    assert PolicyDocument.objects.draft().body == "Text by Ed."


def test_an_invalid_draft_returns_the_form_fragment(client, demo):
    client.force_login(demo.paula)
    response = client.post(reverse("training:policy_edit"), {"title": "", "body": ""}, **HTMX)
    assert response.status_code == 422
    assert b"<html" not in response.content
    assert response.content.lstrip().startswith(b'<div id="policy-editor">')  # form, preview
    assert b'id="policy-form"' in response.content


def _preview(page: str) -> str:
    """The editor's preview pane: the heading and the rendered text beside the form."""
    return re.search(r'aria-labelledby="preview-heading">(.*?)</section>', page, re.S)[1]


def _diff(page: str, kind: str) -> list[str]:
    """The lines of the editor's diff marked ``kind`` ("added" or "removed")."""
    return re.findall(rf'<li class="diff-{kind}"><span[^>]*>[^<]*</span>([^<]*)</li>', page)


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain post"])
def test_a_save_refused_because_the_draft_changed_previews_the_text_typed(
    client, demo, ed, headers
):
    """The preview beside the form shows what the admin typed, not a draft they did not
    write, and what saving again would replace in the draft saved meanwhile."""
    services.save_draft(actor=demo.paula, title="Policy", body="First.", change_note="")
    client.force_login(demo.paula)
    page = client.get(reverse("training:policy_edit")).content.decode()
    began_from = _draft_hash(page, reverse("training:policy_edit"))
    services.save_draft(actor=ed, title="Policy", body="Text by Ed.", change_note="")
    mine = {"title": "Policy", "body": "Text by **Paula**.", "change_note": "",
            "draft_hash": began_from}  # fmt: skip
    response = client.post(reverse("training:policy_edit"), mine, **headers)
    assert response.status_code == 422
    page = response.content.decode()
    assert ("<html" in page) is not bool(headers)
    assert 'role="alert"' in page and "after you opened it." in page
    preview = _preview(page)
    assert "Text by <strong>Paula</strong>." in preview and "not saved" in preview
    assert "Text by Ed." not in preview
    assert "What saving replaces in the draft saved at" in page
    assert _diff(page, "removed") == ["Text by Ed."]
    assert _diff(page, "added") == ["Text by **Paula**."]
    # Publish would publish Ed's draft, which the preview no longer shows.
    assert f'action="{reverse("training:policy_publish")}"' not in page


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain post"])
def test_a_save_refused_for_a_missing_title_previews_the_text_typed(client, demo, publish, headers):
    publish("## Rules\n\nVersion one.")
    services.save_draft(actor=demo.paula, title="Policy", body="Saved draft.", change_note="")
    client.force_login(demo.paula)
    typed = {"title": "", "body": "## Rules\n\nTyped, not saved.", "change_note": "Typed",
             "draft_hash": PolicyDocument.objects.draft().content_hash}  # fmt: skip
    response = client.post(reverse("training:policy_edit"), typed, **headers)
    assert response.status_code == 422
    page = response.content.decode()
    assert "Nothing was saved: check the fields marked below." in page
    preview = _preview(page)
    assert "Typed, not saved." in preview and "Saved draft." not in preview
    assert "Changes since version 1" in page
    assert _diff(page, "added") == ["Typed, not saved."]
    assert PolicyDocument.objects.draft().body == "Saved draft."


def test_an_empty_text_refused_says_the_preview_is_empty(client, demo):
    services.save_draft(actor=demo.paula, title="Policy", body="Saved draft.", change_note="")
    client.force_login(demo.paula)
    draft_hash = PolicyDocument.objects.draft().content_hash
    typed = {"title": "Policy", "body": "", "draft_hash": draft_hash}
    response = client.post(reverse("training:policy_edit"), typed, **HTMX)
    assert response.status_code == 422
    assert "The text is empty." in _preview(response.content.decode())


def test_publishing_a_second_version_without_a_note_is_refused(client, demo, publish):
    publish()
    client.force_login(demo.paula)
    client.post(reverse("training:policy_edit"), {"title": "T", "body": "v2", "change_note": ""})
    reviewed = PolicyDocument.objects.draft().content_hash
    response = client.post(
        reverse("training:policy_publish"), {"draft_hash": reviewed}, follow=True
    )
    assert "Say what changed since version 1." in response.content.decode()
    assert PolicyDocument.objects.current().version == 1


def test_an_admin_adds_a_question(client, demo):
    client.force_login(demo.paula)
    response = client.post(
        reverse("training:question_new"),
        {
            "category_number": 2,
            "kind": "choice",
            "prompt": "Which is fine?",
            "options_text": "A customer list\nAn internal how-to",
            "answer_number": 2,
            "position": 9,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    question = QuizQuestion.objects.get(prompt="Which is fine?")
    assert (question.options, question.answer) == (["A customer list", "An internal how-to"], 1)
    page = client.get(reverse("training:questions")).content.decode()
    assert "An internal how-to" in page


def test_a_question_form_refuses_an_answer_beyond_the_options(client, demo):
    client.force_login(demo.paula)
    response = client.post(
        reverse("training:question_new"),
        {"category_number": 2, "kind": "choice", "prompt": "?", "options_text": "a\nb",
         "answer_number": 3, "position": 0},
        **HTMX,
    )  # fmt: skip
    assert response.status_code == 422
    assert b"There are only 2 options." in response.content
    assert b"<html" not in response.content


def test_a_question_form_refuses_a_quiz_no_category_has(client, demo):
    """Quiz 9 was saved ("Question saved."), in a group "no active category 9" nobody sees;
    a question already in the quiz of a category switched off since keeps its quiz."""
    client.force_login(demo.paula)
    form = {"category_number": 9, "kind": "choice", "prompt": "Lost?", "options_text": "a\nb",
            "answer_number": 1, "position": 0}  # fmt: skip
    response = client.post(reverse("training:question_new"), form, **HTMX)
    assert response.status_code == 422
    assert b"No active category has this number: a quiz is a category&#x27;s." in response.content
    assert not QuizQuestion.objects.filter(prompt="Lost?").exists()
    question = QuizQuestion.objects.filter(category_number=2).first()
    demo.internal.is_active = False
    demo.internal.save()
    edited = {**form, "category_number": 2, "prompt": "Still here?"}
    response = client.post(reverse("training:question", args=[question.public_id]), edited)
    assert response.status_code == 302
    question.refresh_from_db()
    assert question.prompt == "Still here?"


# --- quizzes --------------------------------------------------------------------------------


def test_taking_a_quiz_shows_the_score_and_explanations(client, demo):
    client.force_login(demo.alice)
    page = client.get(reverse("training:quiz", args=[1])).content.decode()
    assert "A press release the company published last week" in page
    items = QuizQuestion.objects.filter(category_number=1)
    answers = {str(q.public_id): str(q.answer) for q in items}
    response = client.post(reverse("training:quiz", args=[1]), answers, **HTMX)
    body = response.content.decode()
    assert b"<html" not in response.content
    assert "4/4" in body and "Passed" in body
    assert "It is already public" in body
    assert QuizAttempt.objects.get(user=demo.alice).passed
    assert "best so far" not in body  # this one is the best: said once, in the score


def test_a_quiz_answered_again_says_the_best_so_far_beside_the_new_score(client, demo):
    """It was in the page's head, which an answer does not replace: "best 0/4" above a
    fresh "4/4 Passed"."""
    client.force_login(demo.alice)
    url = reverse("training:quiz", args=[1])
    answers = {
        str(q.public_id): str(q.answer) for q in QuizQuestion.objects.filter(category_number=1)
    }
    client.post(url, answers, **HTMX)
    from governance.models import Category
    from training.quiz import quiz_items

    items = quiz_items(1, Category.objects.filter(is_active=True))
    wrong = {i.key: str(next(v for v, _ in i.options if v != i.answer)) for i in items}
    body = client.post(url, wrong, **HTMX).content.decode()
    assert "0/4" in body and "Your best so far: 4/4, passed." in body


def test_the_hub_shows_the_best_attempt_as_it_was_scored(client, demo):
    """2 of 4 stays "best 2/4" after two of the questions are switched off."""
    from governance.models import Category
    from training.quiz import quiz_items

    items = quiz_items(1, Category.objects.filter(is_active=True))
    answers = {item.key: str(item.answer) for item in items[:2]}
    services.take_quiz(user=demo.alice, number=1, items=items, answers=answers)
    QuizQuestion.objects.filter(pk__in=[item.question.pk for item in items[2:]]).update(
        is_active=False
    )
    client.force_login(demo.alice)
    page = client.get(reverse("training:home")).content.decode()
    assert "best 2/4" in page


def test_the_hub_counts_the_questions_a_quiz_asks(client, demo):
    """Quiz 1 asks 3 questions while category 3, one question's answer, is switched off."""
    demo.confidential.is_active = False
    demo.confidential.save()
    client.force_login(demo.alice)
    page = client.get(reverse("training:home")).content.decode()
    quiz_1 = page.split('href="/training/quiz/1/"')[1].split("</li>")[0]
    assert "3 questions" in quiz_1
    assert "3 questions;" in client.get(reverse("training:quiz", args=[1])).content.decode()


# --- the report -----------------------------------------------------------------------------


@pytest.fixture
def progress(demo, publish):
    """Alice acknowledged and passed quiz 1; Bob took quiz 1 and failed; others did nothing."""
    document = publish()
    services.acknowledge(user=demo.alice, document=document)
    for user, passed in ((demo.alice, True), (demo.bob, False)):
        QuizAttempt.objects.create(
            user=user, category_number=1, score=4 if passed else 1, total=4, pass_percent=75,
            passed=passed, taken_at=document.published_at,
        )  # fmt: skip
    return document


def test_the_report_shows_who_has_and_has_not(client, demo, progress):
    client.force_login(demo.paula)
    page = client.get(reverse("training:report")).content.decode()
    assert "Alice Martin" in page and "Bob Chen" in page
    assert page.count("not acknowledged") >= 4  # bob, carol, paula, priya
    assert "Remind 4 people" in page
    pending = client.get(reverse("training:report") + "?show=pending", **HTMX).content.decode()
    assert "Bob Chen" in pending and "Alice Martin" not in pending
    assert "<html" not in pending


def test_the_reports_key_explains_all_three_quiz_marks(client, demo, progress):
    """An untaken quiz's grey mark was the one the key left out; the key is above the table,
    as a phone shows no table head."""
    client.force_login(demo.paula)
    page = client.get(reverse("training:report")).content.decode()
    key = page[page.index('<p class="quiz-key">') :]
    key = key[: key.index("</p>")]
    assert [words.strip() for words in re.findall(r"</span>([^<]+)</span>", key)] == [
        "passed", "not passed yet", "not taken"
    ]  # fmt: skip
    assert page.index('class="quiz-key"') < page.index('id="people"')
    assert 'data-label="Quizzes">' in page


def test_the_report_times_the_grace_period_from_the_first_version_missed(
    client, demo, progress, publish, settings
):
    """As the chat gate does: overdue once the grace period of the first version someone
    has not acknowledged is over, however many came out since; within it, not overdue
    because a quick follow-up came out."""
    settings.STEWARD_ACK_GRACE_DAYS = 7
    second = publish("Version 2", "Two")
    services.acknowledge(user=demo.bob, document=second)
    publish("Version 3", "Three")
    client.force_login(demo.paula)
    people = {p.email: p.state for p in client.get(reverse("training:report")).context["people"]}
    assert people["alice@example.com"] == "grace"  # version 2 came out today
    assert people["bob@example.com"] == "grace"
    assert people["carol@example.com"] == "missing"
    PolicyDocument.objects.filter(pk=second.pk).update(
        published_at=timezone.now() - dt.timedelta(days=30)
    )
    people = {p.email: p.state for p in client.get(reverse("training:report")).context["people"]}
    assert people["alice@example.com"] == "overdue"  # acknowledged version 1 only
    assert people["bob@example.com"] == "grace"


def test_the_report_computes_pass_rates(client, demo, progress):
    client.force_login(demo.aaron)
    response = client.get(reverse("training:report"))
    rate = next(r for r in response.context["rates"] if r["category"].number == 1)
    assert (rate["people"], rate["passed"], rate["percent"]) == (2, 1, 50)
    assert "Remind" not in response.content.decode()  # auditors read only


@pytest.mark.parametrize("extra", [0, 5])
def test_the_report_takes_a_fixed_number_of_queries(
    client, demo, progress, extra, django_assert_num_queries
):
    from governance.roles import Role
    from tests.factories import make_user

    for n in range(extra):
        make_user(f"staff{n}@example.com", Role.STAFF)
    client.force_login(demo.paula)
    client.get(reverse("training:report"))
    # session, user, permissions, current document, the counts, categories, pass rates,
    # the page's people, their quiz attempts, published versions (the session was saved by
    # the first request: its idle window moves once a minute)
    with django_assert_num_queries(10):
        client.get(reverse("training:report"))


def test_the_csv_export_is_complete_and_audited(client, demo, progress):
    client.force_login(demo.aaron)
    response = client.get(asked(client, reverse("training:report_csv")))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_email = {row["email"]: row for row in rows}
    assert by_email["alice@example.com"]["status"] == "acknowledged"
    assert by_email["alice@example.com"]["quiz 1"] == "passed"
    assert by_email["bob@example.com"]["status"] == "not acknowledged"
    assert by_email["bob@example.com"]["quiz 1"] == "failed"
    assert by_email["carol@example.com"]["quiz 1"] == "not taken"
    assert "aaron@example.com" not in by_email  # auditors are not staff
    event = AuditEvent.objects.get(action=AuditEvent.Action.TRAINING_REPORT_EXPORTED)
    assert event.actor == demo.aaron and event.details == {"rows": len(rows)}


def test_a_reminder_emails_those_who_have_not_and_is_audited(client, demo, progress):
    client.force_login(demo.paula)
    response = client.post(reverse("training:remind"), follow=True)
    assert "Reminder sent to 4 of 4." in response.content.decode()
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert "alice@example.com" not in recipients
    assert "bob@example.com" in recipients and len(recipients) == 4
    assert "http://testserver/training/acknowledge/" in mail.outbox[0].body
    event = AuditEvent.objects.get(action=AuditEvent.Action.TRAINING_REMINDED)
    assert str(demo.bob.public_id) in event.details["recipients"]
    assert "bob@example.com" not in str(event.details)


def test_auditors_cannot_send_reminders(client, demo, progress):
    client.force_login(demo.aaron)
    assert client.post(reverse("training:remind")).status_code == 403
    assert not mail.outbox


def test_signing_in_leads_a_staff_member_who_must_acknowledge_to_the_summary(client, demo, publish):
    from governance.demo import DEMO_PASSWORD

    credentials = {"login": "alice@example.com", "password": DEMO_PASSWORD}
    assert client.post("/accounts/login/", credentials)["Location"] == "/"
    client.logout()
    publish()
    assert client.post("/accounts/login/", credentials)["Location"] == "/training/acknowledge/"
    client.logout()
    auditor = {"login": "aaron@example.com", "password": DEMO_PASSWORD}
    assert client.post("/accounts/login/", auditor)["Location"] == "/"  # not staff: never gated


@pytest.mark.parametrize(
    "name",
    ["training:home", "training:overview", "training:policy", "training:questions",
     "training:report", "training:report_csv"],
)  # fmt: skip
def test_read_only_pages_refuse_other_methods(client, demo, name):
    client.force_login(demo.paula)
    assert client.post(reverse(name)).status_code == 405


def test_policy_admins_find_where_to_edit_a_cards_examples(client, demo):
    client.force_login(demo.paula)
    page = client.get(reverse("training:card", args=[1])).content.decode()
    assert 'href="/policy/categories/public/">Edit the examples</a>' in page
    client.force_login(demo.alice)
    page = client.get(reverse("training:card", args=[1])).content.decode()
    assert "Edit the examples" not in page
