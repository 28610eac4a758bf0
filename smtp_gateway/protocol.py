"""The SMTP commands of a session: typed replies, EHLO, MAIL, RCPT and DATA.

Owns: `MssSMTP`, the class every listener runs, built on `SmtpConnection`
(`connection`: session id, admission, deadlines, TLS, the connection's end),
and `advertise` (the EHLO extensions aiosmtpd does not write). aiosmtpd is
pinned exactly (pyproject) because this class replaces some of the reply
lines it writes itself (`AIOSMTPD_REPLACEMENTS`) and follows its envelope
resets (`_create_envelope`).

`transaction` holds our own per-transaction state, dropped whenever aiosmtpd
starts a new envelope (after DATA, on RSET, HELO/EHLO and STARTTLS).

DATA is read by our own `smtp_DATA` (`data_reader`), not aiosmtpd's line by
line one: the same checks, replies and envelope, in large pieces, with the
event loop free between them. Commands are read as aiosmtpd reads them.

Invariants:
- On shutdown, a DATA in flight is answered first (its commit, audit and
  reply), within the grace period; past it, it is cancelled, so nothing is
  stored that the client was not told of (`registry`).
- DATA: a line over 1000 octets gets `500 5.5.2`, data over `data_size_limit`
  `552 5.3.4`, both after the final `.`; the session goes on. A pipelined
  command after the data stays in the reader. Per connection, the reader
  buffers at most about 2 x `READ_LIMIT` (256 KiB) plus one socket read
  while DATA is read, 2 x 1001 octets otherwise; the kept data is bounded by
  `data_size_limit`. A client gone during DATA is logged at INFO only.
- `decode_data` is honoured as aiosmtpd does (the gateway runs without it).
- A command whose argument holds a control character (NUL, CR, ...) gets
  `501 5.5.2` and is not run (`command_syntax`).
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

Ref: RFC 5321 4.1.1.3, 4.1.1.4, 4.1.2, 4.5.2, 4.5.3.1; RFC 2920 (PIPELINING);
RFC 2034 (ENHANCEDSTATUSCODES); RFC 3461 (DSN); docs/architecture.md "Replies".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, AnyStr

from aiosmtpd.smtp import MISSING, Envelope, syntax

from imap_store.store.interfaces import AuditSink
from message.dsn_params import DsnParamError, parse_mail_dsn, parse_rcpt_dsn
from policy.replies import MESSAGE_TOO_BIG

from .command_syntax import guarded
from .connection import SmtpConnection
from .data_reader import READ_LIMIT, DataAssembler, DataVerdict, joined, read_data
from .dsn import take_dsn_params
from .path_syntax import simple_path
from .rcpt_limits import RcptGuard, RcptLimits, RcptStop
from .replies import (
    AIOSMTPD_REPLACEMENTS,
    DATA_GO_AHEAD,
    DATA_NEED_RCPT,
    DATA_NOT_ASCII,
    DATA_SYNTAX,
    DSN_PARAMETER,
    LINE_TOO_LONG,
    OK,
    with_enhanced_code,
)
from .session import Transaction

if TYPE_CHECKING:
    from imap_store.store.admission import Ticket
    from imap_store.store.tls_failures import HandshakeLog

    from .registry import SessionRegistry

log = logging.getLogger("mss.smtp")

# Extensions aiosmtpd does not advertise itself (it writes SIZE, 8BITMIME, SMTPUTF8,
# STARTTLS and AUTH): commands are read in order, so PIPELINING holds; replies carry
# enhanced codes; DSN parameters are read by `MssSMTP._take_dsn`.
EXTENSIONS = ("PIPELINING", "ENHANCEDSTATUSCODES", "DSN")

# Positive reply lines as written (replacement and enhanced code applied), by the line
# given: most replies are the same few lines. Bounded: emptied when full.
_WRITTEN: dict[bytes, bytes] = {}
_WRITTEN_MAX = 256


def advertise(lines: list[str], extensions: tuple[str, ...] = EXTENSIONS) -> list[str]:
    """EHLO reply lines with `extensions` added before the last line (none twice)."""
    if len(lines) < 2 or not lines[-1].startswith("250 "):
        return lines
    present = {line[4:].split(" ")[0].upper() for line in lines[1:]}
    extra = [f"250-{ext}" for ext in extensions if ext not in present]
    return lines[:-1] + extra + lines[-1:]


class MssSMTP(SmtpConnection):
    """aiosmtpd's SMTP commands with our replies, DSN parameters, RCPT limits and DATA."""

    def __init__(self, handler: object, *, registry: SessionRegistry, listener: str,
                 audit: AuditSink, rcpt_limits: RcptLimits, ticket: Ticket,
                 line_timeout: float, tls_failures: HandshakeLog, **kwargs: Any) -> None:
        self.transaction: Transaction | None = None
        super().__init__(handler, registry=registry, listener=listener, ticket=ticket,
                         line_timeout=line_timeout, tls_failures=tls_failures, **kwargs)
        # RFC 5321 4.1.2: an argument holding a control character is a syntax error.
        self._smtp_methods = guarded(self._smtp_methods, self.push)
        self.audit = audit
        self.rcpt_guard = RcptGuard(rcpt_limits)
        self._last_status = b""

    def _create_envelope(self) -> Envelope:
        self.transaction = None  # aiosmtpd starts a new envelope: the transaction is over
        return super()._create_envelope()

    def current_transaction(self) -> Transaction:
        """The transaction opened by the accepted MAIL (aiosmtpd allows RCPT/DATA only then)."""
        if self.transaction is None:
            raise RuntimeError("no mail transaction in progress")
        return self.transaction

    async def push(self, status: AnyStr) -> None:
        raw = status.encode("ascii", "replace") if isinstance(status, str) else bytes(status)
        line = _WRITTEN.get(raw)
        if line is None:
            replacement = AIOSMTPD_REPLACEMENTS.get(raw)
            line = with_enhanced_code(replacement.line().encode() if replacement else raw)
            if raw[:1] in (b"2", b"3"):  # not the error lines, which may quote the client
                if len(_WRITTEN) >= _WRITTEN_MAX:
                    _WRITTEN.clear()
                _WRITTEN[raw] = line
        self._last_status = line
        await super().push(line)

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
