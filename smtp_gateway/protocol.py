"""The aiosmtpd `SMTP` subclass: typed replies, session ids, limits, shutdown, DATA.

aiosmtpd is pinned exactly (pyproject) because this class replaces some of the
reply lines it writes itself (`AIOSMTPD_REPLACEMENTS`), reads its TLS state
and session, and follows its envelope resets (`_create_envelope`).

This is the boundary with aiosmtpd: `client_session()` turns aiosmtpd's
session into our frozen `ClientSession`, and `transaction` holds our own
per-transaction state, dropped whenever aiosmtpd starts a new envelope
(after DATA, on RSET, HELO/EHLO and STARTTLS).

DATA is read by our own `smtp_DATA` (`data_reader`), not aiosmtpd's line by
line one: the same checks, replies and envelope, in large pieces, with the
event loop free between them. Commands are read as aiosmtpd reads them.

Invariants:
- Every connection gets a random session id, used in audit and trace headers.
- Past `max_connections` a new connection gets `421 4.7.0` and is closed.
- On shutdown, idle sessions get `421 4.3.2`; a DATA commit in flight
  finishes first (the registry waits for it).
- DATA: a line over 1000 octets gets `500 5.5.2`, data over `data_size_limit`
  `552 5.3.4`, both after the final `.`; the session goes on. A pipelined
  command after the data stays in the reader. Per connection, the reader
  buffers at most about 2 x `READ_LIMIT` (256 KiB) plus one socket read
  while DATA is read, 2 x 1001 octets otherwise; the kept data is bounded by
  `data_size_limit`. A client gone during DATA is logged at INFO only.
- `decode_data` is honoured as aiosmtpd does (the gateway runs without it).

Ref: RFC 5321 3.8, 4.1.1.4, 4.5.2, 4.5.3.1; docs/architecture.md "Replies".
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any, AnyStr

from aiosmtpd.smtp import MISSING, SMTP, Envelope, syntax

from imap_store.store.interfaces import Principal, peer_address
from policy.replies import MESSAGE_TOO_BIG

from .data_reader import READ_LIMIT, DataAssembler, DataVerdict, joined, read_data
from .replies import (
    AIOSMTPD_REPLACEMENTS,
    DATA_GO_AHEAD,
    DATA_NEED_RCPT,
    DATA_NOT_ASCII,
    DATA_SYNTAX,
    LINE_TOO_LONG,
    OK,
    SHUTTING_DOWN,
    TOO_MANY_CONNECTIONS,
)
from .session import ClientSession, Transaction

log = logging.getLogger("mss.smtp")


class SessionRegistry:
    """Live sessions of one gateway and the commits in flight, for a clean stop."""

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self.sessions: set[MssSMTP] = set()
        self.closing = False
        self.inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def begin_commit(self) -> None:
        self.inflight += 1
        self._idle.clear()

    def end_commit(self) -> None:
        self.inflight -= 1
        if self.inflight == 0:
            self._idle.set()

    async def drain(self, grace: float) -> None:
        """Stop: wait for commits in flight, then say 421 to every session."""
        self.closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            pass
        for proto in list(self.sessions):
            proto.say_goodbye()


class MssSMTP(SMTP):
    """aiosmtpd's SMTP with our replies, a session id and a connection cap."""

    def __init__(self, handler: object, *, registry: SessionRegistry, listener: str,
                 **kwargs: Any) -> None:
        self.transaction: Transaction | None = None
        super().__init__(handler, **kwargs)
        self.registry = registry
        self.listener = listener
        self.session_id = secrets.token_hex(6)

    def _create_envelope(self) -> Envelope:
        self.transaction = None  # aiosmtpd starts a new envelope: the transaction is over
        return super()._create_envelope()

    def client_session(self) -> ClientSession:
        """The facts of this session now (peer, TLS, AUTH principal, EHLO name)."""
        session = self.session
        auth = session.auth_data if session is not None else None
        return ClientSession(
            session_id=self.session_id, listener=self.listener,
            peer_ip=peer_address(session.peer if session is not None else None),
            tls=self.tls_active, tls_description=self.tls_description(),
            principal=auth if isinstance(auth, Principal) else None,
            ehlo=(session.host_name or "") if session is not None else "")

    def current_transaction(self) -> Transaction:
        """The transaction opened by the accepted MAIL (aiosmtpd allows RCPT/DATA only then)."""
        if self.transaction is None:
            raise RuntimeError("no mail transaction in progress")
        return self.transaction

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self in self.registry.sessions:  # STARTTLS upgrade of a counted session
            super().connection_made(transport)
            return
        if self.registry.closing or len(self.registry.sessions) >= self.registry.max_connections:
            reply = SHUTTING_DOWN if self.registry.closing else TOO_MANY_CONNECTIONS
            transport.write(reply.line().encode() + b"\r\n")  # type: ignore[attr-defined]
            transport.close()
            return
        self.registry.sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.registry.sessions.discard(self)
        if self.transport is None:
            return
        super().connection_lost(error)

    async def push(self, status: AnyStr) -> None:
        raw = status.encode("ascii", "replace") if isinstance(status, str) else bytes(status)
        replacement = AIOSMTPD_REPLACEMENTS.get(raw)
        await super().push(replacement.line().encode() if replacement else raw)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str | None) -> None:
        """DATA (RFC 5321 4.1.1.4): aiosmtpd's checks and replies, our reader."""
        if not await self._data_allowed(arg):
            return
        await self.push(DATA_GO_AHEAD)
        assembler = DataAssembler(self.data_size_limit)
        await self._receive(assembler)
        if assembler.verdict is not DataVerdict.NOMINAL:
            too_long = assembler.verdict is DataVerdict.TOO_LONG
            await self.push((LINE_TOO_LONG if too_long else MESSAGE_TOO_BIG).line())
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        if not await self._set_content(await joined(assembler.content())):
            return
        status = await self._call_handler_hook("DATA") if "DATA" in self._handle_hooks else MISSING
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(OK.line() if status is MISSING else status)

    async def _data_allowed(self, arg: str | None) -> bool:
        """aiosmtpd's checks before `354`: HELO, AUTH, a recipient, no argument."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return False
        if self.envelope is None or not self.envelope.rcpt_tos:
            await self.push(DATA_NEED_RCPT)
            return False
        if arg:
            await self.push(DATA_SYNTAX)
            return False
        return True

    async def _receive(self, assembler: DataAssembler) -> None:
        """Read the data to its end; a client gone meanwhile ends the session (INFO log)."""
        reader = self._reader
        # StreamReader's `limit` sets its largest piece and pauses the socket past 2 x limit;
        # raised for DATA only (aiosmtpd builds the reader with `line_length_limit`).
        reader._limit = READ_LIMIT  # type: ignore[attr-defined]
        try:
            await read_data(reader, assembler)
        except (asyncio.CancelledError, asyncio.IncompleteReadError) as exc:
            log.info("connection lost during DATA (session %s)", self.session_id)
            self._writer.close()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise asyncio.CancelledError() from None
        finally:
            reader._limit = self.line_length_limit  # type: ignore[attr-defined]

    async def _set_content(self, original: bytes) -> bool:
        """The envelope's content as aiosmtpd sets it; False after a refusal (strict ASCII)."""
        if self.envelope is None:
            raise RuntimeError("DATA without an envelope")
        content: str | bytes = original
        if self._decode_data:
            try:
                content = original.decode("utf-8" if self.enable_SMTPUTF8 else "ascii",
                                          errors="surrogateescape" if self.enable_SMTPUTF8
                                          else "strict")
            except UnicodeDecodeError:
                await self.push(DATA_NOT_ASCII)
                return False
        self.envelope.content = content
        self.envelope.original_content = original
        return True

    @property
    def tls_active(self) -> bool:
        return self._tls_protocol is not None or bool(
            self.transport and self.transport.get_extra_info("ssl_object"))

    def tls_description(self) -> str:
        ssl_obj = self.transport.get_extra_info("ssl_object") if self.transport else None
        if ssl_obj is None:
            return ""
        cipher = ssl_obj.cipher()
        return f"version={ssl_obj.version()} cipher={cipher[0] if cipher else '?'}"

    def say_goodbye(self) -> None:
        """Send 421 and close (shutdown of an idle or waiting session)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(SHUTTING_DOWN.line().encode() + b"\r\n")  # type: ignore[attr-defined]
            self.transport.close()
