"""Connection admission: how many connections a listener kind holds, and from whom.

Owns: `AdmissionLimits`, `Admission` (the counts of one listener kind: the
SMTP submission listeners share one, the IMAP listeners one, HTTP one),
`Ticket` (one admitted connection, from accept to close), `Refusal`, and
`Doorway` / `AdmissionGate`, the asyncio protocol every listener accepts
with. It lives beside `peer_address` because the store is the one package
the gateway, the IMAP engine and the HTTP listener may all import; it reads
no database.

Invariants:
- A connection is counted from the moment it is accepted, TLS handshake
  included, until it is closed, and released exactly once.
- Before login it counts against its client address
  (`max_preauth_per_address`) and the kind's pre-login total
  (`max_preauth`); after login against its BAL (`max_per_bal`); always
  against the kind's total (`max_connections`). A client address is the
  socket's peer address (`peer_address`; the configuration refuses the PROXY
  protocol, so no other address is known); IPv6 addresses count per /64,
  the block one subscriber is usually given, and IPv4-mapped ones as IPv4.
- The decision is taken at accept, before any byte is read. On a clear-text
  listener a refused client gets its protocol's refusal (`Doorway.refuse`)
  and is closed; on an implicit-TLS listener it is closed at once, without a
  TLS handshake (the reply would need one, and a handshake is the work the
  cap is there to save).
- An implicit-TLS handshake must finish within `handshake_timeout`, and
  within the login time left (`login_timeout` from accept); only then does
  the listener's own protocol get the connection. A failed one is told to
  the listener's `HandshakeLog` (`tls_failures`: one rate-limited WARNING line).

Ref: RFC 5321 3.8, 4.5.3.2 (421, server timeouts); RFC 3501 5.4, 7.1.5
(autologout, BYE); RFC 9110 15.6.4 (503); RFC 8314 (implicit TLS).
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .interfaces import peer_address
from .tls_failures import HandshakeLog

log = logging.getLogger("mss.admission")
EARLY_DATA_MAX = 65_536  # octets a client may send between its handshake and the hand-over


class Refusal(enum.Enum):
    """Why a connection or a login was refused."""

    TOTAL = "too many connections"
    PREAUTH = "too many connections not logged in"
    ADDRESS = "too many connections from one address"
    BAL = "too many connections on one BAL"


@dataclass(frozen=True)
class AdmissionLimits:
    """The caps of one listener kind, and the time a client has to log in."""

    max_connections: int
    max_preauth: int
    max_preauth_per_address: int
    max_per_bal: int
    login_timeout: float = float("inf")

    def __post_init__(self) -> None:
        caps = (self.max_connections, self.max_preauth, self.max_preauth_per_address,
                self.max_per_bal)
        if min(caps) < 1 or self.login_timeout <= 0:
            raise ValueError("connection caps and the login time must be positive")


def address_key(address: str) -> str:
    """The key an address is counted under: IPv4 as is, IPv6 by its /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Admission:
    """The live connections of one listener kind, by state, address and BAL."""

    def __init__(self, limits: AdmissionLimits) -> None:
        self.limits = limits
        self.total = 0
        self.preauth = 0
        self.by_address: Counter[str] = Counter()
        self.by_bal: Counter[int] = Counter()
        self._saturated: set[str] = set()

    def admit(self, address: str, now: float) -> Ticket | Refusal:
        """A ticket for a new connection from `address`, or why it is refused."""
        key, lim = address_key(address), self.limits
        if self.by_address[key] >= lim.max_preauth_per_address:
            return self._refuse(Refusal.ADDRESS, key)
        if self.preauth >= lim.max_preauth:
            return self._refuse(Refusal.PREAUTH, key)
        if self.total >= lim.max_connections:
            return self._refuse(Refusal.TOTAL, key)
        self.total += 1
        self.preauth += 1
        self.by_address[key] += 1
        return Ticket(self, key, now + lim.login_timeout)

    def _refuse(self, refusal: Refusal, key: str) -> Refusal:
        if refusal is Refusal.ADDRESS and key not in self._saturated:
            self._saturated.add(key)  # logged once until the address has none left before login
            log.warning("connections refused from %s: %s", key, refusal.value)
        return refusal

    def _leave_preauth(self, key: str) -> None:
        self.preauth -= 1
        self.by_address[key] -= 1
        if self.by_address[key] <= 0:
            del self.by_address[key]
            self._saturated.discard(key)


class Ticket:
    """One admitted connection: pre-login, then logged in on a BAL, then released."""

    def __init__(self, admission: Admission, key: str, login_deadline: float) -> None:
        self._admission = admission
        self.address_key = key
        self.login_deadline = login_deadline
        """Loop time by which the client must have logged in (`login_timeout` after accept)."""
        self.bal: int | None = None
        self.released = False

    def log_in(self, bal_id: int) -> Refusal | None:
        """Move to the logged-in counts of `bal_id`; `Refusal.BAL` when it has its maximum."""
        adm = self._admission
        if self.released or self.bal is not None:
            return None
        if adm.by_bal[bal_id] >= adm.limits.max_per_bal:
            return Refusal.BAL
        adm._leave_preauth(self.address_key)
        adm.by_bal[bal_id] += 1
        self.bal = bal_id
        return None

    def release(self) -> None:
        """The connection is closed (idempotent)."""
        if self.released:
            return
        self.released = True
        adm = self._admission
        adm.total -= 1
        if self.bal is None:
            adm._leave_preauth(self.address_key)
            return
        adm.by_bal[self.bal] -= 1
        if adm.by_bal[self.bal] <= 0:
            del adm.by_bal[self.bal]


@dataclass
class Doorway:
    """How one listener admits connections: `loop.create_server(doorway.protocol, ...)`.

    `serve(ticket)` builds the listener's own protocol for an admitted
    connection (it releases the ticket when its connection is lost);
    `refuse(transport, refusal)` is told of every refused connection and writes
    the protocol's refusal on `transport`, which is None on an implicit-TLS
    listener (nothing can be written before a handshake). The gate closes it.
    """

    admission: Admission
    serve: Callable[[Ticket], asyncio.Protocol]
    refuse: Callable[[asyncio.WriteTransport | None, Refusal], None]
    ssl_context: ssl.SSLContext | None = None
    handshake_timeout: float = 30.0
    handshakes: set[asyncio.Task[None]] = field(default_factory=set)
    failures: HandshakeLog | None = None
    """Where failed handshakes are told (one rate-limited WARNING line each, audited)."""
    audit_sessions: bool = False
    """Audit each established session here (`failures.established`): for a listener
    whose protocol has no session of its own to name in the record (HTTP)."""

    def protocol(self) -> AdmissionGate:
        """The protocol factory given to the event loop."""
        return AdmissionGate(self)

    async def close(self) -> None:
        """Abandon the TLS handshakes still running (listener stop)."""
        tasks = list(self.handshakes)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class AdmissionGate(asyncio.Protocol):
    """The first protocol of every accepted connection: admit, handshake, hand over."""

    def __init__(self, doorway: Doorway) -> None:
        self._door = doorway
        self._ticket: Ticket | None = None
        self._transport: asyncio.Transport | None = None
        self._early = bytearray()
        self._lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        door, loop = self._door, asyncio.get_running_loop()
        verdict = door.admission.admit(peer_address(transport.get_extra_info("peername")),
                                       loop.time())
        if isinstance(verdict, Refusal):
            door.refuse(transport if door.ssl_context is None else None, verdict)
            transport.close()
            return
        self._ticket = verdict
        if door.ssl_context is None:
            self._hand_over(transport)
            return
        transport.pause_reading()  # before the first read: the ClientHello goes to TLS
        task = loop.create_task(self._handshake(transport, door.ssl_context))
        door.handshakes.add(task)
        task.add_done_callback(door.handshakes.discard)

    async def _handshake(self, transport: asyncio.Transport, context: ssl.SSLContext) -> None:
        ticket, loop = self._ticket, asyncio.get_running_loop()
        assert ticket is not None
        left = min(self._door.handshake_timeout, ticket.login_deadline - loop.time())
        try:
            if left <= 0:
                raise TimeoutError
            tls = await loop.start_tls(transport, self, context, server_side=True,
                                       ssl_handshake_timeout=left)
        except (OSError, TimeoutError, asyncio.CancelledError) as exc:
            ticket.release()
            transport.abort()
            if isinstance(exc, asyncio.CancelledError):
                raise
            if self._door.failures is not None:
                await self._door.failures.handshake_failed(
                    transport.get_extra_info("peername"), exc)
            return
        if tls is not None and self._door.failures is not None and self._door.audit_sessions:
            try:
                await self._door.failures.established(tls.get_extra_info("peername"),
                                                      tls.get_extra_info("ssl_object"))
            except asyncio.CancelledError:  # the listener stops
                ticket.release()
                tls.abort()
                raise
        if tls is None or self._lost:
            ticket.release()
            if tls is not None:
                tls.abort()
            return
        self._transport = tls
        self._hand_over(tls)

    def _hand_over(self, transport: asyncio.Transport) -> None:
        assert self._ticket is not None
        app = self._door.serve(self._ticket)
        transport.set_protocol(app)
        app.connection_made(transport)
        if self._early:
            app.data_received(bytes(self._early))
            self._early.clear()

    def data_received(self, data: bytes) -> None:
        """Octets that arrive after the handshake, before the hand-over."""
        self._early += data
        if len(self._early) > EARLY_DATA_MAX and self._transport is not None:
            self._early.clear()
            self._lost = True
            self._transport.abort()

    def eof_received(self) -> bool:
        self._lost = True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
