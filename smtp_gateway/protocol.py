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
- Connections are admitted at accept by the listener's `Admission`
  (`imap_store.store.admission`, see `listener`); each `MssSMTP` holds its
  ticket, moves it to its BAL's logged-in count at AUTH (a BAL at its cap
  gets `421 4.7.0` and the connection is closed) and releases it when the
  connection is lost.
- Two deadlines no traffic extends (`deadlines`): AUTH must succeed within
  the login time from accept, and a command line must end within the line
  time of its first octet; either answers `421 4.7.0` and closes.
- On shutdown, idle sessions get `421 4.3.2`; a DATA in flight is answered
  first (its commit, audit and reply), within the grace period; past it, it
  is cancelled, so nothing is stored that the client was not told of.
- DATA: a line over 1000 octets gets `500 5.5.2`, data over `data_size_limit`
  `552 5.3.4`, both after the final `.`; the session goes on. A pipelined
  command after the data stays in the reader. Per connection, the reader
  buffers at most about 2 x `READ_LIMIT` (256 KiB) plus one socket read
  while DATA is read, 2 x 1001 octets otherwise; the kept data is bounded by
  `data_size_limit`. A client gone during DATA is logged at INFO only.
- `decode_data` is honoured as aiosmtpd does (the gateway runs without it).
- A command whose argument holds a control character (NUL, CR, ...) gets
  `501 5.5.2` and is not run (`command_syntax`).
- A failed STARTTLS handshake ends the session as aiosmtpd ends it, told to
  the listener's `HandshakeLog` as one rate-limited WARNING line and one
  `tls.handshake_failed` audit record (peer, OpenSSL's reason), never as a
  session error.
- Every TLS session, STARTTLS or implicit (port 465), is audited once it is
  up, before anything else is read: `tls.session` with protocol, cipher and
  peer certificate subject (`HandshakeLog.established`; R5, R6, R24).
- RCPT is read as aiosmtpd reads it, within the connection's `RcptGuard`:
  each RCPT is counted before it is read and its reply after; a limit
  reached is answered here (`452 4.5.3`, or `421 4.7.0` and close) and
  audited with counts only (`rcpt_limits`).
- EHLO advertises PIPELINING, ENHANCEDSTATUSCODES and DSN besides what
  aiosmtpd writes (SIZE, 8BITMIME, SMTPUTF8 when enabled, STARTTLS, AUTH);
  every other reply but the greeting, 334 and 354 carries an enhanced code
  (aiosmtpd's own lines get the code of their class, `with_enhanced_code`).
- MAIL and RCPT: the DSN parameters (RET, ENVID, NOTIFY, ORCPT) are taken
  from the argument as the client wrote it, before aiosmtpd (which refuses
  them and upper-cases parameters) reads the rest; a malformed one is
  answered `501 5.5.4` and the command is not run; the accepted ones are
  kept on the transaction (`dsn`).

Ref: R5, R6, R24; RFC 3207 (STARTTLS); RFC 8314 (implicit TLS);
RFC 5321 3.8, 4.1.1.3, 4.1.1.4, 4.5.2, 4.5.3.1; RFC 2920 (PIPELINING); RFC 2034
(ENHANCEDSTATUSCODES); RFC 3461 (DSN); docs/architecture.md "Replies".
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, AnyStr

from aiosmtpd.smtp import MISSING, SMTP, Envelope, TLSSetupException, syntax

from imap_store.store.admission import Ticket
from imap_store.store.interfaces import AuditSink, Principal, peer_address
from imap_store.store.tls_failures import HandshakeLog
from message.dsn_params import DsnParamError, parse_mail_dsn, parse_rcpt_dsn
from policy.replies import LOCAL_ERROR, MESSAGE_TOO_BIG
from policy.reply import Reply

from .command_syntax import guarded
from .data_reader import READ_LIMIT, DataAssembler, DataVerdict, joined, read_data
from .deadlines import SessionDeadlines
from .dsn import take_dsn_params
from .path_syntax import simple_path
from .rcpt_limits import RcptGuard, RcptLimits, RcptStop
from .registry import SessionRegistry
from .replies import (
    AIOSMTPD_REPLACEMENTS,
    DATA_GO_AHEAD,
    DATA_NEED_RCPT,
    DATA_NOT_ASCII,
    DATA_SYNTAX,
    DSN_PARAMETER,
    LINE_TOO_LONG,
    OK,
    SHUTTING_DOWN,
    with_enhanced_code,
)
from .session import ClientSession, Transaction
from .tls_session import tls_description

log = logging.getLogger("mss.smtp")

# Extensions aiosmtpd does not advertise itself (it writes SIZE, 8BITMIME, SMTPUTF8,
# STARTTLS and AUTH): commands are read in order, so PIPELINING holds; replies carry
# enhanced codes; DSN parameters are read by `MssSMTP._take_dsn`.
EXTENSIONS = ("PIPELINING", "ENHANCEDSTATUSCODES", "DSN")


def advertise(lines: list[str], extensions: tuple[str, ...] = EXTENSIONS) -> list[str]:
    """EHLO reply lines with `extensions` added before the last line (none twice)."""
    if len(lines) < 2 or not lines[-1].startswith("250 "):
        return lines
    present = {line[4:].split(" ")[0].upper() for line in lines[1:]}
    extra = [f"250-{ext}" for ext in extensions if ext not in present]
    return lines[:-1] + extra + lines[-1:]


class MssSMTP(SMTP):
    """aiosmtpd's SMTP with our replies, a session id, its admission ticket and deadlines."""

    def __init__(self, handler: object, *, registry: SessionRegistry, listener: str,
                 audit: AuditSink, rcpt_limits: RcptLimits, ticket: Ticket,
                 line_timeout: float, tls_failures: HandshakeLog, **kwargs: Any) -> None:
        self.transaction: Transaction | None = None
        super().__init__(handler, **kwargs)
        # RFC 5321 4.1.2: an argument holding a control character is a syntax error.
        self._smtp_methods = guarded(self._smtp_methods, self.push)
        self.tls_failures = tls_failures
        self.ticket = ticket
        self.deadlines = SessionDeadlines(login_deadline=ticket.login_deadline,
                                          line_timeout=line_timeout, expire=self.close_with)
        self.registry = registry
        self.listener = listener
        self.audit = audit
        self.rcpt_guard = RcptGuard(rcpt_limits)
        self._last_status = b""
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
            self.deadlines.restart_lines()
            super().connection_made(transport)
            return
        if self.registry.closing:
            transport.write(SHUTTING_DOWN.line().encode() + b"\r\n")  # type: ignore[attr-defined]
            transport.close()
            return
        self.registry.sessions.add(self)
        self.deadlines.start()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.registry.sessions.discard(self)
        self.deadlines.cancel()
        self.ticket.release()
        if self.transport is None:
            return
        super().connection_lost(error)

    def data_received(self, data: bytes) -> None:
        self.deadlines.feed(data)
        super().data_received(data)

    def admit_login(self, principal: Principal) -> bool:
        """AUTH succeeded: count the connection on its BAL; False when the BAL is at its cap."""
        if self.ticket.log_in(principal.bal_id) is not None:
            return False
        self.deadlines.logged_in()
        return True

    def close_with(self, reply: Reply) -> None:
        """Answer `reply` and close (RFC 5321 3.8: 421 and close); the session ends."""
        if self.transport is not None and not self.transport.is_closing():
            log.info("closing session %s: %s", self.session_id, reply.text)
            self.transport.write(reply.line().encode() + b"\r\n")  # type: ignore[attr-defined]
            self.transport.close()

    async def handle_exception(self, error: Exception) -> str:
        """A failed STARTTLS handshake is told to the listener's `HandshakeLog` (aiosmtpd
        then closes the connection; nothing is sent); anything else goes to the handler."""
        if isinstance(error, TLSSetupException):
            peer = self.session.peer if self.session is not None else None
            await self.tls_failures.handshake_failed(peer, error.__cause__ or error,
                                                     self.session_id)
            return LOCAL_ERROR.line()
        status: str = await super().handle_exception(error)
        return status

    async def push(self, status: AnyStr) -> None:
        raw = status.encode("ascii", "replace") if isinstance(status, str) else bytes(status)
        replacement = AIOSMTPD_REPLACEMENTS.get(raw)
        self._last_status = with_enhanced_code(replacement.line().encode() if replacement
                                               else raw)
        await super().push(self._last_status)

    async def _as_written(self, command: Callable[[], Awaitable[None]]) -> list[str]:
        """The reply lines `command` writes, collected instead of sent."""
        lines: list[str] = []

        async def collect(status: AnyStr) -> None:
            lines.append(status.decode("ascii", "replace") if isinstance(status, bytes)
                         else status)

        self.push = collect  # type: ignore[method-assign]
        try:
            await command()
        finally:
            del self.push
        return lines

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        """EHLO: aiosmtpd's reply lines (and the handler's), plus `EXTENSIONS`; as written
        otherwise (no enhanced code on EHLO, RFC 2034 3)."""
        for line in advertise(await self._as_written(lambda: super(MssSMTP, self)
                                                     .smtp_EHLO(hostname))):
            await super().push(line)

    @syntax("HELO hostname")
    async def smtp_HELO(self, hostname: str) -> None:
        """HELO: aiosmtpd's reply, as written (no enhanced code, RFC 2034 3)."""
        for line in await self._as_written(lambda: super(MssSMTP, self).smtp_HELO(hostname)):
            await super().push(line)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's reading of a MAIL or RCPT path, plain paths read fast (`path_syntax`)."""
        found = simple_path(arg)
        if found is None or (self.local_part_limit
                             and len(found[0].rpartition("@")[0]) > self.local_part_limit):
            return super()._getaddr(arg)
        return found

    def _take_dsn(self, keyword: str, arg: str | None) -> tuple[str | None, str, dict[str, str]]:
        """(the argument for aiosmtpd, the address, the DSN parameters as written).

        Only once EHLO (and AUTH where required) went through: otherwise the
        argument is left whole, for aiosmtpd to refuse as it does.
        """
        session = self.session
        if (arg is None or session is None or not session.extended_smtp
                or (self._auth_required and not session.authenticated)):
            return arg, "", {}
        body = self._strip_command_keyword(keyword, arg)
        if body is None:
            return arg, "", {}
        address, rest = self._getaddr(body)
        if not address or not rest:
            return arg, address or "", {}
        kept, params = take_dsn_params(rest)
        head = body[:len(body) - len(rest)].rstrip()
        return f"{keyword}{head} {kept}".rstrip(), address, params

    async def _dsn_refused(self, exc: DsnParamError) -> None:
        log.info("malformed DSN parameter (session %s): %s", self.session_id, exc)
        await self.push(DSN_PARAMETER.line())

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        """MAIL (RFC 5321 4.1.1.2): the DSN parameters read here, the rest by aiosmtpd."""
        try:
            arg, _address, params = self._take_dsn("FROM:", arg)
            dsn = parse_mail_dsn(params)
        except DsnParamError as exc:
            await self._dsn_refused(exc)
            return
        before = self.transaction
        await super().smtp_MAIL(arg)
        if self.transaction is not None and self.transaction is not before:
            self.transaction.dsn.mail = dsn

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        """RCPT (RFC 5321 4.1.1.3): aiosmtpd's checks and our handler, within the RCPT limits."""
        stop = self.rcpt_guard.admit(self.transaction)
        if stop is not None:
            await self._rcpt_stopped(stop)
            return
        self._last_status = b""
        try:
            arg, address, params = self._take_dsn("TO:", arg)
            dsn = parse_rcpt_dsn(params)
        except DsnParamError as exc:
            await self._dsn_refused(exc)
        else:
            await super().smtp_RCPT(arg)
            if self._last_status.startswith(b"250") and self.transaction is not None:
                self.transaction.dsn.add_recipient(address, dsn)
        self.rcpt_guard.answered(self._last_status)

    async def _rcpt_stopped(self, stop: RcptStop) -> None:
        """Answer a RCPT past a limit; audit the limit once; close when it says so."""
        if stop.audit is not None:
            await self.audit.record(self.client_session().audit_event("smtp.rcpt_limit",
                                                                      stop.audit))
        await self.push(stop.reply.line())
        if stop.close and self.transport is not None:
            if self._handler_coroutine is not None:  # as aiosmtpd's QUIT ends the session
                self._handler_coroutine.cancel()
            self.transport.close()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str | None) -> None:
        """DATA (RFC 5321 4.1.1.4): aiosmtpd's checks and replies, our reader."""
        if not await self._data_allowed(arg):
            return
        self.deadlines.pause_lines()  # the data and its commit have their own bounds
        try:
            await self._data()
        finally:
            self.deadlines.resume_lines()

    async def _data(self) -> None:
        """`354`, the data, then the handler's commit and its reply."""
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
        self.registry.begin_data(self)
        try:
            status = (await self._call_handler_hook("DATA") if "DATA" in self._handle_hooks
                      else MISSING)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push(OK.line() if status is MISSING else status)
        finally:
            self.registry.end_data(self)

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

    def _ssl_object(self) -> ssl.SSLObject | None:
        obj = self.transport.get_extra_info("ssl_object") if self.transport else None
        return obj if isinstance(obj, ssl.SSLObject) else None

    def tls_description(self) -> str:
        return tls_description(self._ssl_object())

    async def _tls_established(self) -> None:
        """Audit the TLS session now up (`tls.session`, R5, R6, R24)."""
        peer = self.session.peer if self.session is not None else None
        await self.tls_failures.established(peer, self._ssl_object(), self.session_id)

    async def _handle_client(self) -> None:
        """aiosmtpd's session, after the audit of an implicit-TLS session (port 465)."""
        if self._ssl_object() is not None:
            await self._tls_established()
        await super()._handle_client()

    @syntax("STARTTLS")
    async def smtp_STARTTLS(self, arg: str) -> None:
        """aiosmtpd's STARTTLS (a failed handshake raises: `handle_exception`), then the
        session audited."""
        await super().smtp_STARTTLS(arg)
        if self._ssl_object() is not None:
            await self._tls_established()

    def abandon(self) -> asyncio.Task[None] | None:
        """Cancel this session's task (a stop past its grace period); returns it."""
        task: asyncio.Task[None] | None = self._handler_coroutine
        if task is not None:
            task.cancel()
        return task

    def say_goodbye(self) -> None:
        """Send 421 and close (shutdown of an idle or waiting session)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(SHUTTING_DOWN.line().encode() + b"\r\n")  # type: ignore[attr-defined]
            self.transport.close()
