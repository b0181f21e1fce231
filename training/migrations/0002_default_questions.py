"""The default quiz questions, so a fresh install has a quiz before anyone writes one."""

from django.db import migrations


def add_default_questions(apps, schema_editor):
    from training.defaults import DEFAULT_QUESTIONS

    QuizQuestion = apps.get_model("training", "QuizQuestion")
    if QuizQuestion.objects.exists():
        return
    QuizQuestion.objects.bulk_create(
        QuizQuestion(
            category_number=number,
            kind=kind,
            prompt=prompt,
            options=options,
            answer=answer,
            explanation=explanation,
            position=position,
        )
        for position, (number, kind, prompt, options, answer, explanation) in enumerate(
            DEFAULT_QUESTIONS
        )
    )


class Migration(migrations.Migration):
    dependencies = [("training", "0001_initial")]

    operations = [migrations.RunPython(add_default_questions, migrations.RunPython.noop)]
