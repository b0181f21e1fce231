"""Carrying out an erasure: shred the subject's own conversations, redact their mentions elsewhere.

Mentions are found through the subject index. In someone else's conversation
the mention is replaced by ``[erased]`` in every message, the title and the
pseudonym mapping (so a placeholder that stood for it now restores to
``[erased]``), and its index rows go. A conversation under legal hold is left
as it is and reported.

A literal (a value the request names) is erased as a whole token only, however it is typed
(:mod:`privacy.literals`).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEvent
from audit.personal import keyed_names
from audit.services import pseudonym, record
from chat import streams
from chat.models import Conversation, Message, SubjectMention
from chat.pseudonyms import canonical, named
from chat.services import title_from
from governance.detection import detect
from governance.models import ERASED_DOMAIN
from privacy import purge
from privacy.literals import holds_literal, literal_patterns, literal_spans, replace_spans
from privacy.models import SubjectRequest
from privacy.services import record_step

ERASED = "[erased]"


@dataclass
class Erased:
    own_conversations: int = 0
    own_messages: int = 0
    redacted_conversations: int = 0
    redacted_messages: int = 0
    index_rows: int = 0
    withheld_conversations: int = 0
    #: Access archives built for the subject, dropped.
    archives: int = 0
    #: The account was closed (made inactive) before anything it owns was read.
    account_deactivated: bool = False
    account: bool = False
    #: The account was kept: its owner is under a legal hold (who they are is part of it).
    account_withheld: bool = False

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def redactions(self) -> dict:
        """What was redacted in other people's conversations: stored as it goes, since the values
        redacted are gone and nothing found later can count them (:data:`REDACTION_COUNTS`)."""
        return {name: getattr(self, name) for name in REDACTION_COUNTS}


#: The counts of :meth:`Erased.redactions`.
REDACTION_COUNTS = ("redacted_conversations", "redacted_messages", "index_rows")


def erase(
    *,
    digests: list[str],
    literals: list[str],
    subject_user=None,
    progress: Callable[[int, Erased], None] = lambda done, erased: None,
    reference: str = "",
) -> Erased:
    """Erase everything the request reaches; ``progress`` hears how many conversations are done
    and what is erased so far. After a redaction it hears it inside the redaction's
    transaction: what it stores of the counts commits with what they count, and what it raises
    (its worker lost the request) undoes the redaction.

    1. A staff subject's account is closed first (unless a hold keeps them), so no session,
       API token or sign-in of theirs can add anything behind the erasure.
    2. Shred what they own, and not held, until none is left.
    3. Redact the mentions in other people's conversations, each conversation with its index
       rows and ``progress`` in one transaction.
    4. Shred again what they own: a request that was under way when the account closed may
       still have written. Then count what a hold keeps, and drop every access archive that
       holds their data: their own, and other people's that quote them (``reference``, the
       erasure's, is named in those requests' history).
    """
    result = Erased()
    done = 0
    if subject_user is not None:
        result.account_deactivated = _close(subject_user)
        done = _shred_owned(subject_user, result, done, progress)

    mentioned = (
        SubjectMention.objects.filter(digest__in=digests)
        .values_list("conversation_id", flat=True)
        .distinct()
    )
    wanted = set(digests)
    patterns = literal_patterns(literals)
    reached = Conversation.objects.filter(pk__in=list(mentioned))
    if subject_user is not None:
        reached = reached.exclude(owner=subject_user)  # shredded, or withheld: counted below
    withheld = set(purge.held(reached).values_list("pk", flat=True))
    for conversation in reached.order_by("pk"):
        with transaction.atomic():  # the redaction, its index rows and its counts
            changed = None
            if conversation.pk not in withheld:
                changed = _redact_conversation(conversation, wanted, patterns)
            if changed is None:
                result.withheld_conversations += 1
            else:
                result.redacted_messages += changed
                result.redacted_conversations += 1
                result.index_rows += SubjectMention.objects.filter(
                    conversation=conversation, digest__in=digests
                ).delete()[0]
            done += 1
            progress(done, result)

    if subject_user is not None:
        done = _shred_owned(subject_user, result, done, progress)
        kept = purge.held(Conversation.objects.filter(owner=subject_user)).count()
        result.withheld_conversations += kept
        progress(done + kept, result)
    result.archives = _drop_archives(wanted, subject_user, reference)
    return result


#: What dropping an archive reads of its request (not the archive: megabytes).
ARCHIVE_FIELDS = (
    "public_id",
    "reference",
    "kind",
    "regime",
    "subject_user",
    "digests",
    "archive_digests",
)


def _drop_archives(digests: set[str], subject_user, reference: str) -> int:
    """Drop the access archives that hold the subject's data; how many were built for them.

    Theirs: a staff member's, and any whose request named one of the same identifiers (an
    outside person has no account to find them by). Someone else's: any whose copy quotes
    them (its ``archive_digests``); it goes too, and its request's history says why, for an
    officer to build the person a new copy without what is erased.
    """
    built = (
        SubjectRequest.objects.filter(kind=SubjectRequest.Kind.ACCESS)
        .exclude(archive_sealed=b"")
        .only(*ARCHIVE_FIELDS)
    )
    dropped = 0
    for request in built:
        theirs = (subject_user is not None and request.subject_user_id == subject_user.pk) or bool(
            digests.intersection(request.digests)
        )
        if theirs:
            dropped += _drop_archive(request)
        elif digests.intersection(request.archive_digests):
            with transaction.atomic():
                if _drop_archive(request):
                    _say_withdrawn(request, reference)
    return dropped


def withdraw_if_erased_meanwhile(request: SubjectRequest, *, since) -> None:
    """Drop the access archive just written for ``request`` if an erasure of anyone it holds
    ran since ``since`` (its build began): the build may have read what the erasure went on
    to erase, and the erasure may have looked for archives before this one was written."""
    erasures = SubjectRequest.objects.filter(kind=SubjectRequest.Kind.ERASURE).filter(
        Q(status=SubjectRequest.Status.EXECUTING)
        | Q(status=SubjectRequest.Status.COMPLETED, completed_at__gte=since)
    )
    within = set(request.archive_digests)
    for reference, digests in erasures.values_list("reference", "digests"):
        if within.intersection(digests):
            with transaction.atomic():
                if _drop_archive(request):
                    _say_withdrawn(request, reference)
            return


def _say_withdrawn(request: SubjectRequest, erasure_reference: str) -> None:
    """In the access request's history: its archive went, as it held data since erased."""
    record_step(
        request,
        None,
        AuditEvent.Action.DSR_ARCHIVE_WITHDRAWN,
        {"erasure": erasure_reference, "held": "data since erased"},
    )


def _drop_archive(request: SubjectRequest) -> bool:
    """Drop the request's archive, if it still has one (with what it says it holds)."""
    return bool(
        SubjectRequest.objects.filter(pk=request.pk)
        .exclude(archive_sealed=b"")
        .update(archive_sealed=b"", archive_dropped_at=timezone.now(), archive_digests=[])
    )


def _close(user) -> bool:
    """Make the account inactive, unless a hold on its owner is active (then nothing of theirs
    goes, and they keep working); whether it was closed now. Django's sign-in and sessions,
    and the API's tokens, refuse an inactive account."""
    with transaction.atomic():
        purge.holds_settled()
        if purge.person_held(user.pk):
            return False
        closed = type(user).objects.filter(pk=user.pk, is_active=True).update(is_active=False)
    user.is_active = False
    return bool(closed)


def _shred_owned(user, result: Erased, done: int, progress) -> int:
    """Shred the conversations ``user`` owns, not held, a batch at a time until none is left;
    the number of conversations done so far."""
    owned = purge.not_held(Conversation.objects.filter(owner=user)).order_by("pk")
    while batch := list(owned.values_list("pk", flat=True)[: purge.BATCH_CONVERSATIONS]):
        # Held again, as each batch is locked: a hold placed since is kept too.
        conversations, messages = purge.shred(
            purge.not_held(Conversation.objects.filter(pk__in=batch))
        )
        result.own_conversations += conversations
        result.own_messages += messages
        done += len(batch)
        progress(done, result)
    return done


def _redact_conversation(conversation: Conversation, digests: set[str], patterns) -> int | None:
    """Redact one conversation in one transaction (the caller's, if it is in one); the number
    of messages that changed, or None when a hold placed since the erasure began (on it, or on
    its owner) keeps it."""
    changed = 0
    with transaction.atomic(savepoint=False):  # a savepoint would cost two queries more
        purge.holds_settled()
        unheld = purge.not_held(Conversation.objects.filter(pk=conversation.pk))
        locked = unheld.select_for_update(of=("self",)).first()
        if locked is None:  # held now, or deleted meanwhile (nothing left to redact)
            return None if Conversation.objects.filter(pk=conversation.pk).exists() else 0
        conversation = locked
        _stop_answers(conversation)
        # (as written, as sent, and both redacted): the title may have been taken from it
        first_question = None
        for message in conversation.messages.exclude(content_sealed=b"", error_sealed=b""):
            message.conversation = conversation
            updates = []
            content = message.content
            redacted = redact(content, digests, patterns)
            if first_question is None and message.role == Message.Role.USER and content:
                sent = message.sent_text
                first_question = (content, redacted, sent, redact(sent, digests, patterns))
            if redacted != content:
                message.content = redacted
                updates += ["content_sealed", "chars"]
            if message.error_sealed:  # a backend's words may quote what it was sent
                error = message.error
                if (redacted_error := redact(error, digests, patterns)) != error:
                    message.error = redacted_error
                    updates.append("error_sealed")
            if message.sent_sealed:
                sent = message.sent_text
                redacted_sent = redact(sent, digests, patterns)
                if redacted_sent != sent:
                    message.sent_text = redacted_sent
                    updates.append("sent_sealed")
            if updates:
                message.save(update_fields=updates)
                changed += 1
        fields = []
        if conversation.title_sealed:
            title = conversation.title
            if (new_title := _redacted_title(title, first_question, digests, patterns)) != title:
                conversation.title = new_title
                fields.append("title_sealed")
        mapping = conversation.pseudonyms()
        if _redact_mapping(mapping, digests, patterns):
            conversation.set_pseudonyms(mapping)
            fields.append("pseudonyms_sealed")
        if fields:
            conversation.save(update_fields=fields)
    return changed


def _redacted_title(title: str, first_question, digests: set[str], patterns) -> str:
    """The title redacted. One taken from the first message is taken again from it redacted:
    cut short, it could end inside an address ("…Dr [erased] (jane.roe@…") that no
    detector finds whole. (It was taken from the message as sent, with what was replaced
    named; before that, from the message as written.)"""
    if first_question:
        written, written_redacted, sent, sent_redacted = first_question
        if title == title_from(named(sent)):
            return title_from(named(sent_redacted))
        if title == title_from(written):
            return title_from(written_redacted)
    return redact(title, digests, patterns)


def _stop_answers(conversation: Conversation) -> None:
    """Stop the conversation's answers still on their way (in the redaction's transaction):
    what a worker saved after the redaction would not be redacted. Their streams go too."""
    answering = conversation.messages.in_flight()
    if streams.stop_on_commit(list(answering.values_list("public_id", flat=True))):
        answering.update(status=Message.Status.CANCELLED, finished_at=timezone.now())


def redact(text: str, digests: set[str], patterns) -> str:
    """``text`` with every finding whose keyed hash is the subject's, and every literal, erased."""
    if not text:
        return text
    found = [
        (finding.start, finding.end)
        for finding in detect(text).scan.findings
        if pseudonym(canonical(str(finding.type), text[finding.start : finding.end])) in digests
    ]
    return replace_spans(text, found + literal_spans(patterns, text), ERASED)


def _redact_mapping(mapping: dict, digests: set[str], patterns) -> bool:
    """Point the subject's placeholders at ``[erased]`` and drop their canonical keys."""
    keys = mapping.get("keys", {})
    values = mapping.get("values", {})
    changed = False
    for key, placeholder in list(keys.items()):
        value = values.get(placeholder, "")
        if pseudonym(key.split(":", 1)[1]) in digests or holds_literal(patterns, value):
            del keys[key]
            keys[f"erased:{placeholder}"] = placeholder
            values[placeholder] = ERASED
            changed = True
    return changed


def account_names(user) -> list[str]:
    """The keyed hashes of the names and addresses ``user``'s account goes by (its name, its
    email addresses), as the audit trail holds them: taken before :func:`erase_account`
    blanks them, for :func:`audit.personal.forget_person` to find them by after it. None for
    an account already erased."""
    from allauth.account.models import EmailAddress

    if user.is_erased:
        return []
    addresses = EmailAddress.objects.filter(user=user).values_list("email", flat=True)
    return keyed_names([user.full_name, user.email, *addresses])


def erase_account(user) -> bool:
    """Remove a staff member's account data (addresses, sign-in methods, SSO link, name,
    roles and their own clearances); the row stays (the audit trail points at it). Their
    names and addresses in the audit trail's events go after it, outside this transaction
    (:func:`audit.personal.forget_person`, by :func:`account_names` taken before).
    Not while a legal hold on them is active (who they are is part of what it keeps),
    looked for under the holds lock: False then, and nothing changes."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from allauth.socialaccount.models import SocialAccount

    with transaction.atomic():
        purge.holds_settled()
        if purge.person_held(user.pk):
            return False
        EmailAddress.objects.filter(user=user).delete()
        Authenticator.objects.filter(user=user).delete()
        # The SSO link: its uid and the provider's claims (email, name); its tokens cascade.
        SocialAccount.objects.filter(user=user).delete()
        user.email = f"erased-{user.public_id.hex[:12]}@{ERASED_DOMAIN}"
        user.full_name = ""
        user.is_active = False
        user.set_unusable_password()
        user.save(update_fields=["email", "full_name", "is_active", "password"])
        user.groups.clear()
        _remove_clearances(user)
    return True


def _remove_clearances(user) -> None:
    """The categories the person was cleared for in their own name (a group's clearance is
    the group's) go with the account, each audited as a revocation is, under the erased
    account: its events name no one."""
    from governance.models import Clearance

    for clearance in Clearance.objects.filter(user=user).select_related("category"):
        clearance.user = user  # as erased: its event's target reads "Erased account → …"
        record(
            action=AuditEvent.Action.POLICY_CHANGED,
            target=clearance,
            message="Clearance removed with the erased account",
            before={"category": clearance.category.number, "user": str(user.public_id)},
        )
        clearance.delete()
