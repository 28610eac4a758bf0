"""The two deadlines of an SMTP connection that no traffic extends.

Owns: `SessionDeadlines`, kept by `connection.SmtpConnection`: the login deadline (from
accept, TLS handshake included, to a successful AUTH; `limits.smtp_login_timeout`,
carried by the connection's admission ticket) and the line deadline (a command
line, or a line answering an AUTH challenge, must end within
`limits.smtp_command_line_timeout` of its first octet). aiosmtpd's own
`timeout` (`limits.smtp_command_timeout`) stays the idle timer between
commands (RFC 5321 4.5.3.2.7).

Invariants:
- Either expiry answers its `421 4.7.0` reply and closes the connection
  (`expire(reply)`).
- The line deadline follows the octets as they arrive (`feed`), not
  aiosmtpd's reads: a line started and not ended in time expires even while
  the client keeps sending octets of it; every line end restarts it for the
  next line.
- It is paused while DATA is read and committed (the data reader and intake
  have their own bounds), and restarted by STARTTLS (the plaintext buffered
  before it is discarded).
- Both are loop timers, cancelled on every path (`cancel`).

Ref: RFC 5321 3.8 (421 and close), 4.5.3.2 (timeouts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from policy.reply import Reply

from .replies import COMMAND_LINE_TOO_SLOW, LOGIN_TOO_SLOW


class SessionDeadlines:
    """The login deadline and the line deadline of one SMTP connection."""

    def __init__(self, *, login_deadline: float, line_timeout: float,
                 expire: Callable[[Reply], None]) -> None:
        self._login_deadline = login_deadline
        self._line_timeout = line_timeout
        self._expire = expire
        self._login: asyncio.TimerHandle | None = None
        self._line: asyncio.TimerHandle | None = None
        self._lines_paused = False

    def start(self) -> None:
        """Arm the login deadline (the connection is served from now)."""
        loop = asyncio.get_running_loop()
        self._login = loop.call_at(self._login_deadline, self._expire, LOGIN_TOO_SLOW)

    def logged_in(self) -> None:
        """AUTH succeeded: the login deadline no longer applies."""
        if self._login is not None:
            self._login.cancel()
            self._login = None

    def feed(self, data: bytes) -> None:
        """Octets just received: a line end stops the line deadline, a started line arms it."""
        if self._lines_paused or not data:
            return
        end = data.rfind(b"\n")
        if end >= 0:
            self._stop_line()
        if end != len(data) - 1 and self._line is None:
            loop = asyncio.get_running_loop()
            self._line = loop.call_later(self._line_timeout, self._expire, COMMAND_LINE_TOO_SLOW)

    def pause_lines(self) -> None:
        """DATA: the octets that follow are message data, not command lines."""
        self._lines_paused = True
        self._stop_line()

    def resume_lines(self) -> None:
        self._lines_paused = False

    def restart_lines(self) -> None:
        """STARTTLS: the partial line buffered before it was discarded."""
        self._stop_line()

    def cancel(self) -> None:
        """The connection is gone."""
        self.logged_in()
        self._stop_line()

    def _stop_line(self) -> None:
        if self._line is not None:
            self._line.cancel()
            self._line = None
