"""The access request's archive: a zip of ``data.json`` and a readable ``summary.html``.

Stored sealed with the master key on the request row until downloaded; it
holds the subject's own conversations (placeholders restored, as their owner
sees them) and every message elsewhere that mentions them.
"""

import io
import json
import zipfile
from collections.abc import Callable

from django.template.loader import render_to_string
from django.utils import timezone

from chat.models import Conversation, Message, SubjectMention
from chat.pseudonyms import Pseudonymiser
from governance import crypto
from privacy.models import SubjectRequest


def build(request: SubjectRequest, *, progress: Callable[[int], None]) -> tuple[bytes, dict]:
    """The sealed zip and the counts for the receipt."""
    done = 0
    own = []
    if request.subject_user_id:
        for conversation in Conversation.objects.filter(
            owner_id=request.subject_user_id
        ).select_related("category"):
            own.append(_conversation(conversation))
            done += 1
            progress(done)
    mentions = []
    rows = (
        SubjectMention.objects.filter(digest__in=request.digests)
        .exclude(conversation__owner_id=request.subject_user_id)
        .select_related("message__conversation__category")
        .order_by("message__created_at")
    )
    seen = set()
    for row in rows:
        if row.message_id in seen:
            continue
        seen.add(row.message_id)
        message = row.message
        mentions.append(
            {
                "date": message.created_at.isoformat(),
                "category": message.conversation.category.name,
                "identifier_kind": row.kind,
                "text": message.content,
            }
        )
        done += 1
        progress(done)
    user = request.subject_user
    data = {
        "reference": request.reference,
        "regime": request.get_regime_display(),
        "generated_at": timezone.now().isoformat(),
        "account": _account(user) if user else None,
        "conversations": own,
        "mentions": mentions,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, indent=2, ensure_ascii=False))
        archive.writestr(
            "summary.html", render_to_string("privacy/archive_summary.html", {"data": data})
        )
    counts = {
        "conversations": len(own),
        "messages": sum(len(c["messages"]) for c in own),
        "mentions": len(mentions),
    }
    return seal(request, buffer.getvalue()), counts


def seal(request: SubjectRequest, blob: bytes) -> bytes:
    return crypto.seal(blob, context=_context(request))


def open_archive(request: SubjectRequest) -> bytes:
    return crypto.open_sealed(bytes(request.archive_sealed), context=_context(request))


def _context(request: SubjectRequest) -> bytes:
    return f"subject-archive:{request.public_id}".encode()


def _account(user) -> dict:
    from governance.roles import roles_of

    return {
        "email": user.email,
        "name": user.full_name,
        "joined": user.date_joined.isoformat(),
        "last_login": user.last_login.isoformat() if user.last_login else None,
        "roles": [role.label for role in roles_of(user)],
    }


def _conversation(conversation: Conversation) -> dict:
    restorer = Pseudonymiser(conversation.pseudonyms())
    messages = []
    for message in conversation.messages.all():
        message.conversation = conversation
        text = (
            ""
            if message.role == Message.Role.USER and message.status == Message.Status.BLOCKED
            else message.content
        )
        messages.append(
            {
                "role": message.get_role_display(),
                "at": message.created_at.isoformat(),
                "text": restorer.restore(text) if message.role == Message.Role.ASSISTANT else text,
            }
        )
    return {
        "title": conversation.title,
        "category": conversation.category.name,
        "started": conversation.created_at.isoformat(),
        "messages": messages,
    }
