"""The default quiz's explanations in their new words, for installations that copied the
earlier ones (0002 copies the defaults as they stood when it ran).

Only a question whose explanation still holds an earlier default's exact words is changed:
a policy admin's edit is kept. The words are written out here, not read from
``training.defaults``, so that this migration does the same whatever the defaults say later.
Migrating back changes nothing: the earlier words told staff that Steward blocks every
credential, which it cannot.
"""

from django.db import migrations
from django.utils import timezone

HEALTH = "Health data is sensitive personal data: it must never be sent to any model."

#: An earlier default explanation -> the words that replaced it.
REWORDED = {
    # Until 3 December 2026.
    "Health data is special-category personal data: it is never sent to any model.": HEALTH,
    "Passwords, private keys and API tokens are never sent anywhere.": (
        "Passwords, private keys and API tokens must never be sent anywhere."
    ),
    "Credentials are Prohibited: Steward blocks the message and records the attempt.": (
        "Credentials are Prohibited: never paste them. Steward replaces the keys it "
        "recognises, but cannot recognise every one."
    ),
    # Until 6 December 2026: staff pages say "sensitive personal data", not the law's words.
    "Health data is special-category personal data: it must never be sent to any model.": HEALTH,
}


def reword_default_explanations(apps, schema_editor):
    QuizQuestion = apps.get_model("training", "QuizQuestion")
    now = timezone.now()
    for earlier, words in REWORDED.items():
        QuizQuestion.objects.filter(explanation=earlier).update(explanation=words, updated_at=now)


class Migration(migrations.Migration):
    dependencies = [("training", "0002_default_questions")]

    operations = [
        migrations.RunPython(reword_default_explanations, migrations.RunPython.noop),
    ]
