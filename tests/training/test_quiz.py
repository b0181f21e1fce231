"""Quiz questions as shown (options from the live categories), scoring, the pass mark, defaults."""

import importlib

import pytest
from django.apps import apps as django_apps

from audit.models import AuditEvent
from training import services
from training.defaults import DEFAULT_QUESTIONS
from training.models import QuizAttempt, QuizQuestion
from training.quiz import pass_mark, quiz_items


@pytest.fixture
def questions(demo):
    QuizQuestion.objects.all().delete()
    which = QuizQuestion.objects.create(
        category_number=3, prompt="A customer's email thread?", answer=3, position=1
    )
    choice = QuizQuestion.objects.create(
        category_number=3,
        kind=QuizQuestion.Kind.CHOICE,
        prompt="Where may it go?",
        options=["Anywhere", "Our own infrastructure"],
        answer=1,
        position=2,
    )
    return which, choice


def _categories():
    from governance.models import Category

    return Category.objects.filter(is_active=True)


def test_which_category_questions_offer_the_live_categories(demo, questions):
    demo.public.name = "Open"
    demo.public.save()
    which, _ = quiz_items(3, _categories())
    assert which.options == (
        (1, "1 · Open"),
        (2, "2 · Internal"),
        (3, "3 · Confidential / personal data"),
        (4, "4 · Prohibited"),
    )


def test_questions_that_no_longer_make_sense_are_left_out(demo, questions):
    which, choice = questions
    QuizQuestion.objects.filter(pk=choice.pk).update(answer=5)
    demo.confidential.is_active = False
    demo.confidential.save()
    assert quiz_items(3, _categories()) == []


@pytest.mark.parametrize(
    ("answers", "right", "passed"),
    [({"which": "3", "choice": "1"}, 2, True), ({"which": "2", "choice": "1"}, 1, False)],
)
def test_it_scores_stores_and_audits_an_attempt(demo, questions, answers, right, passed, settings):
    settings.STEWARD_QUIZ_PASS_PERCENT = 75
    which, choice = questions
    items = quiz_items(3, _categories())
    posted = {str(which.public_id): answers["which"], str(choice.public_id): answers["choice"]}
    attempt = services.take_quiz(user=demo.carol, number=3, items=items, answers=posted)
    attempt.refresh_from_db()
    assert (attempt.score, attempt.total, attempt.passed) == (right, 2, passed)
    assert attempt.answers == {
        str(which.public_id): int(answers["which"]),
        str(choice.public_id): int(answers["choice"]),
    }
    event = AuditEvent.objects.get(action=AuditEvent.Action.TRAINING_QUIZ_TAKEN)
    assert event.actor == demo.carol
    assert event.details == {"category_number": 3, "score": right, "total": 2, "passed": passed}
    assert event.outcome == ("success" if passed else "failure")


def test_unanswered_and_forged_answers_count_as_wrong(demo, questions):
    which, choice = questions
    items = quiz_items(3, _categories())
    posted = {str(which.public_id): "99", str(choice.public_id): "x"}
    with pytest.raises(services.TrainingError, match="Choose an answer"):  # nothing answered
        services.take_quiz(user=demo.carol, number=3, items=items, answers=posted)
    (chosen,) = [item for item in items if item.key == str(choice.public_id)]
    wrong = next(value for value, _ in chosen.options if value != chosen.answer)
    posted[str(choice.public_id)] = str(wrong)
    del posted[str(which.public_id)]
    attempt = services.take_quiz(user=demo.carol, number=3, items=items, answers=posted)
    assert attempt.score == 0
    assert attempt.answers == {str(which.public_id): None, str(choice.public_id): wrong}


def test_an_answer_too_long_to_be_any_option_counts_as_not_given(demo, questions):
    which, choice = questions
    items = quiz_items(3, _categories())
    posted = {str(which.public_id): "3" * 5000, str(choice.public_id): "1"}
    attempt = services.take_quiz(user=demo.carol, number=3, items=items, answers=posted)
    assert attempt.score == 1
    assert attempt.answers[str(which.public_id)] is None


def test_a_quiz_without_questions_cannot_be_taken(demo):
    with pytest.raises(services.TrainingError):
        services.take_quiz(user=demo.carol, number=2, items=[], answers={})
    assert not QuizAttempt.objects.exists()


@pytest.mark.parametrize(
    ("percent", "total", "mark"), [(75, 4, 3), (75, 3, 3), (50, 3, 2), (100, 4, 4), (1, 4, 1)]
)
def test_the_pass_mark_rounds_up(settings, percent, total, mark):
    settings.STEWARD_QUIZ_PASS_PERCENT = percent
    assert pass_mark(total) == mark


def test_a_fresh_install_has_the_default_questions(db):
    migration = importlib.import_module("training.migrations.0002_default_questions")
    QuizQuestion.objects.all().delete()
    migration.add_default_questions(django_apps, None)
    assert QuizQuestion.objects.count() == len(DEFAULT_QUESTIONS)
    assert set(QuizQuestion.objects.values_list("category_number", flat=True)) == {1, 2, 3, 4}
    migration.add_default_questions(django_apps, None)  # never twice
    assert QuizQuestion.objects.count() == len(DEFAULT_QUESTIONS)


def test_every_default_question_is_answerable_under_the_default_categories(demo):
    QuizQuestion.objects.all().delete()
    migration = importlib.import_module("training.migrations.0002_default_questions")
    migration.add_default_questions(django_apps, None)
    for number in (1, 2, 3, 4):
        items = quiz_items(number, _categories())
        assert len(items) == 4
        answers = {item.key: str(item.answer) for item in items}
        attempt = services.take_quiz(user=demo.alice, number=number, items=items, answers=answers)
        assert attempt.passed and attempt.score == 4


def test_question_changes_are_audited_with_before_and_after(demo, questions):
    which, _ = questions
    services.save_question(actor=demo.paula, question=which, values={"prompt": "Changed?"})
    services.delete_question(actor=demo.paula, question=which)
    events = AuditEvent.objects.filter(action=AuditEvent.Action.TRAINING_QUESTION_CHANGED)
    changed, deleted = events.order_by("sequence")
    assert changed.before["prompt"] == "A customer's email thread?"
    assert changed.after["prompt"] == "Changed?"
    assert deleted.after is None and deleted.details == {"deleted": True}
