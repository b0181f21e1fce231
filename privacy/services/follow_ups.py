"""Erasures a legal hold kept from finishing: what each left behind, and the follow-up
erasure that removes it once the hold is released."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from audit.models import AuditEvent
from chat.models import Conversation, SubjectMention
from governance.models import User
from privacy import purge
from privacy.models import SubjectRequest
from privacy.services.common import IdentifiersMissing, PrivacyError, S, _locked, record_step
from privacy.services.identifiers import _refuse_missing
from privacy.services.intake import _account_identifiers, receive_request
from privacy.services.workflow import verify_identity


@dataclass(frozen=True)
class LeftBehind:
    """What a completed erasure withheld under a legal hold and is still there.

    The ``free`` part no hold keeps any more: a follow-up erasure removes it. The
    ``held`` part waits for its hold. ``finishing`` is the reference of an open erasure
    that already reaches the same subject, if there is one.
    """

    free_conversations: int = 0
    held_conversations: int = 0
    account_free: bool = False
    account_held: bool = False
    finishing: str = ""

    @property
    def free(self) -> bool:
        return bool(self.free_conversations) or self.account_free


def left_behind(request: SubjectRequest) -> LeftBehind | None:
    """What ``request``, a completed erasure, withheld and is still there; None if nothing.

    Read from what is there now, nothing stored: the conversations it reached (a
    mention of the subject's keyed hashes, or the subject's own) that existed when it
    completed, and the account it kept. Its sealed identifiers were dropped at
    completion; its keyed hashes remain, and the index rows of the conversations it
    withheld were left in place, so they still find them. Once a follow-up erasure (or
    a purge) has removed them, nothing is left behind, for good: what appears later
    is not what it reached.
    """
    return _left_behind_each([request])[request.pk]


def _withheld_something(request: SubjectRequest) -> bool:
    counts = request.receipt.get("counts", {})
    return (
        request.kind == SubjectRequest.Kind.ERASURE
        and request.status == S.COMPLETED
        and request.nothing_left_at is None
        and bool(counts.get("withheld_conversations") or counts.get("account_withheld"))
    )


def _left_behind_each(requests: list[SubjectRequest]) -> dict[int, LeftBehind | None]:
    """:func:`left_behind` of each request, by pk, in the same few queries however many.

    1. Read once the index rows of all their keyed hashes and the conversations all
       their subjects own, as they were by the last completion.
    2. Read once which of those conversations a hold keeps, which subjects are held,
       and the open erasures.
    3. For each request, keep what it reached by its own completion.
    """
    found: dict[int, LeftBehind | None] = {request.pk: None for request in requests}
    withheld = [request for request in requests if _withheld_something(request)]
    if not withheld:
        return found
    until = max(request.completed_at for request in withheld)
    digests = sorted({digest for request in withheld for digest in request.digests})
    subjects = {request.subject_user_id for request in withheld if request.subject_user_id}

    index_rows = (
        SubjectMention.objects.filter(digest__in=digests, created_at__lte=until)
        .order_by()
        .values_list("digest", "conversation_id")
        .annotate(first=Min("created_at"))
    )
    mentioned: dict[str, list[tuple[int, dt.datetime]]] = defaultdict(list)
    for digest, conversation_id, first in index_rows:
        mentioned[digest].append((conversation_id, first))
    owned: dict[int, list[tuple[int, dt.datetime]]] = defaultdict(list)
    if subjects:
        for pk, owner_id, created_at in Conversation.objects.filter(
            owner_id__in=subjects, created_at__lte=until
        ).values_list("pk", "owner_id", "created_at"):
            owned[owner_id].append((pk, created_at))
    reached_any = Q(
        pk__in=SubjectMention.objects.filter(digest__in=digests, created_at__lte=until).values(
            "conversation_id"
        )
    ) | Q(owner_id__in=subjects, created_at__lte=until)
    held = (
        set(purge.held(Conversation.objects.filter(reached_any)).values_list("pk", flat=True))
        if mentioned or owned
        else set()
    )
    accounts = {request.subject_user_id for request in withheld if _account_kept(request)}
    held_people = purge.people_held(accounts) if accounts else set()
    open_erasures = None

    for request in withheld:
        reached = {
            conversation_id
            for digest in request.digests
            for conversation_id, first in mentioned.get(digest, ())
            if first <= request.completed_at
        } | {
            conversation_id
            for conversation_id, created_at in owned.get(request.subject_user_id, ())
            if created_at <= request.completed_at
        }
        account = _account_kept(request)
        if not reached and not account:
            continue
        if open_erasures is None:
            open_erasures = list(
                SubjectRequest.objects.filter(
                    kind=SubjectRequest.Kind.ERASURE, status__in=SubjectRequest.OPEN
                ).values_list("reference", "digests")
            )
        wanted = set(request.digests)
        account_held = account and request.subject_user_id in held_people
        found[request.pk] = LeftBehind(
            free_conversations=len(reached - held),
            held_conversations=len(reached & held),
            account_free=account and not account_held,
            account_held=account_held,
            finishing=next(
                (reference for reference, other in open_erasures if wanted <= set(other)), ""
            ),
        )
    return found


def _account_kept(request: SubjectRequest) -> bool:
    """Whether the erasure withheld the subject's account and it is still there."""
    user = request.subject_user
    return (
        bool(request.receipt.get("counts", {}).get("account_withheld"))
        and user is not None
        and not user.is_erased
    )


def erasures_to_finish() -> list[tuple[SubjectRequest, LeftBehind]]:
    """Completed erasures that withheld content under a legal hold since released, with
    what each left behind, oldest first: the privacy desk lists them.

    One found to have left nothing behind is marked so, and not looked at again.
    """
    withheld = Q(receipt__counts__withheld_conversations__gt=0) | Q(
        receipt__counts__account_withheld=True
    )
    candidates = list(
        SubjectRequest.objects.listed()
        .filter(kind=SubjectRequest.Kind.ERASURE, status=S.COMPLETED, nothing_left_at=None)
        .filter(withheld)
        .select_related("subject_user")
        .order_by("completed_at")
    )
    left = _left_behind_each(candidates)
    if settled := [request.pk for request in candidates if left[request.pk] is None]:
        SubjectRequest.objects.filter(pk__in=settled).update(nothing_left_at=timezone.now())
    return [
        (request, left[request.pk])
        for request in candidates
        if left[request.pk] is not None and left[request.pk].free
    ]


def finish_erasure(
    *,
    request: SubjectRequest,
    actor: User,
    identifiers: list[tuple[str, str]] | None = None,
) -> SubjectRequest:
    """Record the erasure of what ``request`` withheld under a legal hold since released.

    1. Refused unless the completed erasure left something no hold keeps now, and while
       an open erasure already reaches the same subject.
    2. The new request reaches what the first did (its keyed hashes), and erases in the
       text the identifiers given now. Those typed for the first were dropped when it
       closed: for a staff member whose account was kept, the account's are used too.
       Together they must be every identifier the first named, or one left out would stay
       wherever only its words find it (a name no detector found) while the letter says it
       is erased: what is missing is refused beside its field (:func:`_refuse_missing`).
    3. Its identity counts as verified by the first. It is scoped and approved like any
       request (four eyes).
    4. Its clock (:func:`_follow_up_due_on`): the person asked once, with the first
       request, so while the first is not yet due the follow-up is due by the same day.
       Once that day has passed, it is due as a request received today: the hold was
       lawful and the delay it made justified; erasing is owed without undue delay from
       the release, and the law's time to answer a request bounds that. Its note names
       the request it finishes and the day that one was received.

    A refusal for a missing identifier is recorded (how many, never what was tried): each
    says whether what was given is the one the first named.
    """
    try:
        return _finish_erasure(request, actor, identifiers)
    except IdentifiersMissing as refused:
        with transaction.atomic():
            record_step(
                request,
                actor,
                AuditEvent.Action.DSR_FOLLOW_UP_REFUSED,
                {"missing": refused.missing},
            )
        raise


def _finish_erasure(
    request: SubjectRequest, actor: User, identifiers: list[tuple[str, str]] | None
) -> SubjectRequest:
    with transaction.atomic():
        original = _locked(request, S.COMPLETED, "Only a completed erasure can be finished.")
        left = left_behind(original)
        if left is None or not left.free:
            raise PrivacyError(
                "Nothing this erasure left behind is free to erase: it is gone, or still "
                "under a legal hold."
            )
        if left.finishing:
            raise PrivacyError(
                f"{left.finishing} is open and already erases what this one left behind."
            )
        given = [(kind, value.strip()) for kind, value in identifiers or [] if value.strip()]
        user = original.subject_user
        from_account = _account_identifiers(user) if user and not user.is_erased else []
        identifiers = list(dict.fromkeys(given + from_account))
        _refuse_missing(original, identifiers=identifiers, typed=given)
        received = original.received_on
        follow_up = receive_request(
            actor=actor,
            kind=SubjectRequest.Kind.ERASURE,
            regime=original.regime,
            received_on=timezone.localdate(),
            identifiers=identifiers,
            subject_user=user,
            note=f"Finishes {original.reference}, received on {received.day} {received:%B %Y}: "
            "what it withheld under a legal hold since released.",
            follows=original,
        )
        return verify_identity(
            request=follow_up,
            actor=actor,
            method=f"Verified for {original.reference}, which this request finishes.",
        )
