"""Secret hashing: argon2id for human passwords, keyed HMAC for app passwords.

Invariants:
- Human passwords are argon2id hashes, verified in a worker thread, never on
  the event loop; an unknown account costs the same hash work (a dummy hash
  made with the configured parameters).
- An argon2id hash is verified by libsodium (PyNaCl), the implementation
  Dovecot uses: the same function of the same encoded parameters (RFC 9106
  3.1; libsodium computes the lanes one after the other), at about 40 % of
  the CPU time of argon2-cffi's on this project's machines (64 MiB, t=3:
  about 110 instead of 275 ms per login). New hashes are still made by
  argon2-cffi, which honours the configured parallelism; libsodium checks
  the ones it makes, and other argon2 variants are checked by argon2-cffi.
- New hashes use the configured parameters (`[auth] argon2_*`), never below
  `ARGON2_FLOOR`; a stored hash verifies with the parameters it carries, so
  hashes made under other parameters keep working and are flagged for rehash.
- At most `max_running` verifications (and rehashes) run at once in a process,
  each holding its slot until its worker thread has finished; a caller waits
  `wait` seconds at most for a slot, then gets `LoginUnavailable`.
- App passwords are random (>= 192 bits), so a fast keyed hash suffices:
  HMAC-SHA256 under a key derived from the KEK; the secret is shown once.

Ref: docs/architecture.md "Passwords"; RFC 9106 (argon2id); RFC 2104 (HMAC);
OWASP argon2id minimum (m=19 MiB, t=2, p=1).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import nacl.exceptions
import nacl.pwhash.argon2id
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .interfaces import LoginUnavailable

APP_PASSWORD_BYTES = 24
T = TypeVar("T")


@dataclass(frozen=True)
class Argon2Params:
    """argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile)."""

    memory_kib: int = 65536
    time_cost: int = 3
    parallelism: int = 4


ARGON2_FLOOR = Argon2Params(memory_kib=19456, time_cost=2, parallelism=1)
"""The OWASP minimum for argon2id: no configured parameter may be lower."""


@dataclass(frozen=True)
class Verified:
    ok: bool
    needs_rehash: bool = False


class PasswordHashing:
    """argon2id under one set of parameters: hashes new passwords, checks stored ones."""

    def __init__(self, params: Argon2Params = Argon2Params()) -> None:
        self.params = params
        self._hasher = PasswordHasher(time_cost=params.time_cost,
                                      memory_cost=params.memory_kib,
                                      parallelism=params.parallelism)

    @cached_property
    def _dummy(self) -> str:
        return self._hasher.hash("mss-server: not a real password")

    def hash_now(self, password: str) -> str:
        """Blocking: call it from a worker thread."""
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    def verify_now(self, stored: str | None, password: str) -> Verified:
        """Blocking: True only for a real hash matching; a missing hash costs the same work."""
        encoded = stored or self._dummy
        try:
            fast = _sodium_verify(encoded, password) if encoded.startswith(ARGON2ID_PREFIX) \
                else None
            ok = self._hasher.verify(encoded, password) if fast is None else fast
        except (VerificationError, InvalidHashError, UnicodeError):
            return Verified(False)  # a mismatch, or a stored value that is no hash
        ok = ok and stored is not None
        return Verified(ok, ok and self._hasher.check_needs_rehash(stored or ""))


ARGON2ID_PREFIX = "$argon2id$"


def _sodium_verify(encoded: str, password: str) -> bool | None:
    """libsodium's argon2id check of `password` (UTF-8, as argon2-cffi hashes it) against
    an encoded hash: False on a mismatch or a malformed hash, None for a hash it does
    not take (longer than its 127 octets, not ASCII), which argon2-cffi then checks."""
    try:
        data = encoded.encode("ascii")
    except UnicodeEncodeError:
        return None
    try:
        return bool(nacl.pwhash.argon2id.verify(data, password.encode("utf-8", "surrogatepass")))
    except nacl.exceptions.InvalidkeyError:
        return False
    except ValueError:  # nacl.exceptions.ValueError: a hash longer than libsodium reads
        return None


DEFAULT_HASHING = PasswordHashing()


class PasswordVerifier:
    """The process's argon2 work for logins, at most `max_running` at once.

    `running` and `peak` count the argon2 computations under way in worker
    threads (counted in the thread itself, so they show what the slots really
    allow), `started` those begun since start; `timed_out` counts the callers
    that waited for a slot in vain.
    """

    def __init__(self, hashing: PasswordHashing, max_running: int, wait: float) -> None:
        if max_running < 1 or wait <= 0:
            raise ValueError("max_running must be >= 1 and wait > 0")
        self.hashing = hashing
        self.max_running = max_running
        self.wait = wait
        self._slots = asyncio.Semaphore(max_running)
        self._count = threading.Lock()
        self.running = 0
        self.peak = 0
        self.started = 0
        self.timed_out = 0

    async def verify(self, stored: str | None, password: str) -> Verified:
        """Raises `LoginUnavailable` when no slot frees within `wait`."""
        await self._take_slot()
        return await self._in_thread(self.hashing.verify_now, stored, password)

    async def rehash(self, password: str) -> str | None:
        """A new hash under the configured parameters, or None when no slot is free."""
        try:
            await self._take_slot()
        except LoginUnavailable:
            return None
        return await self._in_thread(self.hashing.hash_now, password)

    async def _take_slot(self) -> None:
        try:
            async with asyncio.timeout(self.wait):
                await self._slots.acquire()
        except TimeoutError:
            self.timed_out += 1
            raise LoginUnavailable("no password verification slot within the wait") from None

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn` in a worker thread; the slot is given back when the thread is done,
        even if the caller is cancelled meanwhile."""
        work = asyncio.ensure_future(asyncio.to_thread(self._counted, fn, *args))
        work.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(work)

    def _counted(self, fn: Callable[..., T], *args: object) -> T:
        with self._count:
            self.started += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            return fn(*args)
        finally:
            with self._count:
                self.running -= 1


def new_app_secret() -> str:
    return secrets.token_urlsafe(APP_PASSWORD_BYTES)


def app_secret_hash(key: bytes, secret: str) -> str:
    return hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()
