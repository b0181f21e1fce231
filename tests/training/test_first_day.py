"""A new employee's first quiz: what the page offers next once it is passed, or not."""

import re

from django.urls import reverse

from training.quiz import quiz_items


def _answered(client, demo, *, right: bool) -> str:
    from governance.models import Category

    items = quiz_items(2, Category.objects.filter(is_active=True))
    answers = {}
    for item in items:
        values = [value for value, _label in item.options]
        answers[item.key] = item.answer if right else next(v for v in values if v != item.answer)
    client.force_login(demo.alice)
    return client.post(reverse("training:quiz", args=[2]), answers).content.decode()


def _primary(page: str) -> str:
    return re.search(r'<a class="button button-primary" href="([^"]+)">([^<]+)</a>', page).groups()


def test_a_failed_quiz_offers_to_try_again_first(client, demo):
    page = _answered(client, demo, right=False)
    assert "Not passed yet" in page
    assert _primary(page) == ("/training/quiz/2/", "Try again")


def test_a_passed_quiz_leads_on_rather_than_offering_to_try_again(client, demo):
    """Passed, it offered "Try again" as the next step, as if Dana had failed."""
    page = _answered(client, demo, right=True)
    assert "Passed. Well done." in page
    assert _primary(page) == (reverse("training:home"), "Back to training")
    assert "Try again" not in page
    assert "Take it again" in page
