"""Login checking shared by SMTP AUTH, IMAP LOGIN/AUTHENTICATE and the HTTP API.

Invariants:
- Every attempt is audited (success and failure) with the login, the BAL, the
  person, the method and the client address, never the secret; the internal
  reason (unknown account, bad secret, locked, suspended...) stays in the audit.
- Unknown account, wrong secret and locked pair get the same answer (None)
  after the same hash work; the per-address delay applies to all of them.
- One attempt at a time per client address in this process (`LoginTurns`,
  shared by every protocol): the delay, the lock check, the password check and
  the failure record of one attempt are done before the next attempt from that
  address starts, so parallel attempts cannot all pass the checks. The lock is
  read again after the password check (another process may have set it);
  attempts refused as locked record no further failure.
- An attempt whose turn or verification slot does not come in time is
  audited (reason "unavailable", no failure recorded) and `LoginUnavailable`
  goes up to the protocol, which answers a temporary failure.
- A successful login resets that pair's failures and records the BAL's
  last-login time (R28), once per login, never per IMAP command.
- Under `mss serve` with several workers, the audit detail names the worker
  that checked the attempt (`worker`: its index), so an operator can tell
  which process served a session.

Ref: R9, R10, R24, R28; docs/architecture.md "Defaults" (lockout).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from imap_store.store.accounts import Accounts
from imap_store.store.interfaces import AuditEvent, AuditSink, LoginUnavailable, Principal
from imap_store.store.logins import LoginChecker, LoginOutcome
from imap_store.store.throttle import LoginThrottle, LoginTurns

from . import worker_role


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Authenticator:
    """`await auth(login, secret, peer, authzid="")` for one protocol."""

    def __init__(self, accounts: Accounts, checker: LoginChecker, throttle: LoginThrottle,
                 turns: LoginTurns, audit: AuditSink, protocol: str,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.accounts = accounts
        self.checker = checker
        self.throttle = throttle
        self.turns = turns
        self.audit = audit
        self.protocol = protocol
        self.clock = clock

    async def __call__(self, login: str, secret: str, peer: str,
                       authzid: str = "") -> Principal | None:
        account = (authzid or login).strip().lower()[:320]
        try:
            async with self.turns.turn(peer):
                outcome = await self._attempt(login, secret, peer, authzid, account)
        except LoginUnavailable:
            await self._audit(LoginOutcome(None, "unavailable", ""), login, account, peer)
            raise
        await self._audit(outcome, login, account, peer)
        return outcome.principal

    async def _attempt(self, login: str, secret: str, peer: str, authzid: str,
                       account: str) -> LoginOutcome:
        """One attempt, while holding the address's turn."""
        await asyncio.sleep(await self.throttle.delay(peer, self.clock()))
        locked = await self.throttle.locked(account, peer, self.clock())
        outcome = await self.checker.check(login, secret, authzid)
        now = self.clock()
        if locked or (outcome.principal is not None
                      and await self.throttle.locked(account, peer, now)):
            return LoginOutcome(None, "locked", outcome.method)
        if outcome.principal is None:
            await self.throttle.record_failure(account, peer, now)
        else:
            await self.throttle.clear(account, peer)
            await self.accounts.touch_login(outcome.principal.bal_id, now)
        return outcome

    async def _audit(self, outcome: LoginOutcome, login: str, account: str, peer: str) -> None:
        p = outcome.principal
        detail: dict[str, object] = {"login": login.strip().lower()[:320],
                                     "method": outcome.method, "reason": outcome.reason}
        role = worker_role.current()
        if role is not None:
            detail["worker"] = role.index
        await self.audit.record(AuditEvent(
            "auth.success" if p else "auth.failure", protocol=self.protocol, peer=peer,
            bal=p.address if p else account, person=(p.person or "") if p else "",
            detail=detail))
