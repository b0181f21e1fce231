"""Sessions in the database, as Django's own, read with SQL built once.

Every request of a signed-in user reads its session first: the ORM spent about
0.7 ms building a query that runs in 0.2.
"""

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from config.rows import Prebuilt

_UNEXPIRED = Prebuilt(
    [(Session, "s")],
    lambda: f"{Session._meta.db_table} s WHERE s.session_key = %s AND s.expire_date > %s",
)


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Session | None:
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        found = _UNEXPIRED.one([self.session_key, now])
        if found is None:
            self._session_key = None  # as Django's: an unknown or expired key is dropped
            return None
        return found[0]
