"""Archives dropped at expiry kept the keyed hashes of who they held: nothing needs them."""

from django.db import migrations


def forget_who_dropped_archives_held(apps, schema_editor):
    SubjectRequest = apps.get_model("privacy", "SubjectRequest")
    dropped = SubjectRequest.objects.filter(archive_sealed=b"").exclude(archive_digests=[])
    dropped.update(archive_digests=[])


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0010_rejection_ground"),
    ]

    operations = [
        migrations.RunPython(forget_who_dropped_archives_held, migrations.RunPython.noop),
    ]
