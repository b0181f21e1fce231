import secrets

import pytest

from governance import crypto
from governance.crypto import SealError, open_sealed, seal


def _key() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(autouse=True)
def _fresh_key_cache():
    crypto._keys.cache_clear()
    yield
    crypto._keys.cache_clear()


def test_it_seals_and_opens(settings):
    settings.STEWARD_MASTER_KEY = _key()
    blob = seal(b"api-key-123", context=b"backend:1")
    assert b"api-key-123" not in blob
    assert open_sealed(blob, context=b"backend:1") == b"api-key-123"


def test_a_blob_moved_to_another_row_does_not_open(settings):
    settings.STEWARD_MASTER_KEY = _key()
    blob = seal(b"secret", context=b"backend:1")
    with pytest.raises(SealError, match="tampered, or moved"):
        open_sealed(blob, context=b"backend:2")


def test_a_tampered_blob_does_not_open(settings):
    settings.STEWARD_MASTER_KEY = _key()
    blob = bytearray(seal(b"secret", context=b"c"))
    blob[-1] ^= 1
    with pytest.raises(SealError):
        open_sealed(bytes(blob), context=b"c")


def test_rotation_keeps_old_blobs_readable_and_seals_with_the_new_key(settings):
    old, new = _key(), _key()
    settings.STEWARD_MASTER_KEY = old
    blob = seal(b"secret", context=b"c")
    crypto._keys.cache_clear()
    settings.STEWARD_MASTER_KEY = f"{new},{old}"
    assert open_sealed(blob, context=b"c") == b"secret"
    assert not crypto.sealed_with_current_key(blob)
    assert crypto.sealed_with_current_key(seal(b"x", context=b"c"))
    crypto._keys.cache_clear()
    settings.STEWARD_MASTER_KEY = new
    with pytest.raises(SealError, match="no longer configured"):
        open_sealed(blob, context=b"c")


def test_garbage_is_refused(settings):
    with pytest.raises(SealError, match="not a sealed blob"):
        open_sealed(b"hello", context=b"c")


def test_term_lists_are_stored_sealed(db):
    from governance.models import ProtectedTermList

    terms = ProtectedTermList(name="Clients", kind="client")
    terms.set_terms(["Acme Corp", " Globex ", "", "acme corp", "Initech"])
    terms.save()
    stored = ProtectedTermList.objects.get(pk=terms.pk)
    assert b"Globex" not in bytes(stored.terms_sealed)
    assert stored.term_count == 4  # blanks dropped; exact duplicates folded
    assert stored.terms() == ["Acme Corp", "acme corp", "Globex", "Initech"]
