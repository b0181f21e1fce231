import django.utils.timezone
from django.db import migrations, models


def stamp_the_key_of_today(apps, schema_editor):
    """The index written so far was written with the key set now: the one to keep."""
    from chat.index_key import fingerprint

    apps.get_model("chat", "SubjectIndexKey").objects.create(fingerprint=fingerprint())


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0008_no_content_errors_forget_backend_words"),
    ]

    operations = [
        migrations.CreateModel(
            name="SubjectIndexKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("fingerprint", models.CharField(max_length=64)),
                ("stamped_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.RunPython(stamp_the_key_of_today, migrations.RunPython.noop),
    ]
