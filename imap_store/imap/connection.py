"""One client connection: bytes in and out around an `ImapSession`.

Owns: `ImapConnection`, which reads from an asyncio stream into the framer,
sends continuation requests for accepted literals, parses and executes
commands, buffers responses, upgrades to TLS on STARTTLS, applies the
autologout timers and answers shutdown with `* BYE`. It implements the
session's `Channel`.

Invariants:
- STARTTLS: the OK is flushed, then every byte already received (framer and
  stream buffers) is discarded before the handshake, so plaintext pipelined
  after STARTTLS is never executed (RFC 3501 11.1; CVE-2011-0411 class);
  a failed handshake ends the connection and is one rate-limited WARNING
  line and one `tls.handshake_failed` audit record
  (`imap_store.store.tls_failures`), never an error;
- every TLS session, after STARTTLS or implicit (port 993), is audited once
  up, before the greeting or the next command: `tls.session` with
  protocol, cipher and peer certificate subject (R5, R6, R24);
- reads are bounded by the autologout timers (RFC 3501 5.4), then `* BYE`
  and close: before login by the login deadline, `preauth_timeout` after
  accept whatever the client sends (STARTTLS handshake included); after
  login by `idle_timeout` between reads; and while part of a command line is
  buffered, by `command_line_timeout` from the moment it started;
- the connection holds its admission ticket (`imap_store.store.admission`)
  and moves it to the logged-in counts of its BAL at login, which a BAL at
  its connection cap refuses (`admit_login`);
- writes go out whole (one buffer per `write`), so cancelling a connection
  never splits a response; the buffer is flushed when it reaches
  `write_buffer` bytes and at the end of every command;
- no exception ends the process or another connection; unexpected ones are
  logged with their traceback, without any client data.

Ref: R5, R6, R24; RFC 3501 5.4, 6.2.1, 7.1.5, 11.1; RFC 8314 (implicit TLS).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from contextlib import suppress

from imap_store.imap.commands.dispatch import execute
from imap_store.imap.parse.framer import (
    CommandReader,
    ContinuationNeeded,
    FramerEvent,
    RawCommand,
    Rejected,
    tag_of,
)
from imap_store.imap.parse.parser import parse_command
from imap_store.imap.render.response import (
    Atom,
    Continuation,
    Response,
    Tagged,
    UntaggedStatus,
    bye,
    code,
)
from imap_store.store.admission import Ticket
from imap_store.store.interfaces import Principal, peer_address
from imap_store.store.tls_failures import HandshakeLog

from .backend import ImapBackend
from .errors import CommandBad, ConnectionLost, ParseError, SessionTimeout
from .limits import ImapLimits
from .session import ImapSession, SessionState

log = logging.getLogger(__name__)
READ_CHUNK = 65_536
CLOSE_TIMEOUT = 2.0
IDLE_TOO_LONG = "Autologout; idle for too long"
LOGIN_TOO_SLOW = "Autologout; login took too long"
LINE_TOO_SLOW = "Command line took too long"


def _drop_stream_buffer(reader: asyncio.StreamReader) -> int:
    """Discard what the StreamReader already holds (no public API does this)."""
    buffer = getattr(reader, "_buffer", None)
    if not isinstance(buffer, bytearray):
        return 0
    dropped = len(buffer)
    buffer.clear()
    return dropped


class ImapConnection:
    """The I/O side of one IMAP session."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
        backend: ImapBackend, limits: ImapLimits, ssl_context: ssl.SSLContext,
        hostname: str, tls_active: bool, ticket: Ticket,
        tls_failures: HandshakeLog | None = None,
    ) -> None:
        self._reader, self._writer = reader, writer
        self._tls_failures = tls_failures if tls_failures is not None else HandshakeLog("imap")
        self._ticket = ticket
        self._line_started: float | None = None
        self._ends_seen = 0
        self._limits, self._ssl_context = limits, ssl_context
        self._framer = CommandReader(limits)
        self._out = bytearray()
        self._tls = tls_active
        self._peer = peer_address(writer.get_extra_info("peername"))
        self.session = ImapSession(backend, self, limits, hostname)
        self._task: asyncio.Task[None] | None = None
        self._waiting_input = False
        self._deadline, self._deadline_text = 0.0, IDLE_TOO_LONG
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False
        self._shutting_down = False
        self._aborted = False

    @property
    def peer(self) -> str:
        """The client's IP address."""
        return self._peer

    @property
    def tls_active(self) -> bool:
        """True once the connection is encrypted."""
        return self._tls

    async def send(self, response: Response) -> None:
        """Queue a response; flush when the buffer is full."""
        self._out += response.render()
        if len(self._out) >= self._limits.write_buffer:
            await self.flush()

    async def flush(self) -> None:
        """Write out everything queued."""
        if not self._out:
            return
        data = bytes(self._out)
        self._out.clear()
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise ConnectionLost from exc

    async def read_line(self) -> bytes:
        """A raw client line inside a command (SASL response, IDLE's DONE)."""
        while True:
            line = self._framer.next_line()
            if isinstance(line, Rejected):
                if line.fatal:
                    raise ConnectionLost
                raise CommandBad(line.response.text, line.response.code)
            if line is not None:
                return line
            await self._fill()

    async def start_tls(self) -> None:
        """Flush the OK, drop pipelined plaintext, then handshake."""
        await self.flush()
        # RFC 3501 11.1: plaintext pipelined after STARTTLS is never executed
        # (CVE-2011-0411 class).
        dropped = self._framer.discard_buffered() + _drop_stream_buffer(self._reader)
        if dropped:
            log.warning("discarded %d plaintext bytes pipelined after STARTTLS", dropped)
        limit = self._limits.tls_handshake_timeout
        if self.session.state is SessionState.NOT_AUTHENTICATED:
            limit = min(limit, self._ticket.login_deadline - asyncio.get_running_loop().time())
        try:
            async with asyncio.timeout(limit):
                await self._writer.start_tls(self._ssl_context)
        except (TimeoutError, ssl.SSLError, ConnectionError, OSError) as exc:
            # One rate-limited WARNING line and one audit record (peer, OpenSSL's
            # reason); the connection ends.
            await self._tls_failures.handshake_failed(
                self._writer.get_extra_info("peername"), exc, self.session.session_id)
            raise ConnectionLost from exc
        self._tls = True
        await self._tls_established()

    async def _tls_established(self) -> None:
        """Audit the TLS session now up: `tls.session` (R5, R6, R24)."""
        await self._tls_failures.established(self._writer.get_extra_info("peername"),
                                             self._writer.get_extra_info("ssl_object"),
                                             self.session.session_id)

    def admit_login(self, principal: Principal) -> bool:
        """Count the connection as logged in on the principal's BAL; at its cap, queue
        `* BYE`, end the session after the tagged reply and return False."""
        if self._ticket.log_in(principal.bal_id) is None:
            return True
        # RFC 3501 7.1.5: BYE before the server closes the connection.
        self._out += bye("Too many connections for this mailbox").render()
        self.session.state = SessionState.LOGOUT
        return False

    def _read_limit(self, now: float) -> tuple[float, str]:
        """How long the next read may wait, and the BYE text when it times out."""
        if self.session.state is SessionState.NOT_AUTHENTICATED:
            # The login deadline runs from accept and no traffic extends it.
            limit, text = self._ticket.login_deadline - now, LOGIN_TOO_SLOW
        else:  # RFC 3501 5.4: at least 30 minutes once logged in
            limit, text = self._limits.idle_timeout, IDLE_TOO_LONG
        if not self._framer.mid_line or self._framer.ends != self._ends_seen:
            self._line_started = None  # no line pending, or a new one since the last read
        self._ends_seen = self._framer.ends
        if self._line_started is None and self._framer.mid_line:
            self._line_started = now
        if self._line_started is not None:
            line_left = self._line_started + self._limits.command_line_timeout - now
            if line_left < limit:
                limit, text = line_left, LINE_TOO_SLOW
        return limit, text

    async def _fill(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        limit, text = self._read_limit(now)
        if limit <= 0:
            raise SessionTimeout(text)
        self._deadline, self._deadline_text = now + limit, text
        self._arm(loop)
        self._waiting_input = True
        try:
            data = await self._reader.read(READ_CHUNK)
        except asyncio.CancelledError:
            if not self._expired:
                raise
            self._expired = False
            if self._task is not None:
                self._task.uncancel()
            raise SessionTimeout(self._deadline_text) from None
        except (ConnectionError, ssl.SSLError) as exc:
            raise ConnectionLost from exc
        finally:
            self._waiting_input = False
        if not data:
            raise ConnectionLost
        self._framer.feed(data)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """One timer per connection, moved only when the read deadline comes earlier
        than it (a partial line, the login deadline): a read does not create and cancel
        a timer of its own (an `asyncio.timeout` costs about 8 µs). A timer that fires
        early (the deadline moved later since) is set again for the deadline."""
        timer = self._timer
        if timer is not None and timer.when() <= self._deadline:
            return
        if timer is not None:
            timer.cancel()
        self._timer = loop.call_at(self._deadline, self._deadline_passed)

    def _deadline_passed(self) -> None:
        self._timer = None
        if not self._waiting_input or self._task is None:
            return  # a command is running: the next read sets the timer again
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._arm(loop)
            return
        self._expired = True
        self._task.cancel()

    def request_shutdown(self) -> None:
        """Say BYE as soon as no command is running (interrupting reads)."""
        self._shutting_down = True
        if self._waiting_input and self._task is not None:
            self._task.cancel()

    def abort(self) -> None:
        """Drop the connection at once (shutdown grace exhausted)."""
        self._aborted = True
        self._writer.transport.abort()

    async def run(self) -> None:
        """Serve the connection until LOGOUT, EOF, timeout or shutdown."""
        self._task = asyncio.current_task()
        try:
            await self._serve()
        except SessionTimeout as exc:  # RFC 3501 5.4: autologout says BYE first
            await self._bye(str(exc))
        except ConnectionLost:
            pass
        except asyncio.CancelledError:
            if not self._shutting_down or self._task is None:
                raise
            self._task.uncancel()
            await self._bye("Server shutting down")
        except Exception:
            log.exception("IMAP connection failed (session %s)", self.session.session_id)
            await self._bye("Internal server error")
        finally:
            await self._close()

    async def _serve(self) -> None:
        if self._tls:  # implicit TLS (port 993): the doorway's handshake is done
            await self._tls_established()
        caps = tuple(Atom(name) for name in self.session.capabilities())
        # RFC 3501 7.1.1: the greeting is an untagged OK, here with the capabilities.
        greeting = f"{self.session.hostname} IMAP4rev1 ready"
        await self.send(UntaggedStatus("OK", greeting, code("CAPABILITY", *caps)))
        await self.flush()
        while self.session.state is not SessionState.LOGOUT:
            if self._shutting_down:
                await self._bye("Server shutting down")
                return
            if not await self._step(await self._next_event()):
                return

    async def _next_event(self) -> FramerEvent:
        authenticated = self.session.state is not SessionState.NOT_AUTHENTICATED
        limits = self._limits
        self._framer.literal_limit = (
            limits.max_literal if authenticated else limits.max_preauth_literal
        )
        while (event := self._framer.next_event()) is None:
            await self._fill()
        return event

    async def _step(self, event: FramerEvent) -> bool:
        if isinstance(event, ContinuationNeeded):  # RFC 3501 7.5: "+" invites the literal
            await self.send(Continuation("go ahead"))
        elif isinstance(event, Rejected):
            await self.send(event.response)
            if event.fatal:  # RFC 7888 4: an over-limit {n+} literal may end the connection
                await self._bye("Literal too large")
                return False
        else:
            await self._command(event.raw)
        await self.flush()
        return True

    async def _command(self, raw: RawCommand) -> None:
        if raw.lines == (b"",):
            return
        try:
            command = parse_command(raw, self._limits.max_depth)
        except ParseError as exc:
            await self.send(exc.render_response())
            return
        except Exception:
            log.exception("IMAP parser failed (session %s)", self.session.session_id)
            await self.send(Tagged(tag_of(raw.lines[0]), "BAD", "Invalid command"))
            return
        await execute(self.session, command)

    async def _bye(self, text: str) -> None:
        if self._aborted:
            return
        with suppress(ConnectionLost, TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.send(bye(text))
                await self.flush()

    async def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.session.release_view()
        self._writer.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._writer.wait_closed()
        except TimeoutError:
            self._writer.transport.abort()
        except Exception:  # noqa: S110 - the peer is gone either way
            pass
