"""Envelope encryption of message contents.

Owns: the `KeyProvider` interface and its file-backed KEK, data-key wrapping,
and the blob format.

Invariants:
- The KEK (32 random bytes, file mode 0600) never leaves this module and is
  never written elsewhere; a data key is stored only wrapped by it, with AAD
  binding the BAL id and key version (a key row moved to another BAL fails).
- A blob is `b"\\x01" || nonce(12) || AES-256-GCM(ciphertext || tag)` with AAD
  `mss-msg|<bal_id>|<content_id>|<key_version>`: a blob copied to another BAL
  or row does not decrypt.
- Plaintext is never logged.

Ref: docs/architecture.md "Encryption at rest"; NIST SP 800-38D (GCM, 96-bit nonces).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BLOB_VERSION = b"\x01"
NONCE_LEN = 12
KEY_LEN = 32
SEAL_CHUNK = 1 << 20


class DecryptionError(Exception):
    """A blob or wrapped key failed authentication, or its key is gone."""


class KeyProvider(Protocol):
    """Wraps and unwraps data keys (the KEK file here; a KMS or HSM fits the same protocol)."""

    @property
    def kek_id(self) -> str: ...

    def wrap(self, data_key: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes: ...

    def derive(self, label: bytes) -> bytes: ...


def generate_kek_file(path: Path) -> None:
    """Write a new random KEK with mode 0600 (refuses to overwrite)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(os.urandom(KEY_LEN))


class FileKeyProvider:
    """A KEK read from a 0600 file; refuses a file others can read."""

    def __init__(self, path: Path) -> None:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PermissionError(f"KEK file {path} must not be readable by group/others")
        key = path.read_bytes()
        if len(key) != KEY_LEN:
            raise ValueError(f"KEK file {path} must hold exactly {KEY_LEN} bytes")
        self._aead = AESGCM(key)
        self._key = key
        self._id = hashlib.sha256(b"mss-kek-id|" + key).hexdigest()[:16]

    @property
    def kek_id(self) -> str:
        return self._id

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_LEN)
        return nonce + self._aead.encrypt(nonce, data_key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:NONCE_LEN], wrapped[NONCE_LEN:], aad)
        except InvalidTag as exc:
            raise DecryptionError("data key failed to unwrap") from exc

    def derive(self, label: bytes) -> bytes:
        """A 256-bit key for another purpose (HKDF-SHA256, RFC 5869), never the KEK."""
        return HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=None,
                    info=b"mss-server|" + label).derive(self._key)


def key_aad(bal_id: int, version: int) -> bytes:
    return f"mss-dek|{bal_id}|{version}".encode()


def blob_aad(bal_id: int, content_id: str, key_version: int) -> bytes:
    return f"mss-msg|{bal_id}|{content_id}|{key_version}".encode()


@dataclass(frozen=True)
class DataKey:
    """An unwrapped data key of one BAL at one version."""

    bal_id: int
    version: int
    key: bytes

    def seal(self, content_id: str, plaintext: bytes) -> bytes:
        """The blob of `plaintext`. `cryptography` holds the GIL for the whole of
        one AES-GCM call, so the plaintext is encrypted in `SEAL_CHUNK` steps
        (the same bytes as one call) and other threads run between steps; a
        plaintext of one step takes the one-shot call (half the cost per message)."""
        nonce = os.urandom(NONCE_LEN)
        aad = blob_aad(self.bal_id, content_id, self.version)
        if len(plaintext) <= SEAL_CHUNK:  # one step: the one-shot call, same bytes
            return b"".join((BLOB_VERSION, nonce, AESGCM(self.key).encrypt(nonce, plaintext, aad)))
        gcm = Cipher(algorithms.AES(self.key), modes.GCM(nonce)).encryptor()
        gcm.authenticate_additional_data(aad)
        view = memoryview(plaintext)
        parts = [BLOB_VERSION, nonce]
        parts += [gcm.update(view[i : i + SEAL_CHUNK]) for i in range(0, len(view), SEAL_CHUNK)]
        parts += [gcm.finalize(), gcm.tag]
        return b"".join(parts)

    def open(self, content_id: str, blob: bytes) -> bytes:
        if blob[:1] != BLOB_VERSION:
            raise DecryptionError("unknown blob format")
        nonce, body = blob[1:1 + NONCE_LEN], blob[1 + NONCE_LEN:]
        try:
            return AESGCM(self.key).decrypt(
                nonce, body, blob_aad(self.bal_id, content_id, self.version))
        except InvalidTag as exc:
            raise DecryptionError("message blob failed to authenticate") from exc


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)
