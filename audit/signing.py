"""Ed25519 signatures for audit checkpoints.

The private key (``STEWARD_AUDIT_SIGNING_KEY``, a 32-byte seed) stays with
Steward; the public key can be handed to anyone who keeps checkpoints, so
they can check them without being able to forge new ones. Each checkpoint
names its key (``key_id``); after the signing key is replaced, the public keys
of the earlier ones (``STEWARD_AUDIT_TRUSTED_KEYS``) still check theirs.
"""

import base64
import hashlib
import json
import re
from functools import cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


#: A public key as Steward prints it: 32 bytes in URL-safe base64, unpadded (43 characters).
_PUBLIC_KEY_TEXT = re.compile(r"[A-Za-z0-9_-]{43}=?")
NOT_A_PUBLIC_KEY = (
    "the public key given is not a valid Ed25519 public key (43 characters of URL-safe "
    "base64, as manage.py audit_checkpoint --public-key prints it)"
)


def load_public_key(text: str) -> Ed25519PublicKey:
    """The Ed25519 public key ``text`` spells; ValueError (saying so) if it spells none."""
    if not _PUBLIC_KEY_TEXT.fullmatch(text):
        raise ValueError(NOT_A_PUBLIC_KEY)
    try:
        return Ed25519PublicKey.from_public_bytes(_b64decode(text.rstrip("=")))
    except ValueError:
        raise ValueError(NOT_A_PUBLIC_KEY) from None


@cache
def _private_key(seed: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_b64decode(seed))


def signing_key() -> Ed25519PrivateKey:
    return _private_key(settings.STEWARD_AUDIT_SIGNING_KEY)


def public_key_text(key: Ed25519PublicKey | None = None) -> str:
    key = key or signing_key().public_key()
    return _b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def key_id(public_key: str) -> str:
    return hashlib.sha256(public_key.encode()).hexdigest()[:16]


def trusted_public_keys() -> dict[str, str]:
    """The public keys checkpoints may be signed with, by key id: the current signing key's
    and those listed in ``STEWARD_AUDIT_TRUSTED_KEYS``."""
    keys = [*settings.STEWARD_AUDIT_TRUSTED_KEYS, public_key_text()]
    return {key_id(key): key for key in keys}


def check_trusted_keys(keys: list[str]) -> None:
    """Refuse to start with an entry of ``STEWARD_AUDIT_TRUSTED_KEYS`` that is no Ed25519
    public key: it would never match a checkpoint, and say nothing."""
    for key in keys:
        try:
            load_public_key(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"STEWARD_AUDIT_TRUSTED_KEYS: {key[:60]!r} is not an audit public key (43 "
                "characters, as manage.py audit_checkpoint --public-key printed it)"
            ) from None


def canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(payload: dict) -> str:
    return _b64encode(signing_key().sign(canonical(payload)))


def verify(payload: dict, signature: str, public_key: str) -> bool:
    """Whether ``signature`` is ``public_key``'s over ``payload``. A public key that is none
    raises ValueError: that is no forged checkpoint, and must not read as one."""
    key = load_public_key(public_key)
    try:
        key.verify(_b64decode(signature), canonical(payload))
    except (InvalidSignature, ValueError):
        return False
    return True
