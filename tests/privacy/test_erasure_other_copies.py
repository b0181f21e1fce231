"""An erasure reaches the access copies built for other people that hold the erased person's
data: Alice's copy quoted Carol's message about Jane, and Jane's erasure left it downloadable."""

import io
import zipfile

from audit.models import AuditEvent
from chat import services as chat
from privacy import archive, services
from privacy.models import SubjectRequest
from tests.asked_here import asked
from tests.privacy.conftest import make_conversation, mention, receive, run

JANE = "jane.roe@client.example"


def _own_access(user, officers, capture) -> SubjectRequest:
    request = services.request_own_data(user=user, kind=SubjectRequest.Kind.ACCESS)
    request = services.scope_request(request=request, actor=officers[1])
    with capture(execute=True):
        services.approve_request(request=request, actor=officers[0])
    return SubjectRequest.objects.get(pk=request.pk)


def _archive_url(request: SubjectRequest) -> str:
    return f"/privacy/requests/{request.public_id}/archive.zip"


def test_an_erasure_withdraws_someone_elses_copy_that_holds_the_erased_persons_data(
    client, org, officers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    with capture(execute=True):
        chat.send_message(
            conversation=conversation,
            author=org.carol,
            text=f"{org.alice.email} says {JANE} (Jane Roe) was charged twice.",
        )
    alice = _own_access(org.alice, officers, capture)
    archive.release(request=alice, actor=officers[1])
    client.force_login(org.alice)
    copy = client.get(asked(client, _archive_url(alice)))
    with zipfile.ZipFile(io.BytesIO(copy.content)) as bundle:
        assert "charged twice" in bundle.read("data.json").decode()  # Jane's data, in her copy

    jane = run(receive(officers, identifiers=[("email", JANE)]), officers, capture)
    assert jane.status == SubjectRequest.Status.COMPLETED
    assert jane.receipt["counts"]["archives"] == 0  # none was built for Jane
    alice.refresh_from_db()
    assert bytes(alice.archive_sealed) == b"" and alice.archive_dropped_at
    refused = client.get(asked(client, _archive_url(alice)), follow=True)
    assert refused.get("Content-Type") != "application/zip"
    assert b"The archive was withdrawn on" in refused.content  # not "expired": it had days left
    assert b"The archive expired" not in refused.content
    withdrawn = AuditEvent.objects.get(action=AuditEvent.Action.DSR_ARCHIVE_WITHDRAWN)
    assert withdrawn.target_id == str(alice.public_id)
    assert withdrawn.details["erasure"] == jane.reference
    client.force_login(officers[1])  # the officer reads why in the request's history
    page = client.get(f"/privacy/requests/{alice.public_id}/").content.decode()
    assert "withdrawn: it held data since erased" in page
    assert "record a new access request: it is built without what was erased" in page
    assert "The archive expired" not in page
    client.force_login(org.alice)  # and her letter, should it be sent again
    letter = client.get(f"/privacy/requests/{alice.public_id}/letter/").content.decode()
    assert "We withdrew it on" in letter and "We kept it until" not in letter


def test_a_copy_that_does_not_hold_the_erased_person_stays(
    org, officers, django_capture_on_commit_callbacks
):
    """Only a copy whose conversations the subject index finds the person in is withdrawn."""
    about_alice = make_conversation(org.carol, org.internal, texts=(f"Ask {org.alice.email}",))
    mention(about_alice, "EMAIL_ADDRESS", org.alice.email)
    about_jane = make_conversation(org.carol, org.internal, texts=(f"Refund {JANE}",))
    mention(about_jane, "EMAIL_ADDRESS", JANE)
    alice = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    assert alice.archive_sealed

    run(
        receive(officers, identifiers=[("email", JANE)]),
        officers,
        django_capture_on_commit_callbacks,
    )
    alice.refresh_from_db()
    assert alice.archive_sealed and alice.archive_dropped_at is None
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_ARCHIVE_WITHDRAWN).exists()


def test_a_copy_of_the_subjects_own_conversations_is_withdrawn_for_whom_they_name(
    org, officers, django_capture_on_commit_callbacks
):
    """Alice's own conversation names Jane: Jane's erasure redacts it, and Alice's copy of it
    goes too."""
    own = make_conversation(org.alice, org.internal, texts=(f"Call {JANE} back", "Sure"))
    mention(own, "EMAIL_ADDRESS", JANE)
    alice = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    assert alice.archive_sealed

    run(
        receive(officers, identifiers=[("email", JANE)]),
        officers,
        django_capture_on_commit_callbacks,
    )
    alice.refresh_from_db()
    assert bytes(alice.archive_sealed) == b"" and alice.archive_digests == []


def test_a_copy_built_while_an_erasure_of_someone_in_it_runs_is_withdrawn(
    org, officers, django_capture_on_commit_callbacks
):
    """The erasure may have looked for archives before this one was written, and the build
    may have read a message before the erasure redacted it: the copy goes at once."""
    about_both = make_conversation(
        org.carol, org.internal, texts=(f"{org.alice.email} and {JANE} were charged twice",)
    )
    mention(about_both, "EMAIL_ADDRESS", org.alice.email)
    mention(about_both, "EMAIL_ADDRESS", JANE)
    jane = run(
        receive(officers, identifiers=[("email", JANE)]),
        officers,
        django_capture_on_commit_callbacks,
        execute=False,
    )
    SubjectRequest.objects.filter(pk=jane.pk).update(status=SubjectRequest.Status.EXECUTING)

    alice = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    assert alice.status == SubjectRequest.Status.COMPLETED
    assert bytes(alice.archive_sealed) == b"" and alice.archive_dropped_at
    withdrawn = AuditEvent.objects.get(action=AuditEvent.Action.DSR_ARCHIVE_WITHDRAWN)
    assert withdrawn.details["erasure"] == jane.reference
