from django.db import migrations, models
from django.db.models import Count, Max
from django.utils import timezone

IN_FLIGHT = ["pending", "queued", "streaming"]


def fail_all_but_the_newest(apps, schema_editor):
    """Before the constraint: where a conversation has more than one answer on its way (a
    retry could cause it before it was checked under the conversation's lock), the newest
    goes on and the others fail where their author sees them, with a Retry."""
    Message = apps.get_model("chat", "Message")
    crowded = (
        Message.objects.filter(status__in=IN_FLIGHT)
        .order_by()
        .values("conversation_id")
        .annotate(answers=Count("id"), newest=Max("id"))
        .filter(answers__gt=1)
    )
    for row in crowded:
        Message.objects.filter(
            conversation_id=row["conversation_id"], status__in=IN_FLIGHT
        ).exclude(id=row["newest"]).update(
            status="failed",
            error="A newer answer in this conversation took its place; retry if you need it.",
            error_kind="lost",
            finished_at=timezone.now(),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0002_answer_sampling"),
        ("governance", "0005_backend_kinds"),
    ]

    operations = [
        migrations.RunPython(fail_all_but_the_newest, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["pending", "queued", "streaming"])),
                fields=("conversation",),
                name="chat_one_answer_in_flight",
            ),
        ),
    ]
