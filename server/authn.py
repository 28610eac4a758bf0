"""Login checking shared by SMTP AUTH, IMAP LOGIN/AUTHENTICATE and the HTTP API.

Invariants:
- Every attempt is audited (success and failure) with the login, the BAL, the
  person, the method and the client address, never the secret; the internal
  reason (unknown account, bad secret, locked, suspended...) stays in the audit.
- Unknown account, wrong secret and locked pair get the same answer (None)
  after the same hash work; the per-address delay applies to all of them.
- A successful login resets that pair's failures and records the BAL's
  last-login time (R28), once per login, never per IMAP command.

Ref: R9, R10, R24, R28; docs/architecture.md "Defaults" (lockout).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from imap_store.store.accounts import Accounts
from imap_store.store.interfaces import AuditEvent, AuditSink, Principal
from imap_store.store.logins import LoginChecker, LoginOutcome
from imap_store.store.throttle import LoginThrottle


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Authenticator:
    """`await auth(login, secret, peer, authzid="")` for one protocol."""

    def __init__(self, accounts: Accounts, checker: LoginChecker, throttle: LoginThrottle,
                 audit: AuditSink, protocol: str,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.accounts = accounts
        self.checker = checker
        self.throttle = throttle
        self.audit = audit
        self.protocol = protocol
        self.clock = clock

    async def __call__(self, login: str, secret: str, peer: str,
                       authzid: str = "") -> Principal | None:
        now = self.clock()
        account = (authzid or login).strip().lower()[:320]
        await asyncio.sleep(await self.throttle.delay(peer, now))
        locked = await self.throttle.locked(account, peer, now)
        outcome = await self.checker.check(login, secret, authzid)
        if locked and outcome.principal is not None:
            outcome = LoginOutcome(None, "locked", outcome.method)
        if outcome.principal is None:
            await self.throttle.record_failure(account, peer, now)
        else:
            await self.throttle.clear(account, peer)
            await self.accounts.touch_login(outcome.principal.bal_id, now)
        await self._audit(outcome, login, account, peer)
        return outcome.principal

    async def _audit(self, outcome: LoginOutcome, login: str, account: str, peer: str) -> None:
        p = outcome.principal
        await self.audit.record(AuditEvent(
            "auth.success" if p else "auth.failure", protocol=self.protocol, peer=peer,
            bal=p.address if p else account, person=(p.person or "") if p else "",
            detail={"login": login.strip().lower()[:320], "method": outcome.method,
                    "reason": outcome.reason}))
