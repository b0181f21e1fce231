"""The default quiz says what sensitive data is in the words staff pages use ("sensitive
personal data"), not the law's ("special-category")."""

import importlib

from django.apps import apps
from django.urls import reverse

from training.models import QuizQuestion


def test_a_fresh_installs_quiz_calls_health_data_sensitive_in_plain_words(client, demo):
    QuizQuestion.objects.all().delete()
    importlib.import_module("training.migrations.0002_default_questions").add_default_questions(
        apps, None
    )
    client.force_login(demo.alice)
    answers = {
        str(q.public_id): str(q.answer) for q in QuizQuestion.objects.filter(category_number=2)
    }
    body = client.post(reverse("training:quiz", args=[2]), answers).content.decode()
    assert "Health data is sensitive personal data: it must never be sent to any model." in body
    assert "special-category" not in body
    assert not QuizQuestion.objects.filter(explanation__icontains="special-category").exists()
