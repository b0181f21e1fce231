"""A title its owner typed is in the subject index: requests reach a conversation that names
its subject only there."""

import io
import json
import zipfile

from audit.services import pseudonym
from chat import services as chat
from chat.models import Conversation, SubjectMention
from chat.pseudonyms import canonical
from privacy import archive
from privacy.models import SubjectRequest
from tests.privacy.conftest import SUBJECT_EMAIL, receive, run

EMAIL = SUBJECT_EMAIL
OTHER = "sam.doe@example.org"


def _digest(value: str) -> str:
    return pseudonym(canonical("EMAIL_ADDRESS", value))


def _titled(org, capture, title: str) -> Conversation:
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    with capture(execute=True):
        chat.send_message(conversation=conversation, author=org.carol, text="Summarise it.")
    chat.rename_conversation(
        conversation=Conversation.objects.get(pk=conversation.pk), actor=org.carol, title=title
    )
    return conversation


def _title_rows(conversation: Conversation) -> set[str]:
    rows = SubjectMention.objects.filter(conversation=conversation, message__isnull=True)
    return set(rows.values_list("digest", flat=True))


def test_a_typed_title_is_indexed_and_a_new_title_replaces_its_rows(
    org, django_capture_on_commit_callbacks
):
    conversation = _titled(org, django_capture_on_commit_callbacks, f"Complaint from {EMAIL}")
    assert _title_rows(conversation) == {_digest(EMAIL)}
    chat.rename_conversation(conversation=conversation, actor=org.carol, title=f"Call {OTHER}")
    assert _title_rows(conversation) == {_digest(OTHER)}
    chat.rename_conversation(conversation=conversation, actor=org.carol, title="Complaint")
    assert _title_rows(conversation) == set()


def test_erasure_reaches_a_conversation_named_for_its_subject_only_in_the_title(
    org, officers, django_capture_on_commit_callbacks
):
    conversation = _titled(org, django_capture_on_commit_callbacks, f"Complaint from {EMAIL}")
    request = run(receive(officers), officers, django_capture_on_commit_callbacks)
    assert request.status == SubjectRequest.Status.COMPLETED
    assert request.scope["mentions"]["conversations"] == 1
    title = Conversation.objects.get(pk=conversation.pk).title
    assert EMAIL not in title and title.startswith("Complaint from")
    assert _title_rows(conversation) == set()


def test_an_access_archive_names_a_title_that_mentions_its_subject(
    org, officers, django_capture_on_commit_callbacks
):
    _titled(org, django_capture_on_commit_callbacks, f"Complaint from {EMAIL}")
    access = receive(officers, kind=SubjectRequest.Kind.ACCESS)
    request = run(access, officers, django_capture_on_commit_callbacks)
    assert request.status == SubjectRequest.Status.COMPLETED
    with zipfile.ZipFile(io.BytesIO(archive.open_archive(request))) as bundle:
        data = json.loads(bundle.read("data.json"))
        summary = bundle.read("summary.html").decode()
    assert data["mentions"] == [
        {
            "date": data["mentions"][0]["date"],
            "category": org.confidential.name,
            "identifier_kind": "EMAIL_ADDRESS",
            "title": f"Complaint from {EMAIL}",
        }
    ]
    assert f"A conversation titled: Complaint from {EMAIL}" in summary
