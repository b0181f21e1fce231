"""Sealing small secrets with the master key (AES-256-GCM, from ``cryptography``).

``STEWARD_MASTER_KEY`` may list several keys, comma-separated: the first seals,
all of them open, so a new key can be put first and old blobs re-sealed at
leisure (rotation). Each blob names the key that sealed it.

Blob layout: ``b"s1" | key id (8 bytes) | nonce (12 bytes) | ciphertext+tag``.
The ``context`` (what the blob is, e.g. which backend's credential) is bound as
associated data, so a blob copied onto another row does not open there.
"""

import base64
import hashlib
import os
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

VERSION = b"s1"


class SealError(Exception):
    """A blob that no configured key opens (wrong key, wrong context, or tampered)."""


@cache
def _keys(setting: str) -> tuple[tuple[bytes, AESGCM], ...]:
    keys = []
    for text in setting.split(","):
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
        keys.append((hashlib.sha256(raw).digest()[:8], AESGCM(raw)))
    return tuple(keys)


def _current() -> tuple[bytes, AESGCM]:
    return _keys(settings.STEWARD_MASTER_KEY)[0]


def seal(plaintext: bytes, *, context: bytes) -> bytes:
    key_id, aead = _current()
    nonce = os.urandom(12)
    return VERSION + key_id + nonce + aead.encrypt(nonce, plaintext, VERSION + context)


def open_sealed(blob: bytes, *, context: bytes) -> bytes:
    if blob[:2] != VERSION or len(blob) < 2 + 8 + 12 + 16:
        raise SealError("not a sealed blob")
    key_id, nonce, body = blob[2:10], blob[10:22], blob[22:]
    for candidate_id, aead in _keys(settings.STEWARD_MASTER_KEY):
        if candidate_id == key_id:
            try:
                return aead.decrypt(nonce, body, VERSION + context)
            except InvalidTag:
                raise SealError(
                    "the blob does not open with its key (tampered, or moved)"
                ) from None
    raise SealError("sealed with a master key that is no longer configured")


def sealed_with_current_key(blob: bytes) -> bool:
    return blob[2:10] == _current()[0]


def sealed_with_a_configured_key(blob: bytes) -> bool:
    """Whether one of the configured master keys (current or older) sealed ``blob``."""
    return blob[2:10] in {key_id for key_id, _ in _keys(settings.STEWARD_MASTER_KEY)}
