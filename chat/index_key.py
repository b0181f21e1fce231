"""Whether the subject index is still read with the key it was written with.

``STEWARD_SUBJECT_INDEX_KEY`` (``SECRET_KEY`` when unset) keys every identifier's digest.
Changed, the index silently finds nobody: so its fingerprint is kept, a scope is refused
under another key, and ``migrate`` (which every start of ``serve`` runs) fails its checks.
An index with nothing in it takes today's key.
"""

from django.core import checks
from django.db import DatabaseError

from audit.services import pseudonym
from chat.models import SubjectIndexKey, SubjectMention

CHANGED = (
    "The subject index was written with another key than the one set now "
    "(STEWARD_SUBJECT_INDEX_KEY, or SECRET_KEY when that is not set): no data-subject request "
    "would find anyone it holds. Set STEWARD_SUBJECT_INDEX_KEY to the key it was written "
    "with (the SECRET_KEY of that time) and restart."
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
    SubjectIndexKey.objects.all().delete()
    SubjectIndexKey.objects.create(fingerprint=fingerprint())
    return False


@checks.register(checks.Tags.database)
def check_index_key(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """``migrate`` and ``check --database default``: refuse to go on under another key."""
    if not databases:
        return []
    try:
        stored = _stored()
        written = stored is not None and SubjectMention.objects.exists()
    except DatabaseError:  # not migrated yet
        return []
    if written and stored != fingerprint():
        return [checks.Error(CHANGED, id="steward.E101")]
    return []
