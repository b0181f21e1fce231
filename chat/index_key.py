"""Whether the subject index is still read with the key it was written with.

``STEWARD_SUBJECT_INDEX_KEY`` (``SECRET_KEY`` when unset) keys every identifier's digest.
Changed, the index silently finds nobody, and what is written under the new key is found
by nobody once the right key is back: so its fingerprint is kept, and under another key
the web server and the workers refuse to start, ``migrate`` (which every start of
``serve`` runs) fails its checks, and recording or scoping a request is refused. An index
with nothing in it takes the key set now when a process starts (:func:`settle`);
``manage.py subject_index_key --stamp`` takes it when the fingerprint itself was taken
under a wrong key. A database that cannot be reached is an error here, never a pass.
"""

from django.core import checks
from django.db import DatabaseError, connection, transaction

from audit.services import pseudonym
from chat.models import SubjectIndexKey, SubjectMention

STAMP_PK = 1
_TAKE_IT = " If the key set now is the right one, run manage.py subject_index_key --stamp."
CHANGED = (
    "The subject index was written with another key than the one set now "
    "(STEWARD_SUBJECT_INDEX_KEY, or SECRET_KEY when that is not set): no data-subject request "
    "would find anyone it holds. Set STEWARD_SUBJECT_INDEX_KEY to the key it was written "
    "with (the SECRET_KEY of that time) and restart." + _TAKE_IT
)
UNKNOWN = (
    "The subject index holds entries but no record of the key they were written with, so "
    "Steward cannot tell whether the key set now (STEWARD_SUBJECT_INDEX_KEY, or SECRET_KEY "
    "when that is not set) finds them." + _TAKE_IT
)


def fingerprint() -> str:
    """The key's keyed hash of a fixed text: tells keys apart, reveals nothing of them."""
    return pseudonym("steward subject index key")


def _migrated() -> bool:
    """Whether the index's tables exist (a database that cannot be reached raises)."""
    return SubjectIndexKey._meta.db_table in connection.introspection.table_names()


def refusal() -> str | None:
    """Why the index may not be read or written under the key set now (:data:`CHANGED`,
    :data:`UNKNOWN`), or None. Writes nothing; an empty index, or one not migrated yet,
    is no reason."""
    if not _migrated() or not SubjectMention.objects.exists():
        return None
    return _against_stored()


def settle() -> str | None:
    """:func:`refusal`, after giving an empty index the key set now (at each start)."""
    if not _migrated():
        return None
    if SubjectMention.objects.exists():
        return _against_stored()
    if _stored() != fingerprint():
        stamp()
    return None


def _stored() -> str | None:
    return SubjectIndexKey.objects.values_list("fingerprint", flat=True).first()


def _against_stored() -> str | None:
    stored = _stored()
    if stored is None:
        return UNKNOWN
    return None if stored == fingerprint() else CHANGED


def stamp() -> None:
    """Take the key set now as the one the index is written with."""
    with transaction.atomic():
        SubjectIndexKey.objects.exclude(pk=STAMP_PK).delete()
        SubjectIndexKey.objects.update_or_create(
            pk=STAMP_PK, defaults={"fingerprint": fingerprint()}
        )


def after_migrate(sender=None, **kwargs) -> None:
    """``post_migrate`` (migrate, and a flush): an empty index takes the key set now."""
    if kwargs.get("using", "default") == "default":
        settle()


@checks.register(checks.Tags.database)
def check_index_key(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """``migrate`` and ``check --database default``: refuse to go on under another key."""
    if not databases:
        return []
    try:
        refused = refusal()
    except DatabaseError as exc:
        return [checks.Error(unreachable(exc), id="steward.E102")]
    return [checks.Error(refused, id="steward.E101")] if refused else []


def unreachable(exc: DatabaseError) -> str:
    """What stopped the check, in words a wrong ``DATABASE_URL`` is found by: which database
    (its address, never its password) and the driver's own message, on one line. Only the
    error's type was said ("OperationalError"), for a wrong host, port or name alike."""
    database = connection.settings_dict
    if database["HOST"]:
        port = f":{database['PORT']}" if database["PORT"] else ""
        where = f"{database['HOST']}{port}/{database['NAME']}"
    else:
        where = str(database["NAME"])  # SQLite's file, or a local socket's database
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if database.get("PASSWORD"):  # psycopg's messages do not quote it: withheld all the same
        reason = reason.replace(database["PASSWORD"], "[password withheld]")
    return (
        f"The database in DATABASE_URL ({where}) could not be reached, so the subject "
        f"index's key could not be checked: {reason}"
    )
