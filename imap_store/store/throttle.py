"""Brute-force protection: lockout per (account, client address), delays per address.

Failures are rows in `login_failure`, so every process (and `mss` admin
verbs) sees the same counts.

Invariants (defaults from docs/architecture.md "Defaults"):
- After `max_failures` failures within `window` seconds on one (account,
  address), that pair is locked for `lockout` seconds after the last failure;
  the account stays usable from other addresses.
- Each address waits `base * 2^(n-1)` seconds before an attempt, n being its
  failures within the window, capped at `cap` seconds.
- The caller gives the same reply whether locked, unknown or wrong.

Ref: docs/architecture.md "Defaults" (login lockout); OWASP authentication guidance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from .db import Database
from .models import LoginFailure


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


def _aware(value: datetime, ref: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=ref.tzinfo)
