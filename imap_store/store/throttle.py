"""Brute-force protection: lockout per (account, client address), delays per address,
and one attempt at a time per address.

Failures are rows in `login_failure`, so every process (and `mss` admin
verbs) sees the same counts.

Invariants (defaults from docs/architecture.md "Defaults"):
- After `max_failures` failures within `window` seconds on one (account,
  address), that pair is locked for `lockout` seconds after the last failure;
  the account stays usable from other addresses. Attempts refused because
  the pair is locked are not failures (the caller records none): the lock
  ends `lockout` seconds after the failure that set it.
- Each address waits `base * 2^(n-1)` seconds before an attempt, n being its
  failures within the window, capped at `cap` seconds.
- The caller gives the same reply whether locked, unknown or wrong.
- `LoginTurns`: in one process, an address has one attempt under way at a
  time (so one per (account, address) too): its delay, lock check, password
  check and failure record happen before the next attempt from that address
  reads the counts. Waiting for a turn is bounded in time, and the table of
  addresses holding or awaiting a turn is bounded in size and drops an
  address when its last attempt leaves; beyond either bound, the attempt gets
  `LoginUnavailable` before any password work.

Ref: docs/architecture.md "Defaults" (login lockout); OWASP authentication guidance.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from .db import Database
from .interfaces import LoginUnavailable
from .models import LoginFailure

MAX_WAITING_ADDRESSES = 4096  # above the connection caps of one process


@dataclass(frozen=True)
class ThrottleSettings:
    max_failures: int = 5
    window: float = 900.0
    lockout: float = 900.0
    delay_base: float = 0.25
    delay_cap: float = 5.0


class LoginThrottle:
    """Counts failures and answers "how long to wait" and "is this pair locked"."""

    def __init__(self, db: Database, settings: ThrottleSettings) -> None:
        self.db = db
        self.settings = settings

    async def delay(self, peer: str, now: datetime) -> float:
        since = now - timedelta(seconds=self.settings.window)
        async with self.db.read() as s:
            n = int((await s.execute(select(func.count()).select_from(LoginFailure).where(
                LoginFailure.peer == peer, LoginFailure.at >= since))).scalar_one())
        if n == 0:
            return 0.0
        return float(min(self.settings.delay_cap, self.settings.delay_base * 2 ** (n - 1)))

    async def locked(self, account: str, peer: str, now: datetime) -> bool:
        st = self.settings
        async with self.db.read() as s:
            times = list((await s.execute(select(LoginFailure.at).where(
                LoginFailure.account == account, LoginFailure.peer == peer,
                LoginFailure.at >= now - timedelta(seconds=st.window + st.lockout))
                .order_by(LoginFailure.at.desc()).limit(st.max_failures))).scalars())
        if len(times) < st.max_failures:
            return False
        last, first = _aware(times[0], now), _aware(times[-1], now)
        return (last - first).total_seconds() <= st.window and \
            (now - last).total_seconds() < st.lockout

    async def record_failure(self, account: str, peer: str, now: datetime) -> None:
        horizon = now - timedelta(seconds=2 * (self.settings.window + self.settings.lockout))
        async with self.db.write() as s:
            s.add(LoginFailure(account=account[:320], peer=peer[:64], at=now))
            await s.execute(delete(LoginFailure).where(
                LoginFailure.peer == peer, LoginFailure.at < horizon))

    async def clear(self, account: str, peer: str) -> None:
        async with self.db.write() as s:
            await s.execute(delete(LoginFailure).where(
                LoginFailure.account == account, LoginFailure.peer == peer))


@dataclass
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    attempts: int = 0


class LoginTurns:
    """One login attempt at a time per client address, in this process."""

    def __init__(self, wait: float, max_addresses: int = MAX_WAITING_ADDRESSES) -> None:
        self.wait = wait
        self.max_addresses = max_addresses
        self._turns: dict[str, _Turn] = {}

    def __len__(self) -> int:
        """Addresses with an attempt under way or waiting."""
        return len(self._turns)

    @asynccontextmanager
    async def turn(self, peer: str) -> AsyncIterator[None]:
        """Hold `peer`'s turn; `LoginUnavailable` when it does not come within `wait`."""
        turn = self._join(peer)
        try:
            await self._take(turn.lock)
            try:
                yield
            finally:
                turn.lock.release()
        finally:
            turn.attempts -= 1
            if turn.attempts == 0:
                del self._turns[peer]

    def _join(self, peer: str) -> _Turn:
        turn = self._turns.get(peer)
        if turn is None:
            if len(self._turns) >= self.max_addresses:
                raise LoginUnavailable("too many addresses waiting to log in")
            turn = self._turns[peer] = _Turn()
        turn.attempts += 1
        return turn

    async def _take(self, lock: asyncio.Lock) -> None:
        try:
            async with asyncio.timeout(self.wait):
                await lock.acquire()
        except TimeoutError:
            raise LoginUnavailable("no login turn within the wait") from None


def _aware(value: datetime, ref: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=ref.tzinfo)
