"""Secret hashing: argon2id for human passwords, keyed HMAC for app passwords.

Invariants:
- Human passwords are argon2id hashes, verified in a worker thread, never on
  the event loop; an unknown account costs the same hash work (a dummy hash).
- App passwords are random (>= 192 bits), so a fast keyed hash suffices:
  HMAC-SHA256 under a key derived from the KEK; the secret is shown once.

Ref: docs/architecture.md "Passwords"; RFC 9106 (argon2id); RFC 2104 (HMAC).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("mss-server: not a real password")
APP_PASSWORD_BYTES = 24


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True only for a real hash matching; a missing hash costs the same work."""
    return await asyncio.to_thread(_verify, stored, password)


def new_app_secret() -> str:
    return secrets.token_urlsafe(APP_PASSWORD_BYTES)


def app_secret_hash(key: bytes, secret: str) -> str:
    return hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()
