"""argon2id checks: libsodium and argon2-cffi agree on every hash the server makes or meets.

Ref: RFC 9106 3.1 (the encoded parameters), docs/architecture.md "Passwords".
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from imap_store.store import passwords
from imap_store.store.passwords import Argon2Params, PasswordHashing

FLOOR = Argon2Params(memory_kib=19456, time_cost=2, parallelism=1)


@pytest.mark.parametrize("parallelism", [1, 4])
def test_hashes_of_any_parallelism_verify_through_libsodium(parallelism: int) -> None:
    hashing = PasswordHashing(Argon2Params(19456, 2, parallelism))
    stored = hashing.hash_now("mot de passe é")
    assert passwords._sodium_verify(stored, "mot de passe é") is True
    assert passwords._sodium_verify(stored, "mot de passe e") is False
    assert hashing.verify_now(stored, "mot de passe é").ok
    assert not hashing.verify_now(stored, "autre").ok


def test_a_hash_of_other_parameters_verifies_and_asks_for_a_rehash() -> None:
    stored = PasswordHashing(Argon2Params(19456, 2, 4)).hash_now("secret")
    result = PasswordHashing(Argon2Params(19456, 3, 1)).verify_now(stored, "secret")
    assert result.ok and result.needs_rehash


def test_a_hash_too_long_for_libsodium_is_checked_by_argon2_cffi() -> None:
    stored = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1,
                            hash_len=64, salt_len=32).hash("secret")
    assert len(stored) > 127
    assert passwords._sodium_verify(stored, "secret") is None
    hashing = PasswordHashing(FLOOR)
    assert hashing.verify_now(stored, "secret").ok
    assert not hashing.verify_now(stored, "secreT").ok


def test_argon2i_hashes_are_checked_by_argon2_cffi() -> None:
    from argon2 import Type
    stored = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1,
                            type=Type.I).hash("secret")
    assert stored.startswith("$argon2i$")
    hashing = PasswordHashing(FLOOR)
    assert hashing.verify_now(stored, "secret").ok
    assert not hashing.verify_now(stored, "other").ok


@pytest.mark.parametrize("stored", [None, "", "garbage", "$argon2id$v=19$m=19456,t=2,p=1$xx$yy",
                                    "$argon2id$é"])
def test_no_hash_or_a_damaged_one_never_verifies(stored: str | None) -> None:
    assert not PasswordHashing(FLOOR).verify_now(stored, "secret").ok


def test_a_password_that_is_not_valid_unicode_text_never_verifies() -> None:
    hashing = PasswordHashing(FLOOR)
    stored = hashing.hash_now("secret")
    assert not hashing.verify_now(stored, "\udcff").ok
