"""Resource limits of the IMAP engine, one frozen value per listener.

Invariants: every input the client controls is bounded before it is buffered:
line length, literal size (checked before the continuation is sent), total
command size, parenthesis nesting, connection count and idle time. Before
login, literals are limited to `max_preauth_literal` (credentials are small),
so unauthenticated clients cannot make the server buffer large messages.
An APPENDed message whose MIME structure nests deeper than `max_mime_depth`
is refused (`NO [LIMIT]`), as SMTP refuses it (`limits.max_mime_depth`).
Connections are counted by `imap_store.store.admission` (`admission_limits`):
`max_connections` in all, `max_preauth_connections` before login,
`max_preauth_per_address` of those from one client address,
`max_connections_per_bal` logged in on one BAL. `preauth_timeout` is the
whole time from accept (TLS handshake included) to a successful login, never
extended by traffic; `command_line_timeout` bounds each command line from
its first octet to its end (literal octets excepted: they are bounded by
`preauth_timeout` before login and by `idle_timeout` between reads after).

Ref: RFC 3501 5.4 (autologout timer, at least 30 minutes once authenticated),
RFC 7888 4 (literal limits), RFC 2683 3.2.1.5 (line lengths),
docs/architecture.md "Defaults" (maximum message 52,428,800 bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

from imap_store.store.admission import AdmissionLimits
from message.mime_tree import MAX_DEPTH

MAX_MESSAGE = 52_428_800
LITERAL_MARGIN = 1_048_576


@dataclass(frozen=True)
class ImapLimits:
    """Bounds applied by the framer, the parser and the connection."""

    max_line: int = 65_536
    max_literal: int = MAX_MESSAGE + LITERAL_MARGIN
    max_command: int | None = None
    max_preauth_literal: int = 8_192
    max_depth: int = 20
    max_mime_depth: int = MAX_DEPTH
    max_connections: int = 1_000
    max_preauth_connections: int = 500
    max_preauth_per_address: int = 20
    max_connections_per_bal: int = 50
    preauth_timeout: float = 60.0
    command_line_timeout: float = 30.0
    idle_timeout: float = 1_800.0
    notify_poll_interval: float = 30.0
    tls_handshake_timeout: float = 30.0
    write_buffer: int = 65_536

    def __post_init__(self) -> None:
        if min(self.max_line, self.max_literal, self.max_depth, self.max_connections,
               self.max_preauth_connections, self.max_preauth_per_address,
               self.max_connections_per_bal, self.max_mime_depth) <= 0:
            raise ValueError("IMAP limits must be positive")
        if min(self.preauth_timeout, self.command_line_timeout, self.idle_timeout) <= 0:
            raise ValueError("IMAP timers must be positive")
        if self.max_command is not None and self.max_command < self.max_literal:
            raise ValueError("max_command must be at least max_literal")

    def admission_limits(self) -> AdmissionLimits:
        """The connection caps and the login time, for `imap_store.store.admission`."""
        return AdmissionLimits(
            max_connections=self.max_connections, max_preauth=self.max_preauth_connections,
            max_preauth_per_address=self.max_preauth_per_address,
            max_per_bal=self.max_connections_per_bal, login_timeout=self.preauth_timeout)

    @property
    def command_limit(self) -> int:
        """Bytes one command may total: `max_command`, else max_literal + margin."""
        if self.max_command is not None:
            return self.max_command
        return self.max_literal + LITERAL_MARGIN
