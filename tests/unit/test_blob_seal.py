"""The message blob sealed in chunks is the blob one AES-GCM call gives.

Ref: NIST SP 800-38D (GCM); docs/architecture.md "Encryption at rest".
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from imap_store.store.crypto import (
    BLOB_VERSION,
    NONCE_LEN,
    SEAL_CHUNK,
    DataKey,
    DecryptionError,
    blob_aad,
)

SIZES = (0, 1, 16, 17, SEAL_CHUNK - 1, SEAL_CHUNK, SEAL_CHUNK + 1, 3 * SEAL_CHUNK + 5)


@pytest.mark.parametrize("size", SIZES)
def test_chunked_seal_is_one_shot_aes_gcm(size: int) -> None:
    key = DataKey(7, 1, os.urandom(32))
    plaintext = os.urandom(size)
    blob = key.seal("c1", plaintext)
    nonce = blob[1 : 1 + NONCE_LEN]
    assert blob == BLOB_VERSION + nonce + AESGCM(key.key).encrypt(
        nonce, plaintext, blob_aad(7, "c1", 1))
    assert key.open("c1", blob) == plaintext


def test_sealed_blob_is_bound_to_its_content_id() -> None:
    key = DataKey(7, 1, os.urandom(32))
    with pytest.raises(DecryptionError):
        key.open("c2", key.seal("c1", b"x" * (SEAL_CHUNK + 3)))
