"""Protocols that let the layers talk without importing upward.

Owns: the `AuditSink` protocol (record an event) and the `Authenticate`
protocol (one login path, and `LoginUnavailable`, its temporary failure), plus
the value types they carry (`Principal` and its `Standing`). They are
implemented in `server/` and passed down at wiring time.

Invariant: an `AuditEvent` never carries a subject, a body or any header value
other than addresses and Message-ID (R24).

Ref: R24; docs/architecture.md "Two small Protocols".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


def peer_address(peername: object) -> str:
    """The IP address of a socket's peer name (`(host, port, ...)`), as the audit
    records it; "" when unknown. The one way SMTP and IMAP read a client's address."""
    return str(peername[0]) if isinstance(peername, tuple) and peername else ""


class Standing:
    """Whether a login still stands. It is withdrawn (never restored) when its BAL is
    suspended or deleted, or, for a login made with the BAL's own password, when that
    password changes; `bal_watch.BalWatch` withdraws it, the protocols end the session."""

    __slots__ = ("__weakref__", "bal_id", "password_epoch", "withdrawn")

    def __init__(self, bal_id: int = 0, password_epoch: int | None = None) -> None:
        self.bal_id = bal_id
        self.password_epoch = password_epoch
        self.withdrawn = False


@dataclass(frozen=True)
class Principal:
    """Who is acting: the BAL and, when known, the person behind it (R10)."""

    bal_id: int
    address: str
    bal_type: str
    person: str | None = None
    granted: frozenset[str] = frozenset()
    """Every BAL address this principal may send as (its own BAL included)."""
    standing: Standing = field(default_factory=Standing, compare=False, repr=False)
    """Withdrawn when the login no longer stands (see `Standing`)."""


class LoginUnavailable(Exception):
    """The attempt could not be checked in time: its turn or a verification slot
    did not come within the configured wait. A temporary failure, never a refusal
    of the credentials (SMTP `454 4.7.0`, IMAP `NO [UNAVAILABLE]`, HTTP 503)."""


class Authenticate(Protocol):
    """(login, secret, peer_ip, authzid) -> the principal, or None when refused.

    One login path for SMTP AUTH, IMAP LOGIN/AUTHENTICATE and the HTTP API.
    `authzid` is the SASL authorization identity (RFC 4616 2): the BAL a person
    acts on with their own credentials; empty when the login is the BAL itself.
    Raises `LoginUnavailable` when the attempt could not be checked in time.
    """

    def __call__(self, login: str, secret: str, peer: str,
                 authzid: str = "") -> Awaitable[Principal | None]: ...


@dataclass(frozen=True)
class AuditEvent:
    """One audited fact. `detail` holds envelope data only, never content."""

    event: str
    protocol: str = ""
    session: str = ""
    peer: str = ""
    bal: str = ""
    person: str = ""
    detail: Mapping[str, object] = field(default_factory=dict)


AuditFor = Callable[[Sequence[int]], Sequence[AuditEvent]]
"""The audit events of an IMAP write, built from the UIDs it wrote (appended,
expunged, flagged): the store inserts them in that write's own transaction (R24),
so the write and its record are committed, and made durable, together."""


class AuditSink(Protocol):
    """Append-only audit trail (R24)."""

    async def record(self, event: AuditEvent) -> None:
        """Write the event; raises when it cannot be written."""

    async def record_after_commit(self, event: AuditEvent) -> None:
        """Write an event about work already committed; never raises.

        A failure is logged and counted (`lost_records`) instead: the reply the
        client is owed (a `250` after a durable commit) must not change because
        the trail could not be written afterwards.
        """

    async def record_soon(self, event: AuditEvent) -> None:
        """Queue the record of a read (a body FETCH): written shortly, with the others
        queued meanwhile, without holding the reply; never raises (a failure is
        logged and counted in `lost_records`)."""

    @property
    def lost_records(self) -> int:
        """How many `record_after_commit` and `record_soon` writes failed since start."""
