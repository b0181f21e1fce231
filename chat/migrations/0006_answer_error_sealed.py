"""A failed answer's explanation sealed with its conversation's key, like its text: a
backend's error may quote what it was sent, and deleting the key must leave nothing
readable."""

from django.db import migrations, models

from chat.sealing import DataKey


def _context(public_id) -> str:
    return f"message-error:{public_id}"  # chat.models.sealing_context(public_id, "error")


def _keys():
    cache = {}

    def key_of(conversation):
        if conversation.pk not in cache:
            cache[conversation.pk] = DataKey.unwrap(
                bytes(conversation.data_key_wrapped), conversation.public_id
            )
        return cache[conversation.pk]

    return key_of


def seal_errors(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    key_of = _keys()
    failed = Message.objects.exclude(error="").select_related("conversation")
    for message in failed.iterator(chunk_size=500):
        sealed = key_of(message.conversation).seal_text(
            message.error[:500], _context(message.public_id)
        )
        Message.objects.filter(pk=message.pk).update(error_sealed=sealed)


def open_errors(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    key_of = _keys()
    failed = Message.objects.exclude(error_sealed=b"").select_related("conversation")
    for message in failed.iterator(chunk_size=500):
        text = key_of(message.conversation).open_text(
            message.error_sealed, _context(message.public_id)
        )
        Message.objects.filter(pk=message.pk).update(error=text[:500])


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0005_subject_mention_in_titles"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="error_sealed",
            field=models.BinaryField(default=b"", editable=False),
        ),
        migrations.RunPython(seal_errors, open_errors),
        migrations.RemoveField(model_name="message", name="error"),
    ]
