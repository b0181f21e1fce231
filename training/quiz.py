"""A category's quiz as it is shown today, and its scoring.

"Which category?" questions offer the live categories, so renaming or adding
one changes the options without touching the questions.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings

from governance.models import Category
from training.models import QuizQuestion


@dataclass(frozen=True)
class QuizItem:
    """One question ready to show: its options as (value, label) and the right value."""

    question: QuizQuestion
    options: tuple[tuple[int, str], ...]
    answer: int

    @property
    def key(self) -> str:
        return str(self.question.public_id)

    def label_of(self, value: int | None) -> str:
        return dict(self.options).get(value, "no answer") if value is not None else "no answer"


def quiz_items(number: int, categories: Iterable[Category]) -> list[QuizItem]:
    """Category ``number``'s active questions; those that no longer make sense are left out
    (a "which category?" answer that is not an active category, an option index too high)."""
    names = _option_names(categories)
    questions = QuizQuestion.objects.filter(category_number=number, is_active=True)
    return [item for question in questions if (item := _item(question, names))]


def quiz_sizes(categories: Iterable[Category]) -> dict[int, int]:
    """How many questions each quiz asks (as :func:`quiz_items` gives them), in one query."""
    names = _option_names(categories)
    sizes: dict[int, int] = {}
    for question in QuizQuestion.objects.filter(is_active=True):
        if _item(question, names):
            sizes[question.category_number] = sizes.get(question.category_number, 0) + 1
    return sizes


def _option_names(categories: Iterable[Category]) -> dict[int, str]:
    return {c.number: f"{c.number} · {c.name}" for c in categories}


def _item(question: QuizQuestion, names: dict[int, str]) -> QuizItem | None:
    if question.kind == QuizQuestion.Kind.WHICH_CATEGORY:
        if question.answer not in names:
            return None
        options = tuple(names.items())
    else:
        if not 0 <= question.answer < len(question.options):
            return None
        options = tuple(enumerate(question.options))
    return QuizItem(question=question, options=options, answer=question.answer)


def score(items: list[QuizItem], answers: Mapping[str, str]) -> tuple[int, dict[str, int | None]]:
    """How many of ``items`` ``answers`` (question key -> submitted value) got right,
    and the answers as stored (unanswered or unreadable ones as None)."""
    given: dict[str, int | None] = {}
    for item in items:
        raw = str(answers.get(item.key, "")).strip()
        # Matched as text, never parsed: int() refuses "²" and thousands of digits.
        given[item.key] = {str(value): value for value, _ in item.options}.get(raw)
    right = sum(1 for item in items if given[item.key] == item.answer)
    return right, given


def pass_mark(total: int) -> int:
    """The fewest right answers that pass a quiz of ``total`` questions."""
    return -(-settings.STEWARD_QUIZ_PASS_PERCENT * total // 100)
