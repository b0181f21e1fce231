"""In a category that keeps no content, a failed answer's explanation no longer quotes the
backend (its words may quote what it was sent): those stored before are replaced by
Steward's sentence (chat.answering.QUOTING_KINDS, as it read when this was written)."""

from django.db import migrations
from django.db.models import Q

from chat.sealing import DataKey, UnreadableError

SENTENCES = {
    "http": "{name} answered with an error (its words are not kept: this category keeps no "
    "content). Retry, or ask an administrator to check the backend.",
    "auth": "{name} refused Steward's key: ask an administrator to check the backend.",
}


def forget_backend_words(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    keeps_nothing = Q(conversation__category__retention_days__isnull=True) | Q(
        conversation__category__blocks_all=True
    )
    quoting = (
        Message.objects.filter(keeps_nothing, status="failed", error_kind__in=SENTENCES)
        .exclude(error_sealed=b"")
        .select_related("conversation")
    )
    keys = {}
    for message in quoting.iterator(chunk_size=500):
        conversation = message.conversation
        if conversation.pk not in keys:
            try:
                keys[conversation.pk] = DataKey.unwrap(
                    bytes(conversation.data_key_wrapped), conversation.public_id
                )
            except UnreadableError:  # shredded, or a lost master key: nothing reads it anyway
                keys[conversation.pk] = None
        if keys[conversation.pk] is None:
            continue
        sentence = SENTENCES[message.error_kind].format(name=message.backend_name or "The backend")
        sealed = keys[conversation.pk].seal_text(sentence, f"message-error:{message.public_id}")
        Message.objects.filter(pk=message.pk).update(error_sealed=sealed)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0007_message_parts"),
    ]

    operations = [
        migrations.RunPython(forget_backend_words, migrations.RunPython.noop),
    ]
