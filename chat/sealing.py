"""Per-conversation data keys: AES-256-GCM keys wrapped by the master key.

A conversation's text is sealed with its own key; the key is stored sealed
with the master key (``governance.crypto``), so rotating the master key only
re-wraps keys, never re-encrypts messages, and deleting a wrapped key makes
that conversation's text unreadable wherever a copy of it lives.

Blob layout: ``b"d1" | nonce (12 bytes) | ciphertext+tag``; the context (which
row and which field) is bound as associated data, so a blob moved onto another
row or field does not open there.
"""

import json
import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from governance import crypto

VERSION = b"d1"


class UnreadableError(Exception):
    """Text that its conversation's key does not open (tampered, moved, or key gone)."""


class DataKey:
    """One conversation's key, opened."""

    def __init__(self, raw: bytes):
        self._aead = AESGCM(raw)
        self._raw = raw

    @classmethod
    def generate(cls) -> "DataKey":
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def unwrap(cls, wrapped: bytes, conversation_id: UUID) -> "DataKey":
        try:
            return cls(crypto.open_sealed(wrapped, context=_wrap_context(conversation_id)))
        except crypto.SealError as exc:
            raise UnreadableError(f"the conversation's key does not open: {exc}") from None

    def wrap(self, conversation_id: UUID) -> bytes:
        return crypto.seal(self._raw, context=_wrap_context(conversation_id))

    def seal_text(self, text: str, context: str) -> bytes:
        nonce = os.urandom(12)
        return VERSION + nonce + self._aead.encrypt(nonce, text.encode(), context.encode())

    def open_text(self, blob, context: str) -> str:
        blob = bytes(blob or b"")
        if not blob:
            return ""
        if blob[:2] != VERSION:
            raise UnreadableError("not a sealed message")
        try:
            return self._aead.decrypt(blob[2:14], blob[14:], context.encode()).decode()
        except InvalidTag:
            raise UnreadableError("the text does not open with its conversation's key") from None

    def seal_json(self, value, context: str) -> bytes:
        return self.seal_text(json.dumps(value, ensure_ascii=False), context)

    def open_json(self, blob, context: str):
        text = self.open_text(blob, context)
        return json.loads(text) if text else None


def rewrap(wrapped: bytes, conversation_id: UUID) -> bytes:
    """The same data key, wrapped with the current (first) master key."""
    return DataKey.unwrap(wrapped, conversation_id).wrap(conversation_id)


def _wrap_context(conversation_id: UUID) -> bytes:
    return f"conversation-key:{conversation_id}".encode()
