from django.db import migrations, models


def extended_when_the_trail_says(apps, schema_editor):
    """An extended request's moment, from its ``dsr.extended`` event (the trail is the
    record); one without such an event keeps none."""
    SubjectRequest = apps.get_model("privacy", "SubjectRequest")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    for request in SubjectRequest.objects.filter(extended=True, extended_at__isnull=True):
        event = (
            AuditEvent.objects.filter(
                action="dsr.extended",
                target_type="privacy.subjectrequest",
                target_id=str(request.public_id),
            )
            .order_by("sequence")
            .first()
        )
        if event is not None:
            SubjectRequest.objects.filter(pk=request.pk).update(extended_at=event.occurred_at)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_filter_indexes"),
        ("privacy", "0006_hold_release_four_eyes"),
    ]

    operations = [
        migrations.AddField(
            model_name="subjectrequest",
            name="extended_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(extended_when_the_trail_says, migrations.RunPython.noop),
    ]
