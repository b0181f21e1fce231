"""The access request's archive: a zip of ``data.json`` and a readable ``summary.html``.

Stored sealed with the master key on the request row; it holds the subject's own
conversations (placeholders restored, as their owner sees them) and every message
elsewhere that mentions them ("mentions": other people's messages, and the models' answers
in those conversations that name them once placeholders are restored). Other people's
identifiers in the mentions are withheld (GDPR Art. 15(4)): each one the detector finds
that is not the subject's reads "[another person's email address]"; what it does not find
(a name without a title, say) the officer who releases the copy withholds before release
(:func:`withhold`: it reads "[another person's name]"). For a staff member
it also holds what Steward keeps on their account: roles and clearances, policy
acknowledgements and quiz attempts, API tokens (never their hash), and a summary of their
own activity in the audit trail.

Privacy officers may always download it. The subject may once it is released: at
once when it holds no mentions, otherwise when an officer other than the subject has
checked them. It is dropped ``ARCHIVE_KEEP_DAYS`` after the
request completed (and by the subject's erasure).
"""

import datetime as dt
import io
import json
import re
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable

from django.db import transaction
from django.db.models import Count, Max, Min, Prefetch, Q
from django.template.loader import render_to_string
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import pseudonym, record
from chat.markdown import restore_outside_links
from chat.models import Conversation, Message, SubjectMention
from chat.pseudonyms import Pseudonymiser, canonical
from chat.services import subject_digests
from governance import crypto
from governance.detection import Detection, detect
from governance.models import User
from governance.policy import HARMLESS_TYPES, SECRET_TYPES
from governance.scanning.normalise import normalise
from privacy import access, disclosure, notices
from privacy.literals import literal_patterns, replace_spans
from privacy.models import ARCHIVE_KEEP_DAYS, SubjectRequest
from privacy.scope import digest_of
from privacy.services import FieldRefused, PrivacyError, record_step

#: Conversations read at a time, each chunk with its messages in one more query.
CHUNK = 200
#: Past this size, the zip being written goes to a temporary file rather than memory.
SPOOL_BYTES = 8 * 1024 * 1024
#: What stands in the copy for a name an officer withheld before release.
NAME_WITHHELD = "[another person's name]"
#: What the copy already withholds (this module's ``_withheld`` and :data:`NAME_WITHHELD`).
_ALREADY_WITHHELD = re.compile(
    r"\[(?:another person's [^\[\]\n]{1,60}|a secret or credential, withheld|"
    r"a protected term, withheld)\]",
    re.IGNORECASE,
)
#: The parts of a mention other people wrote, or a model answered them: what is withheld in.
MENTION_TEXTS = ("text", "title", "answer")


def build(
    request: SubjectRequest, *, recipients: list[dict], progress: Callable[[int], None]
) -> tuple[bytes, dict]:
    """The sealed zip and the counts for the receipt; ``recipients`` as the run read them
    for the receipt (:func:`privacy.scope.recipients`)."""
    done = 0
    own = []
    if request.subject_user_id:
        conversations = (
            Conversation.objects.filter(owner_id=request.subject_user_id)
            .select_related("category")
            .prefetch_related("messages")
        )
        for conversation in conversations.iterator(chunk_size=CHUNK):
            own.append(_conversation(conversation))
            done += 1
            progress(done)
    mentions = []
    rows = (
        SubjectMention.objects.filter(digest__in=request.digests)
        .exclude(conversation__owner_id=request.subject_user_id)
        .select_related("message", "conversation__category")
        .order_by("created_at")
    )
    seen = set()
    digests = set(request.digests)
    kinds = set()  # of the subject's identifiers in the mentions: the categories of data
    for row in rows.iterator(chunk_size=CHUNK):
        kinds.add(row.kind)
        # A row without a message is the conversation's title (one its owner typed).
        where = row.message_id or ("title", row.conversation_id)
        if where in seen:
            continue
        seen.add(where)
        mentions.append(_mention(row, digests))
        done += 1
        progress(done)
    for answer, named in _answers_naming(request, digests):
        kinds.update(named)
        mentions.append(answer)
        done += 1
        progress(done)
    mentions.sort(key=lambda mention: mention["date"])  # an answer after its question
    user = request.subject_user
    data = {
        "reference": request.reference,
        "regime": request.get_regime_display(),
        "generated_at": timezone.now().isoformat(),
        "account": _account(user) if user else None,
        "conversations": own,
        "mentions": mentions,
        **(_held_on_account(user) if user else {}),
        "about": disclosure.about(request, recipients, kinds=kinds),
    }
    counts = {
        "conversations": len(own),
        "messages": sum(len(c["messages"]) for c in own),
        "mentions": len(mentions),
    }
    return seal(request, _zipped(data)), counts


def _zipped(data: dict) -> bytes:
    """The archive's zip: ``data`` as ``data.json``, and ``summary.html`` made from it."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
            with io.TextIOWrapper(
                archive.open(_entry("data.json"), "w"), encoding="utf-8", newline="\n"
            ) as text:
                json.dump(data, text, indent=2, ensure_ascii=False)
            archive.writestr(
                "summary.html", render_to_string("privacy/archive_summary.html", {"data": data})
            )
        spool.seek(0)
        return spool.read()


def _data_of(request: SubjectRequest) -> dict:
    """The archive's ``data.json``, read."""
    with zipfile.ZipFile(io.BytesIO(open_archive(request))) as archive:
        return json.loads(archive.read("data.json"))


def digests_within(request: SubjectRequest) -> set[str]:
    """The keyed hashes of everyone the subject index finds in the conversations :func:`build`
    draws on: the subject's own, and other people's that mention them (their messages, titles
    and the models' answers there, which restore any of the conversation's placeholders). An
    erasure of any of these people drops the archive (:func:`privacy.erasure.erase`)."""
    drawn_on = Q(
        conversation_id__in=SubjectMention.objects.filter(digest__in=request.digests).values(
            "conversation_id"
        )
    )
    if request.subject_user_id:
        drawn_on |= Q(conversation__owner_id=request.subject_user_id)
    found = SubjectMention.objects.filter(drawn_on).values_list("digest", flat=True).distinct()
    return set(found) | set(request.digests)


def _entry(name: str) -> zipfile.ZipInfo:
    """A file's entry as ``ZipFile.writestr`` makes it (dated now, owner-only), for one
    written as a stream: ``ZipFile.open`` would date it 1980 and give it no permissions."""
    entry = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = 0o600 << 16
    return entry


def download_refusal(request: SubjectRequest, user: User) -> str | None:
    """Why ``user`` may not download the request's archive now, for them to read; None if
    they may. The subject needs it released, even when they are a privacy officer."""
    if not _has_archive(request):
        if request.archive_withdrawn:
            return (
                f"The archive was withdrawn on "
                f"{timezone.localtime(request.archive_dropped_at):%-d %B %Y}: it held data "
                "erased since. A privacy officer can make a new request for a copy without it."
            )
        if request.archive_dropped_at:
            return (
                f"The archive expired on {timezone.localtime(request.archive_dropped_at):%-d %B %Y}"
                f" ({ARCHIVE_KEEP_DAYS} days after the request completed)."
            )
        if request.status == SubjectRequest.Status.COMPLETED:
            return "The archive is no longer kept."
        return "The archive is built when the request completes."
    if access.is_about(request, user):
        if request.archive_released_at:
            return None
        return (
            "The archive holds messages other people wrote that mention you: a privacy officer "
            "checks them for other people's data before you can download it."
        )
    return None if access.is_officer(user) else "Only privacy officers download this archive."


def _has_archive(request: SubjectRequest) -> bool:
    """Whether the request's archive is stored; read without loading it when the request
    came from ``SubjectRequest.objects.listed()``."""
    if hasattr(request, "archive_available"):
        return request.archive_available
    return bool(request.archive_sealed)


def release(*, request: SubjectRequest, actor: User) -> SubjectRequest:
    """A privacy officer lets the subject download their archive, having checked the
    messages other people wrote in it; never the subject themselves."""
    with transaction.atomic():
        request = (
            SubjectRequest.objects.select_for_update().defer("archive_sealed").get(pk=request.pk)
        )
        built = SubjectRequest.objects.filter(pk=request.pk).exclude(archive_sealed=b"").exists()
        if not built:
            raise PrivacyError("There is no archive to release.")
        if request.archive_released_at:
            raise PrivacyError("The archive was already released to the person.")
        if access.is_about(request, actor):
            raise PrivacyError("Someone other than the person the data is about releases it.")
        if request.subject_user_id is None:
            raise PrivacyError(
                "The person has no account to download it with: download the archive, check "
                "it and send it on."
            )
        request.archive_released_at = timezone.now()
        request.archive_released_by = actor
        request.save(update_fields=["archive_released_at", "archive_released_by"])
        mentions = request.receipt.get("counts", {}).get("mentions", 0)
        record_step(
            request,
            actor,
            AuditEvent.Action.DSR_RELEASED,
            {"mentions": mentions},
        )
        notices.told_in_steward(request, notices.Topic.OUTCOME)  # the download is theirs now
    return request


def check_refusal(request: SubjectRequest, user: User) -> str | None:
    """Why ``user`` may not check the archive's mentions or withhold names in them now, for
    them to read; None if they may. Once released, the copy is the one the person has."""
    if not _has_archive(request):
        return "There is no archive to check: it is built when the request completes."
    if request.archive_released_at:
        return "The archive was already released to the person: their copy stays as it is."
    if access.is_about(request, user):
        return "Someone other than the person the data is about checks it."
    return None


def withhold(
    *, request: SubjectRequest, actor: User, terms: list[str]
) -> list[tuple[str, int, int]]:
    """Replace each of ``terms`` (other people's names the detector did not find) by
    "[another person's name]" wherever the archive's mentions hold it as a whole word, case
    aside; each term with how many it replaced, and how many it left as part of the
    person's own name. The person's own conversations stay whole.

    1. Only before release, by a privacy officer the request is not about, and never the
       person's own name, nor a part of it (the request's keyed hashes, or their account's
       name): "Alice" is refused for Alice Example's account, and where the text says "Dr
       Alice Example", "Alice" stays theirs (:func:`_theirs`).
    2. The sealed archive is opened, its mentions changed, ``summary.html`` made again from
       ``data.json`` and the whole sealed again. The terms are kept nowhere: the archive is
       never built again (a new request makes a new one), so nothing needs them later.
    3. The audit trail says how many terms and how many replacements: the terms name people.
    """
    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        if refusal := check_refusal(request, actor):
            raise PrivacyError(refusal)
        own = _OwnName(request)
        _refuse_own_name(own, terms)
        data = _data_of(request)
        replaced = _names_withheld(data["mentions"], terms, own)
        total = sum(count for _, count, _ in replaced)
        if total:
            data["names_withheld"] = data.get("names_withheld", 0) + total
            request.archive_sealed = seal(request, _zipped(data))
            request.save(update_fields=["archive_sealed"])
        details = {"terms": len(terms), "replaced": total}
        record_step(request, actor, AuditEvent.Action.DSR_ARCHIVE_WITHHELD, details)
    return replaced


#: Titles before a name, left out when a run of words is matched against the person's name.
_TITLES = frozenset({"dr", "mr", "mrs", "ms", "mx", "miss", "prof", "sir", "dame"})
_WORD = re.compile(r"[\w'’.-]+")


class _OwnName:
    """The person's name as the request knows it: its keyed hashes, and their account's."""

    def __init__(self, request: SubjectRequest) -> None:
        self.digests = set(request.digests)
        self.account = (
            canonical("PERSON", request.subject_user.full_name) if request.subject_user else ""
        )

    def is_theirs(self, words: list[str]) -> bool:
        """Whether ``words`` (a run of the text's, a title before them left out) are their name."""
        while words and words[0].casefold().rstrip(".") in _TITLES:
            words = words[1:]
        if words:
            words[-1] = re.sub(r"['’]s$", "", words[-1])
        name = " ".join(words)
        return bool(name) and (
            digest_of("name", name) in self.digests
            or (bool(self.account) and canonical("PERSON", name) == self.account)
        )

    def holds(self, term: str) -> bool:
        """Whether ``term`` is their name, holds it, or is a part of their account's name, read
        as it is matched ("Ａｌｉｃｅ" is Alice)."""
        words = normalise(term).text.split()
        runs = (words[a:b] for a in range(len(words)) for b in range(a + 1, len(words) + 1))
        account = self.account.split()
        return any(self.is_theirs(list(run)) for run in runs) or (
            bool(account) and all(canonical("PERSON", word) in account for word in words)
        )


def _refuse_own_name(own: _OwnName, terms: list[str]) -> None:
    for term in terms:
        if own.holds(term):
            raise FieldRefused(
                "terms",
                f"“{term}” is, or is part of, the name of the person the copy is for: what "
                "names them is theirs to see. Give other people's names only.",
            )


def _theirs(text: str, start: int, end: int, own: _OwnName) -> bool:
    """Whether ``text[start:end]`` lies within the person's own name as the text writes it:
    a run of at most four words around it ("Dr Alice Example") that is their name."""
    words = list(_WORD.finditer(text))
    inside = [n for n, word in enumerate(words) if word.start() < end and word.end() > start]
    if not inside:
        return False
    first, last = inside[0], inside[-1]
    return any(
        own.is_theirs([word.group() for word in words[a : b + 1]])
        for a in range(max(0, last - 3), first + 1)
        for b in range(last, min(len(words), a + 4))
    )


def _names_withheld(
    mentions: list[dict], terms: list[str], own: _OwnName
) -> list[tuple[str, int, int]]:
    """Withhold ``terms`` in ``mentions`` (changed in place), longest first so that "Tom"
    finds no half of "Tom Baker"; what the copy already withholds stays whole, so "person"
    leaves "[another person's email address]" alone, and so does the person's own name."""
    longest_first = sorted(terms, key=len, reverse=True)
    either = re.compile(
        "|".join(
            [
                f"(?P<kept>{_ALREADY_WITHHELD.pattern})",
                *(
                    f"(?P<term{n}>{literal_patterns([term])[0].pattern})"
                    for n, term in enumerate(longest_first)
                ),
            ]
        ),
        re.IGNORECASE,
    )
    counts, kept = Counter(), Counter()

    def withheld(text: str) -> str:
        # Read as the detectors read it ("Ｔｏｍ Ｂａｋｅｒ" is Tom Baker), replaced as typed.
        readable = normalise(text)
        where = []
        for match in either.finditer(readable.text):
            if match.lastgroup == "kept":
                continue
            if _theirs(readable.text, match.start(), match.end(), own):
                kept[match.lastgroup] += 1
                continue
            counts[match.lastgroup] += 1
            where.append(readable.span(*match.span()))
        return replace_spans(text, where, NAME_WITHHELD)

    for mention in mentions:
        for key in MENTION_TEXTS:
            if mention.get(key):
                mention[key] = withheld(mention[key])
    group = {term: f"term{n}" for n, term in enumerate(longest_first)}
    return [(term, counts[group[term]], kept[group[term]]) for term in terms]


def withholdings(request: SubjectRequest) -> list[dict]:
    """Each time names were withheld from the request's archive: how many terms, how many
    replacements, by whom and when (the trail's counts: the terms are kept nowhere)."""
    events = AuditEvent.objects.filter(
        action=AuditEvent.Action.DSR_ARCHIVE_WITHHELD,
        target_type=SubjectRequest._meta.label_lower,
        target_id=str(request.public_id),
    ).order_by("sequence")
    return [
        {
            "terms": event.details.get("terms", 0),
            "replaced": event.details.get("replaced", 0),
            "by": event.actor_label,
            "at": event.occurred_at,
        }
        for event in events
    ]


def record_download(request: SubjectRequest, reader: User, what: str) -> None:
    """Record that ``reader`` read the request's ``what`` (its archive, receipt or mentions),
    and whether they are the person it is about."""
    with transaction.atomic():
        record(
            action=AuditEvent.Action.DSR_DOWNLOADED,
            actor=reader,
            target=request,
            details={"what": what, "by_subject": access.is_about(request, reader)},
        )


def mentions_to_check(
    request: SubjectRequest, *, reader: User, recorded: bool = True
) -> list[dict]:
    """The archive's mentions as an officer reads them before release, each with
    ``parts``: its text as ``(text, withheld)`` pairs, what the copy withholds marked. The
    reading is recorded, as a download of the archive is, when ``recorded`` (once per visit:
    not again as the page comes back after a withholding)."""
    mentions = _data_of(request)["mentions"]
    if recorded:
        record_download(request, reader, "mentions")
    for mention in mentions:
        text = next((mention[key] for key in MENTION_TEXTS if mention.get(key)), "")
        mention["parts"] = _parts(text)
    return mentions


def _parts(text: str) -> list[tuple[str, bool]]:
    """``text`` cut where the copy withholds something, each piece with whether it is."""
    parts, reached = [], 0
    for match in _ALREADY_WITHHELD.finditer(text):
        if match.start() > reached:
            parts.append((text[reached : match.start()], False))
        parts.append((match.group(), True))
        reached = match.end()
    if reached < len(text):
        parts.append((text[reached:], False))
    return parts


def drop_expired() -> int:
    """Drop the archives kept ``ARCHIVE_KEEP_DAYS`` since their request completed, with the
    keyed hashes of who they held; how many. Each is recorded on its request (counts only)."""
    now = timezone.now()
    expired = SubjectRequest.objects.filter(
        kind=SubjectRequest.Kind.ACCESS,
        status=SubjectRequest.Status.COMPLETED,
        completed_at__lt=now - dt.timedelta(days=ARCHIVE_KEEP_DAYS),
    ).exclude(archive_sealed=b"")
    dropped = 0
    for request in expired.only("pk", "public_id", "reference", "kind"):
        with transaction.atomic():
            cleared = (
                SubjectRequest.objects.filter(pk=request.pk)
                .exclude(archive_sealed=b"")
                .update(archive_sealed=b"", archive_dropped_at=now, archive_digests=[])
            )
            if cleared:
                record(
                    action=AuditEvent.Action.RETENTION_PURGED,
                    target=request,
                    details={"kind": request.kind, "archives": 1, "kept_days": ARCHIVE_KEEP_DAYS},
                )
        dropped += cleared
    return dropped


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


def _held_on_account(user: User) -> dict:
    """What Steward keeps on a staff member besides their conversations."""
    return {
        "clearances": _clearances(user),
        "policy_acknowledgements": [
            {
                "document": f"{ack.document.title} (version {ack.document.version})",
                "acknowledged_at": ack.acknowledged_at.isoformat(),
            }
            for ack in user.acknowledgements.select_related("document")
        ],
        "quiz_attempts": _quiz_attempts(user),
        "api_tokens": [
            {
                "name": token.name,
                "created_at": token.created_at.isoformat(),
                "expires_at": _iso(token.expires_at),
                "last_used_at": _iso(token.last_used_at),
                "revoked_at": _iso(token.revoked_at),
                "status": token.status,
            }
            for token in user.api_tokens.all()
        ],
        "audit_activity": _audit_activity(user),
    }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _clearances(user: User) -> list[dict]:
    """The categories the person may use, and through what: themselves or a group."""
    from governance.models import Clearance

    clearances = Clearance.objects.for_user(user).select_related("category", "group")
    return [
        {
            "category": clearance.category.name,
            "through": f"the group {clearance.group.name}" if clearance.group else "you",
            "granted_at": clearance.granted_at.isoformat(),
        }
        for clearance in clearances.order_by("category__number", "granted_at")
    ]


def _quiz_attempts(user: User) -> list[dict]:
    """Each go at a quiz: score, pass or fail, and each answer as it was shown."""
    from governance.models import Category
    from training.models import QuizQuestion

    attempts = list(user.quiz_attempts.all())
    asked = {key for attempt in attempts for key in attempt.answers}
    questions = {
        str(question.public_id): question
        for question in QuizQuestion.objects.filter(public_id__in=_uuids(asked))
    }
    categories = {c.number: f"{c.number} · {c.name}" for c in Category.objects.all()}
    return [
        {
            "quiz": categories.get(attempt.category_number, f"category {attempt.category_number}"),
            "taken_at": attempt.taken_at.isoformat(),
            "score": f"{attempt.score}/{attempt.total}",
            "pass_percent": attempt.pass_percent,
            "passed": attempt.passed,
            "answers": [
                _answer(questions.get(key), given, categories)
                for key, given in attempt.answers.items()
            ],
        }
        for attempt in attempts
    ]


def _uuids(keys) -> list[uuid.UUID]:
    found = []
    for key in keys:
        try:
            found.append(uuid.UUID(key))
        except ValueError:
            continue
    return found


def _answer(question, given: int | None, categories: dict[int, str]) -> dict:
    """One answer as the person saw it: the question's prompt and the option they chose."""
    if question is None:
        return {"question": "(a question since removed)", "answer": given}
    label = "no answer" if given is None else given
    if isinstance(given, int) and question.kind == question.Kind.WHICH_CATEGORY:
        label = categories.get(given, f"category {given}")
    elif isinstance(given, int) and 0 <= given < len(question.options):
        label = question.options[given]
    return {"question": question.prompt, "answer": label}


def _audit_activity(user: User) -> list[dict]:
    """What the person did, as the audit trail records it: each kind of action, how many
    times, first and last. Metadata only: the trail never holds message text."""
    rows = (
        AuditEvent.objects.filter(actor=user)
        .order_by()
        .values("action")
        .annotate(times=Count("sequence"), first=Min("occurred_at"), last=Max("occurred_at"))
        .order_by("action")
    )
    labels = dict(AuditEvent.Action.choices)
    return [
        {
            "action": labels.get(row["action"], row["action"]),
            "times": row["times"],
            "first": row["first"].isoformat(),
            "last": row["last"].isoformat(),
        }
        for row in rows
    ]


def _mention(row: SubjectMention, digests: set[str]) -> dict:
    """A message (or title) someone else wrote that names the subject, with the other
    people it names withheld."""
    conversation, message = row.conversation, row.message
    mention = {
        "date": (message or conversation).created_at.isoformat(),
        "category": conversation.category.name,
        "identifier_kind": row.kind,
    }
    if message is None:
        mention["title"] = _others_withheld(conversation.title, digests)
    else:
        mention["text"] = _others_withheld(message.content, digests)
    return mention


def _answers_naming(request: SubjectRequest, digests: set[str]) -> list[tuple[dict, list[str]]]:
    """The models' answers, in the other people's conversations the copy holds, that name the
    subject once their placeholders are restored, each with the kinds of the subject's
    identifiers it names: the subject index covers what people wrote, not the answers, yet
    an answer that echoes "[EMAIL_1]" back is about them too.

    Each answer is read with the detector chat indexes messages with, and its identifiers
    hashed the same way (:func:`chat.services.subject_digests`)."""
    mentioned = (
        SubjectMention.objects.filter(digest__in=request.digests)
        .exclude(conversation__owner_id=request.subject_user_id)
        .values("conversation_id")
    )
    conversations = (
        Conversation.objects.filter(pk__in=mentioned)
        .select_related("category")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.filter(role=Message.Role.ASSISTANT),
                to_attr="answers",
            )
        )
    )
    found = []
    for conversation in conversations.iterator(chunk_size=CHUNK):
        restorer = Pseudonymiser(conversation.pseudonyms())
        for answer in conversation.answers:
            answer.conversation = conversation
            text = restorer.restore(answer.content)
            if not text:
                continue
            detection = detect(text)
            kinds = [
                kind
                for digest, kind in subject_digests(text, detection).items()
                if digest in digests
            ]
            if kinds:
                told = {
                    "date": answer.created_at.isoformat(),
                    "category": conversation.category.name,
                    "identifier_kind": kinds[0],
                    "answer": _others_withheld(text, digests, detection=detection),
                }
                found.append((told, kinds))
    return found


def _others_withheld(text: str, digests: set[str], *, detection: Detection | None = None) -> str:
    """``text`` with each identifier the detector finds in it that is not the subject's
    (its keyed hash is not one of ``digests``) replaced by what it is: "[another person's
    phone number]". The subject's own stay; links stay (they are harmless as the rules
    count them). ``detection``: ``text``'s, when already made."""
    if not text:
        return text
    detection = detection or detect(text)
    cuts, reached = [], 0
    for finding in sorted(detection.scan.findings, key=lambda f: (f.start, -f.end)):
        kind = str(finding.type)
        if finding.start < reached or kind in HARMLESS_TYPES:
            continue  # inside one already kept or cut
        reached = finding.end
        if pseudonym(canonical(kind, text[finding.start : finding.end])) not in digests:
            cuts.append((finding.start, finding.end, kind))
    for start, end, kind in reversed(cuts):
        text = text[:start] + _withheld(kind) + text[end:]
    return text


def _withheld(kind: str) -> str:
    """What stands in the copy for an identifier of someone else's, or a secret."""
    if kind in SECRET_TYPES:
        return "[a secret or credential, withheld]"
    if kind == "PROTECTED_TERM":
        return "[a protected term, withheld]"
    return f"[another person's {disclosure.kind_in_words(kind)}]"


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
                # As the person's own export has it: never put back inside an address.
                "text": restore_outside_links(text, restorer.values())
                if message.role == Message.Role.ASSISTANT
                else text,
            }
        )
    return {
        "title": conversation.title,
        "category": conversation.category.name,
        "started": conversation.created_at.isoformat(),
        "messages": messages,
    }
