"""Steward's own links to its audited pages carry the session's token (config/asked_here.py):
a test that opens one as such a link adds it."""

from urllib.parse import urlencode, urlsplit

from config.asked_here import PARAMETER, token_for_session


def asked(client, url: str, data: dict | None = None) -> str:
    """``url`` (with ``data`` as its query, if given) as Steward's pages link it for
    ``client``'s session: with its token."""
    token = token_for_session(client.session.session_key)
    query = urlencode({**(data or {}), PARAMETER: token}, doseq=True)
    return f"{url}{'&' if urlsplit(url).query else '?'}{query}"
