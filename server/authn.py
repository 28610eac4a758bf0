"""Login checking shared by SMTP AUTH and IMAP LOGIN/AUTHENTICATE.

Invariants:
- Every attempt is audited (success and failure) with the login, the method
  and the client address, never the secret.
- The answer for an unknown account and a wrong secret is the same (None),
  with the same hash work (see `Accounts.verify_password`).
- A successful login updates the BAL's last-login time (R28).

Brute-force lockout, persons and app passwords come with the accounts issue.

Ref: MSS-RULES R9, R10, R24, R28.
"""

from __future__ import annotations

from datetime import UTC, datetime

from imap_store.store.accounts import Accounts
from imap_store.store.interfaces import AuditEvent, AuditSink, Principal


class Authenticator:
    """`await auth(login, secret, peer)` for one protocol."""

    def __init__(self, accounts: Accounts, audit: AuditSink, protocol: str) -> None:
        self.accounts = accounts
        self.audit = audit
        self.protocol = protocol

    async def __call__(self, login: str, secret: str, peer: str) -> Principal | None:
        principal = await self.accounts.verify_password(login, secret)
        event = "auth.success" if principal else "auth.failure"
        await self.audit.record(AuditEvent(
            event, protocol=self.protocol, peer=peer,
            bal=principal.address if principal else login.strip().lower()[:320],
            person=(principal.person or "") if principal else "",
            detail={"login": login[:320], "method": "password"}))
        if principal is not None:
            await self.accounts.touch_login(principal.bal_id, datetime.now(UTC))
        return principal
