"""The training forms say what is missing in words, as the console's do: they said Django's
"This field is required." under each empty box."""

from django.urls import reverse

from training.models import PolicyDocument, QuizQuestion


def test_an_empty_policy_draft_says_what_it_lacks_and_saves_nothing(client, demo):
    client.force_login(demo.paula)
    page = client.post(reverse("training:policy_edit"), {"title": "", "body": ""}).text
    assert "Give the policy a title." in page and "Write the policy&#x27;s text." in page
    assert "This field is required." not in page
    assert not PolicyDocument.objects.exists()


def test_an_empty_quiz_question_says_what_it_lacks_and_saves_nothing(client, demo):
    client.force_login(demo.paula)
    before = QuizQuestion.objects.count()
    page = client.post(reverse("training:question_new"), {"category_number": ""}).text
    assert "Give the number of the category whose quiz it is in." in page
    assert "Write the question." in page
    assert "This field is required." not in page
    assert QuizQuestion.objects.count() == before
