"""An installation migrated before the quiz's explanations were reworded gets the new words:
0002 copied the defaults as they stood, so a quiz set up on 1 December still says that
Steward blocks credentials, and calls health data "special-category". A question whose text
a policy admin changed keeps it, and migrating back leaves the words as they are."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from training.defaults import DEFAULT_QUESTIONS

BEFORE = [("training", "0002_default_questions")]
AFTER = [("training", "0003_default_questions_reworded")]

#: The words 0002 copied before each rewording (``git log -p -- training/defaults.py``), and
#: those defaults.py has now.
HEALTH = "Health data is sensitive personal data: it must never be sent to any model."
PASSWORDS = "Passwords, private keys and API tokens must never be sent anywhere."
CREDENTIALS = (
    "Credentials are Prohibited: never paste them. Steward replaces the keys it recognises, "
    "but cannot recognise every one."
)
OLD = {
    # 1 December (c73c389), until 3 December
    "Health data is special-category personal data: it is never sent to any model.": HEALTH,
    "Passwords, private keys and API tokens are never sent anywhere.": PASSWORDS,
    "Credentials are Prohibited: Steward blocks the message and records the attempt.": (
        CREDENTIALS
    ),
    # 3 December (2ae4687), until 6 December
    "Health data is special-category personal data: it must never be sent to any model.": HEALTH,
}


def _migrate(targets):
    """The database migrated to ``targets``; the models as they stand there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps.get_model("training", "QuizQuestion")


def _installed(QuizQuestion, explanations: list[str]) -> list:
    """The default questions as 0002 copied them once, with ``explanations`` in turn where
    the defaults now hold their replacements."""
    QuizQuestion.objects.all().delete()
    old = iter(explanations)
    made = []
    for position, (number, kind, prompt, options, answer, explanation) in enumerate(
        DEFAULT_QUESTIONS
    ):
        if explanation in OLD.values():
            explanation = next(old)
        made.append(
            QuizQuestion.objects.create(
                category_number=number, kind=kind, prompt=prompt, options=options,
                answer=answer, explanation=explanation, position=position,
            )
        )  # fmt: skip
    return made


def _explanations(QuizQuestion) -> list[str]:
    return list(QuizQuestion.objects.order_by("position").values_list("explanation", flat=True))


@pytest.fixture
def at_0002(db):
    """The quiz's table as an installation migrated up to 0002 has it (0003 undone: the
    test's rollback applies it again, with the rows it changed)."""
    return _migrate(BEFORE)


@pytest.mark.parametrize(
    "explanations",
    [
        list(OLD)[:3],  # set up on 1 December: health, passwords, credentials
        [list(OLD)[3], PASSWORDS, CREDENTIALS],  # on 3 December: only health's words left
    ],
    ids=["1-december", "3-december"],
)
def test_an_earlier_installations_quiz_gets_the_new_words(at_0002, explanations):
    _installed(at_0002, explanations)
    before = _explanations(at_0002)
    QuizQuestion = _migrate(AFTER)
    assert _explanations(QuizQuestion) == [OLD.get(words, words) for words in before]
    assert _explanations(QuizQuestion) == [question[5] for question in DEFAULT_QUESTIONS]
    assert not QuizQuestion.objects.filter(explanation__contains="special-category").exists()
    assert not QuizQuestion.objects.filter(explanation__contains="Steward blocks").exists()


def test_a_policy_admins_words_are_kept(at_0002):
    made = _installed(at_0002, list(OLD)[:3])
    health, passwords, credentials = (q for q in made if q.explanation in OLD)
    edited = "Credentials are Prohibited: Steward blocks the message. Ask IT for a vault."
    at_0002.objects.filter(pk=credentials.pk).update(explanation=edited)
    written = at_0002.objects.create(
        category_number=2, kind="which_category", prompt="A payslip — which category?",
        answer=3, explanation="Pay is personal data: Confidential.", position=99,
    )  # fmt: skip
    QuizQuestion = _migrate(AFTER)
    assert QuizQuestion.objects.get(pk=credentials.pk).explanation == edited
    assert QuizQuestion.objects.get(pk=written.pk).explanation == (
        "Pay is personal data: Confidential."
    )
    assert QuizQuestion.objects.get(pk=health.pk).explanation == HEALTH  # the others: new words
    assert QuizQuestion.objects.get(pk=passwords.pk).explanation == PASSWORDS


def test_migrating_back_leaves_the_words_as_they_are(at_0002):
    _installed(at_0002, list(OLD)[:3])
    reworded = _explanations(_migrate(AFTER))
    QuizQuestion = _migrate(BEFORE)
    assert _explanations(QuizQuestion) == reworded
    assert HEALTH in reworded
