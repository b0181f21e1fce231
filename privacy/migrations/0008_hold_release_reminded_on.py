from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("privacy", "0007_request_extended_at")]

    operations = [
        migrations.AddField(
            model_name="legalhold",
            name="release_reminded_on",
            field=models.DateField(blank=True, null=True),
        ),
    ]
