"""Whether the subject index is still read with the key it was written with.

``STEWARD_SUBJECT_INDEX_KEY`` (``SECRET_KEY`` when unset) keys every identifier's digest.
Changed, the index silently finds nobody, and what is written under the new key is found
by nobody once the right key is back: so its fingerprint is kept, and under another key
the web server and the workers refuse to start, ``migrate`` (which every start of
``serve`` runs) fails its checks, and recording or scoping a request is refused. An index
with nothing in it takes today's key; ``manage.py subject_index_key --stamp`` takes it
when the fingerprint itself was taken under a wrong key.
"""

from django.core import checks
from django.db import DatabaseError

from audit.services import pseudonym
from chat.models import SubjectIndexKey, SubjectMention

CHANGED = (
    "The subject index was written with another key than the one set now "
    "(STEWARD_SUBJECT_INDEX_KEY, or SECRET_KEY when that is not set): no data-subject request "
    "would find anyone it holds. Set STEWARD_SUBJECT_INDEX_KEY to the key it was written "
    "with (the SECRET_KEY of that time) and restart. If the key set now is the right one "
    "(the fingerprint was taken under a wrong one), run manage.py subject_index_key --stamp."
)


def fingerprint() -> str:
    """The key's keyed hash of a fixed text: tells keys apart, reveals nothing of them."""
    return pseudonym("steward subject index key")


def _stored() -> str | None:
    return SubjectIndexKey.objects.values_list("fingerprint", flat=True).first()


def changed() -> bool:
    """Whether the index holds digests under another key than today's. An index still
    empty (or never stamped) is stamped with today's key."""
    stored = _stored()
    if stored == fingerprint():
        return False
    if stored is not None and SubjectMention.objects.exists():
        return True
    stamp()
    return False


def refusal() -> str | None:
    """:data:`CHANGED` if the index holds digests under another key than today's (it writes
    nothing: a database not migrated yet has no index to refuse)."""
    try:
        stored = _stored()
        written = stored is not None and SubjectMention.objects.exists()
    except DatabaseError:
        return None
    return CHANGED if written and stored != fingerprint() else None


def stamp() -> None:
    """Take the key set now as the one the index is written with."""
    SubjectIndexKey.objects.all().delete()
    SubjectIndexKey.objects.create(fingerprint=fingerprint())


@checks.register(checks.Tags.database)
def check_index_key(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """``migrate`` and ``check --database default``: refuse to go on under another key."""
    if databases and (refused := refusal()):
        return [checks.Error(refused, id="steward.E101")]
    return []
