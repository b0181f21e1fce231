"""The identifiers a request was received with, as its receipt event counts them by kind:
what a follow-up erasure must give again, and the refusal that says, in words, which are
missing."""

from collections import Counter

from django.core.exceptions import NON_FIELD_ERRORS

from audit.models import AuditEvent
from privacy import purge, scope
from privacy.models import SubjectRequest
from privacy.services.common import IdentifiersMissing

#: Each kind of identifier as a refusal names one, and several, in the finish form's order.
IDENTIFIER_WORDS = {
    "email": ("email address", "email addresses"),
    "phone": ("phone number", "phone numbers"),
    "name": ("name", "names"),
    "other": ("other identifier", "other identifiers"),
}


def _refuse_missing(
    original: SubjectRequest,
    *,
    identifiers: list[tuple[str, str]],
    typed: list[tuple[str, str]],
) -> None:
    """Refuse a follow-up of ``original`` unless ``identifiers`` match each of its keyed
    hashes; the refusal goes beside the field of the first kind missing, with how many of it
    (``typed``: those the officer gave, of which one may be spelled otherwise than before).

    The hashes say how many are missing, not of which kind, nor what they were. The kinds
    come from the first's receipt event, one per identifier it named: a kind of which fewer
    match now than it named is missing that many. When those add up to the hashes missing,
    the refusal names each kind and its count ("1 email address (of 2)"); otherwise (the
    trail no longer holds the event, or it was recorded when the event named each kind once)
    it gives their number only.
    """
    wanted = set(original.digests)
    found = {scope.digest_of(kind, value): kind for kind, value in identifiers}
    missing = wanted - set(found)
    if not missing:
        return
    named = _identifiers_named(original)
    matched = Counter(kind for digest, kind in found.items() if digest in wanted)
    short = {kind: named[kind] - matched[kind] for kind in IDENTIFIER_WORDS}
    short = {kind: number for kind, number in short.items() if number > 0}
    if sum(short.values()) != len(missing):
        raise IdentifiersMissing(
            next(iter(short), NON_FIELD_ERRORS),
            f"The original erasure also named {purge.counted(len(missing), 'identifier')} not "
            f"given here: give every identifier it named as it was given for "
            f"{original.reference}.",
            missing=len(missing),
        )
    missed, asked = [], []
    for kind, number in short.items():
        of = named[kind]
        missed.append(_counted(kind, number) + (f" (of {of})" if of > number else ""))
        asked.append(
            IDENTIFIER_WORDS[kind][0] if of == 1 else f"{_counted(kind, of)} (one per line)"
        )
    alone = len(short) == 1 and named[next(iter(short))] == 1
    refusal = (
        f"The original erasure also named {_listed(missed)} not given here: give the "
        f"subject's {_listed(asked)} as {'it was' if alone else 'they were'} given for "
        f"{original.reference}."
    )
    refusal += "".join(f" {said}" for said in _not_named(typed, wanted, named, short))
    raise IdentifiersMissing(next(iter(short)), refusal, missing=len(missing))


def _not_named(
    typed: list[tuple[str, str]], wanted: set[str], named: Counter, short: dict[str, int]
) -> list[str]:
    """What the officer typed of each kind still ``short`` that the first did not name, in
    words ("The name given here is not the one it named."), never the value."""
    given = {scope.digest_of(kind, value): kind for kind, value in typed}
    each = Counter(given.values())
    other = Counter(kind for digest, kind in given.items() if digest not in wanted)
    said = []
    for kind in short:
        one, several = IDENTIFIER_WORDS[kind]
        if not other[kind]:
            continue
        if each[kind] == 1:
            the_one = "the one" if named[kind] == 1 else "one"
            said.append(f"The {one} given here is not {the_one} it named.")
        else:
            verb = "is" if other[kind] == 1 else "are"
            said.append(
                f"{other[kind]} of the {each[kind]} {several} given here {verb} not among "
                "those it named."
            )
    return said


def _counted(kind: str, number: int) -> str:
    """``number`` identifiers of ``kind`` in words: "1 email address", "2 email addresses"."""
    one, several = IDENTIFIER_WORDS[kind]
    return f"{number} {one if number == 1 else several}"


def _identifiers_named(request: SubjectRequest) -> Counter:
    """How many identifiers of each kind ``request`` was received with, as its receipt event
    records them (one kind each); none if the trail no longer holds it."""
    return Counter(_as_received(request, "identifier_kinds") or ())


def _as_received(request: SubjectRequest, detail: str):
    """``detail`` of ``request``'s receipt event (None if the trail does not hold it)."""
    return (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.DSR_RECEIVED,
            target_type=SubjectRequest._meta.label_lower,
            target_id=str(request.public_id),
        )
        .values_list(f"details__{detail}", flat=True)
        .first()
    )


def _finished(request: SubjectRequest) -> set[str]:
    """The references of the requests ``request`` finishes, a follow-up erasure's original
    and that one's, as their receipt events name them."""
    found: set[str] = set()
    while (original := _as_received(request, "follows")) and original not in found:
        found.add(original)
        request = SubjectRequest.objects.filter(reference=original).only("public_id").first()
        if request is None:
            break
    return found


def _listed(words: list[str]) -> str:
    """Words joined as a sentence lists them: "a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
