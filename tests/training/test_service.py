"""The acknowledgement gate, versioning and the chat path's use of the gate."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from chat import services as chat
from governance.policy_cache import read_version
from training import services
from training.models import Acknowledgement, PolicyDocument

Action = AuditEvent.Action


def _events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


# --- the gate -------------------------------------------------------------------------------


def test_it_gates_nobody_before_a_policy_is_published(demo):
    assert services.needs_acknowledgement(demo.alice) is False
    chat.start_conversation(owner=demo.alice, category=demo.internal)


def test_it_gates_someone_who_never_acknowledged_at_once(demo, publish):
    publish()
    assert services.needs_acknowledgement(demo.alice) is True


def test_it_ungates_after_acknowledging_and_audits_it(demo, publish):
    document = publish()
    ack = services.acknowledge(user=demo.alice, document=document)
    assert services.needs_acknowledgement(demo.alice) is False
    assert services.needs_acknowledgement(demo.bob) is True
    event = _events(Action.TRAINING_ACKNOWLEDGED)[-1]
    assert event.actor == demo.alice
    assert event.details == {"version": document.version}
    assert event.target_id == str(document.public_id)
    assert ack.acknowledged_at <= timezone.now()


def test_acknowledging_twice_keeps_the_first_record(demo, publish):
    document = publish()
    first = services.acknowledge(user=demo.alice, document=document)
    second = services.acknowledge(user=demo.alice, document=document)
    assert first.pk == second.pk
    assert len(_events(Action.TRAINING_ACKNOWLEDGED)) == 1


def test_a_new_version_gives_earlier_acknowledgers_the_grace_period(demo, publish, settings):
    settings.STEWARD_ACK_GRACE_DAYS = 7
    first = publish()
    services.acknowledge(user=demo.alice, document=first)
    second = publish("## Rules\n\nBe very careful.", "Stricter")
    status = services.acknowledgement_status(demo.alice)
    assert status.current.pk == second.pk
    assert status.in_grace and not status.gated
    assert status.due == second.published_at + dt.timedelta(days=7)
    assert services.needs_acknowledgement(demo.alice) is False
    assert services.needs_acknowledgement(demo.bob) is True  # never acknowledged: no grace


def test_the_grace_period_ends(demo, publish, settings):
    first = publish()
    services.acknowledge(user=demo.alice, document=first)
    second = publish("New text", "New")
    PolicyDocument.objects.filter(pk=second.pk).update(
        published_at=timezone.now() - dt.timedelta(days=8)
    )
    settings.STEWARD_ACK_GRACE_DAYS = 7
    assert services.needs_acknowledgement(demo.alice) is True
    settings.STEWARD_ACK_GRACE_DAYS = 10
    assert services.needs_acknowledgement(demo.alice) is False


def test_the_grace_period_is_only_for_those_who_acknowledged_the_version_before(
    demo, publish, settings
):
    """Someone overdue on version 2 stays gated when version 3 comes out."""
    settings.STEWARD_ACK_GRACE_DAYS = 7
    first = publish()
    services.acknowledge(user=demo.alice, document=first)
    second = publish("## Rules\n\nv2", "v2")
    PolicyDocument.objects.filter(pk=second.pk).update(
        published_at=timezone.now() - dt.timedelta(days=30)
    )
    services.acknowledge(user=demo.bob, document=second)
    publish("## Rules\n\nv3", "v3")
    assert services.acknowledgement_status(demo.alice).due < timezone.now()  # v2's, long gone
    assert services.needs_acknowledgement(demo.alice) is True
    assert services.needs_acknowledgement(demo.bob) is False  # acknowledged version 2


def test_a_quick_follow_up_version_does_not_end_a_running_grace_period(demo, publish, settings):
    """The grace period runs from the first version someone has not acknowledged: a typo
    fix published the day after does not lock out those still within it."""
    settings.STEWARD_ACK_GRACE_DAYS = 7
    first = publish()
    services.acknowledge(user=demo.alice, document=first)
    second = publish("## Rules\n\nv2", "v2")
    PolicyDocument.objects.filter(pk=second.pk).update(
        published_at=timezone.now() - dt.timedelta(days=1)
    )
    publish("## Rules\n\nv2, typo fixed", "typo")
    status = services.acknowledgement_status(demo.alice)
    assert status.in_grace and status.due.date() == (timezone.now() + dt.timedelta(days=6)).date()


def test_no_grace_period_gates_everyone_at_once(demo, publish, settings):
    settings.STEWARD_ACK_GRACE_DAYS = 0
    first = publish()
    services.acknowledge(user=demo.alice, document=first)
    publish("New text", "New")
    assert services.needs_acknowledgement(demo.alice) is True


def test_reacknowledging_the_new_version_ungates(demo, publish, settings):
    settings.STEWARD_ACK_GRACE_DAYS = 0
    first = publish()
    services.acknowledge(user=demo.alice, document=first)
    second = publish("New text", "New")
    services.acknowledge(user=demo.alice, document=second)
    assert services.needs_acknowledgement(demo.alice) is False
    assert Acknowledgement.objects.filter(user=demo.alice).count() == 2


def test_an_old_version_cannot_be_acknowledged(demo, publish):
    first = publish()
    publish("New text", "New")
    with pytest.raises(services.TrainingError):
        services.acknowledge(user=demo.alice, document=first)


def test_a_draft_cannot_be_acknowledged(demo, publish):
    publish()
    draft = services.save_draft(actor=demo.paula, title="P", body="Draft", change_note="x")
    with pytest.raises(services.TrainingError):
        services.acknowledge(user=demo.alice, document=draft)


def test_publishing_applies_to_the_next_check_in_this_process(demo, publish):
    assert services.needs_acknowledgement(demo.alice) is False  # caches "none published"
    publish()
    assert services.needs_acknowledgement(demo.alice) is True


def test_the_gate_costs_no_query_before_a_policy_and_one_for_those_who_acknowledged(
    demo, publish, django_assert_num_queries
):
    """Given the policy version the chat path reads anyway (for its decision)."""

    def gated(version) -> bool:
        return services.needs_acknowledgement(demo.alice, version)

    version = read_version(demo.alice.pk)
    gated(version)
    with django_assert_num_queries(0):
        assert gated(version) is False
    document = publish()
    version = read_version(demo.alice.pk)
    gated(version)
    with django_assert_num_queries(2):  # not acknowledged: and an earlier version?
        assert gated(version) is True
    services.acknowledge(user=demo.alice, document=document)
    with django_assert_num_queries(1):
        assert gated(version) is False


def test_publishing_reaches_the_gate_through_the_policy_version(demo, publish):
    assert services.needs_acknowledgement(demo.alice) is False
    publish()
    assert services.needs_acknowledgement(demo.alice) is True


# --- the chat path --------------------------------------------------------------------------


def test_the_chat_refuses_to_start_a_conversation_before_acknowledgement(demo, publish):
    publish()
    with pytest.raises(chat.AcknowledgementRequired):
        chat.start_conversation(owner=demo.alice, category=demo.internal)
    assert not _events(Action.CHAT_STARTED)


def test_the_chat_refuses_to_send_before_acknowledgement(demo, publish, settings):
    settings.STEWARD_ACK_GRACE_DAYS = 0
    first = publish()
    services.acknowledge(user=demo.alice, document=first)
    conversation = chat.start_conversation(owner=demo.alice, category=demo.internal)
    publish("New text", "New")
    with pytest.raises(chat.AcknowledgementRequired) as info:
        chat.send_message(conversation=conversation, author=demo.alice, text="Hello")
    assert isinstance(info.value, chat.ChatError)  # callers that catch ChatError still do
    assert not conversation.messages.exists()
    assert not _events(Action.CHAT_REQUEST)


# --- versioning -----------------------------------------------------------------------------


def test_drafts_take_the_next_version_and_there_is_only_one(demo, publish):
    publish()
    draft = services.save_draft(actor=demo.paula, title="P", body="v2", change_note="")
    again = services.save_draft(actor=demo.paula, title="P", body="v2, better", change_note="n")
    assert draft.pk == again.pk
    assert again.version == 2
    assert PolicyDocument.objects.draft().body == "v2, better"
    assert PolicyDocument.objects.current().version == 1


def test_publishing_records_who_when_and_what_changed(demo, publish):
    publish("one\ntwo\nthree")
    second = publish("one\n2\nthree\nfour", "Numbers")
    second.refresh_from_db()
    assert second.published_by == demo.paula
    assert second.published_at is not None
    event = _events(Action.TRAINING_POLICY_PUBLISHED)[-1]
    assert event.actor == demo.paula
    assert event.message == "Numbers"
    assert event.details == {
        "version": 2,
        "previous_version": 1,
        "lines_added": 2,
        "lines_removed": 1,
    }


def test_a_new_version_needs_a_change_note(demo, publish):
    publish()
    draft = services.save_draft(actor=demo.paula, title="P", body="v2", change_note=" ")
    with pytest.raises(services.TrainingError, match="what changed"):
        services.publish(actor=demo.paula, document=draft)
    assert PolicyDocument.objects.current().version == 1


def test_the_first_version_needs_no_change_note(demo):
    draft = services.save_draft(actor=demo.paula, title="P", body="Rules", change_note="")
    assert services.publish(actor=demo.paula, document=draft).version == 1


def test_a_published_version_cannot_be_published_again(demo, publish):
    document = publish()
    with pytest.raises(services.TrainingError):
        services.publish(actor=demo.paula, document=document)


def test_discarding_a_draft_keeps_the_published_versions(demo, publish):
    publish()
    draft = services.save_draft(actor=demo.paula, title="P", body="v2", change_note="")
    services.discard_draft(actor=demo.paula, document=draft)
    assert list(PolicyDocument.objects.values_list("version", flat=True)) == [1]
    with pytest.raises(services.TrainingError):
        services.discard_draft(actor=demo.paula, document=PolicyDocument.objects.get())


def test_the_chat_refuses_a_retry_before_acknowledgement(demo, publish, settings):
    from chat.models import Message

    settings.STEWARD_ACK_GRACE_DAYS = 0
    services.acknowledge(user=demo.alice, document=publish())
    conversation = chat.start_conversation(owner=demo.alice, category=demo.internal)
    sent = chat.send_message(conversation=conversation, author=demo.alice, text="Hello")
    Message.objects.filter(pk=sent.answer.pk).update(status=Message.Status.FAILED)
    sent.answer.refresh_from_db()
    publish("New text", "New")
    with pytest.raises(chat.AcknowledgementRequired):
        chat.retry_answer(answer=sent.answer, author=demo.alice)
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.FAILED


def test_staff_members_are_those_who_may_chat(demo):
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.auth.models import Permission

    from governance.roles import Role
    from tests.factories import make_user

    direct = make_user("direct@example.com")
    direct.user_permissions.add(Permission.objects.get(codename="use_chat"))
    make_user("root@example.com", is_superuser=True)
    gone = make_user("gone@example.com", Role.STAFF, is_active=False)
    expected = set(ModelBackend().with_perm(Role.STAFF.permission))
    assert set(services.staff_members()) == expected
    assert direct in expected and gone not in expected
    assert demo.aaron not in expected  # the auditor does not chat
