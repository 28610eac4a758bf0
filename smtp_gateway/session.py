"""What the gateway knows of one SMTP session and of its current transaction.

Owns: `ClientSession` (the typed, frozen facts of a session, read from
aiosmtpd's session once per transaction by `connection.SmtpConnection`), `Transaction`
(our own per-transaction state, kept by `MssSMTP`, never on aiosmtpd's
`Envelope`). The peer address comes from `imap_store.store.interfaces.peer_address`.

Invariants:
- the gate, intake and the audit see a `ClientSession`, never the protocol
  object: the only code that touches aiosmtpd types is `connection.py`,
  `protocol.py` and the handler hook signatures;
- a `Transaction` exists from an accepted MAIL until the end of DATA, RSET,
  HELO/EHLO or STARTTLS (whenever aiosmtpd starts a new envelope); its
  `session` is the session as it was at MAIL (AUTH, EHLO and STARTTLS cannot
  change within a transaction: RFC 4954 4, RFC 5321 4.1.4, RFC 3207 4.2);
- a `Transaction` never holds a recipient twice: addresses are compared as
  `policy.address.normalise_address` compares them (the store looks BALs up
  by that same lower-cased form), local recipients also by BAL id; a repeat
  is counted in `repeated` and adds nothing (RFC 5321 3.3: one copy per
  mailbox; R18: no new recipient for the cap);
- `rcpt_commands` counts every RCPT of the transaction (`rcpt_limits`);
- `dsn` holds the DSN parameters of MAIL and of each accepted RCPT (R22).

Ref: RFC 5321 3.3 (mail transactions), 4.1.4 (order of commands); R18, R24.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imap_store.store.interfaces import AuditEvent, Principal
from policy.address import normalise_address
from policy.context import MailContext
from policy.operator_dn import OperatorDN

from .dsn import DsnRequest
from .intake import LocalRecipient


@dataclass(frozen=True)
class ClientSession:
    """The facts of one SMTP session that the gate, intake and audit use."""

    session_id: str
    listener: str
    peer_ip: str
    tls: bool = False
    tls_description: str = ""
    principal: Principal | None = None
    ehlo: str = ""
    peer_cert_dn: OperatorDN | None = None
    """The verified subject DN of the peer's certificate (MX listener), None without one."""

    @property
    def bal(self) -> str:
        """The authenticated BAL address ("" before AUTH)."""
        return self.principal.address if self.principal else ""

    @property
    def person(self) -> str:
        """The person behind the authenticated BAL, when known ("" otherwise)."""
        return (self.principal.person or "") if self.principal else ""

    def audit_event(self, kind: str, detail: dict[str, object]) -> AuditEvent:
        """An audit event of this session (envelope facts only in `detail`, R24)."""
        return AuditEvent(kind, protocol="smtp", session=self.session_id, peer=self.peer_ip,
                          bal=self.bal, person=self.person, detail=detail)


@dataclass
class Transaction:
    """One mail transaction: the session at MAIL, the MAIL context, the recipients so far."""

    session: ClientSession
    mail: MailContext
    local: list[LocalRecipient] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    rcpt_commands: int = 0
    repeated: int = 0
    dsn: DsnRequest = field(default_factory=DsnRequest)
    _seen: set[str] = field(default_factory=set)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every accepted recipient: local BALs first, then remote addresses."""
        return tuple(r.address for r in self.local) + tuple(self.remote)

    def holds(self, address: str) -> bool:
        """True when `address` (in any case) is already a recipient of this transaction."""
        return normalise_address(address) in self._seen

    def add_local(self, address: str, recipient: LocalRecipient) -> None:
        """Add the BAL that `address` names, unless the transaction already holds it."""
        self._seen.add(normalise_address(address))
        if any(r.bal_id == recipient.bal_id for r in self.local):
            self.repeated += 1
            return
        self._seen.add(normalise_address(recipient.address))
        self.local.append(recipient)

    def add_remote(self, address: str) -> None:
        """Add a remote recipient, unless the transaction already holds it."""
        if self.holds(address):
            self.repeated += 1
            return
        self._seen.add(normalise_address(address))
        self.remote.append(address)
