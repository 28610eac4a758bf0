"""Protocol-level SMTP replies of the gateway (not policy refusals).

Policy refusals live in `policy.replies`; these are the gateway's own
answers: authentication, shutdown, connection and RCPT limits, and the
translations of aiosmtpd's built-in reply lines into typed replies with
enhanced codes.

Ref: RFC 4954 6 (AUTH replies); RFC 5321 4.2, 3.8 (421 on shutdown), 4.5.3.1.10;
RFC 3463; RFC 2034 3 (which replies carry an enhanced code).
"""

from __future__ import annotations

import re

from policy.replies import LOCAL_ERROR, MESSAGE_TOO_BIG
from policy.reply import Reply

AUTH_OK = Reply(235, "2.7.0", "Authentication successful")
AUTH_FAILED = Reply(535, "5.7.8", "Authentication credentials invalid")
AUTH_MALFORMED = Reply(501, "5.5.2", "Cannot decode authentication data")
AUTH_NOT_TLS = Reply(538, "5.7.11", "Encryption required for requested authentication mechanism")
AUTH_TEMPORARY = Reply(454, "4.7.0", "Temporary authentication failure, try again later")
OK = Reply(250, "2.0.0", "OK")
SENDER_OK = Reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient OK")
SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down, try again later")
TOO_MANY_CONNECTIONS = Reply(421, "4.7.0", "Too many connections, try again later")
# Connection admission and deadlines (`imap_store.store.admission`, `deadlines`): RFC 5321 3.8
TOO_MANY_FROM_ADDRESS = Reply(421, "4.7.0",
                              "Too many connections from your address, try again later")
TOO_MANY_FOR_MAILBOX = Reply(421, "4.7.0",
                             "Too many connections for this mailbox, try again later")
LOGIN_TOO_SLOW = Reply(421, "4.7.0", "Authentication took too long, closing connection")
# The BAL was suspended or deleted, or the password of this login changed (R28).
ACCESS_WITHDRAWN = Reply(421, "4.7.0", "Access to this mailbox was withdrawn, closing connection")
COMMAND_LINE_TOO_SLOW = Reply(421, "4.7.0", "Command line took too long, closing connection")
LINE_TOO_LONG = Reply(500, "5.5.2", "Line too long")
# RFC 5321 4.1.2 (no control characters in a command's arguments) and the MIME nesting bound
# (`limits.max_mime_depth`; RFC 3463 3.7: 5.6.0, a media error).
CONTROL_CHARACTER = Reply(501, "5.5.2", "Syntax error: control character in command")
INVALID_UTF8 = Reply(501, "5.5.2", "Syntax error: command is not valid UTF-8")
MIME_TOO_DEEP = Reply(554, "5.6.0", "Message structure nested too deeply")
# RFC 3461 (DSN parameters RET, ENVID, NOTIFY, ORCPT); RFC 3463 3.6: 5.5.4, invalid arguments.
DSN_PARAMETER = Reply(501, "5.5.4", "Invalid DSN parameter")
# RCPT limits (`rcpt_limits`): RFC 5321 4.5.3.1.10 (452 too many recipients), 3.8 (421, close)
TOO_MANY_RCPT_COMMANDS = Reply(452, "4.5.3", "Too many recipients")
TOO_MANY_REFUSED_RCPTS = Reply(421, "4.7.0", "Too many refused recipients, closing connection")
# The MX listener (R4; RFC 3207 4: 530 before STARTTLS); no AUTH there (RFC 5321 4.2.4: 502).
STARTTLS_REQUIRED = Reply(530, "5.7.0", "Must issue a STARTTLS command first")
NO_AUTH_HERE = Reply(502, "5.5.1", "AUTH not available on this port")

# aiosmtpd writes some replies itself; the gateway replaces them (docs/architecture.md "Replies").
AIOSMTPD_REPLACEMENTS: dict[bytes, Reply] = {
    b"552 Error: Too much mail data": MESSAGE_TOO_BIG,
    b"552 Error: message size exceeds fixed maximum message size": MESSAGE_TOO_BIG,
    b"500 Line too long (see RFC5321 4.5.3.1.6)": LINE_TOO_LONG,
    b"500 Command line too long": LINE_TOO_LONG,
    b"530 Must issue a STARTTLS command first": STARTTLS_REQUIRED,
}

# ENHANCEDSTATUSCODES (RFC 2034 3): every reply but the greeting, HELO/EHLO and the
# intermediate 334/354 carries an enhanced code. aiosmtpd writes some lines without one
# ("250 OK", "503 Error: need MAIL command", "221 Bye", ...): the gateway adds the code of
# their class (RFC 3463: 5.5.x protocol errors, 5.7.0 security, X.0.0 otherwise).
ENHANCED_BY_CODE: dict[int, str] = {
    500: "5.5.2", 501: "5.5.2", 502: "5.5.1", 503: "5.5.1", 504: "5.5.4", 530: "5.7.0",
    554: "5.7.0", 555: "5.5.4"}
NO_ENHANCED_CODE = frozenset({220, 334, 354})
_ENHANCED = re.compile(rb"[245]\.[0-9]{1,3}\.[0-9]{1,3}(?: |$)")


def with_enhanced_code(line: bytes) -> bytes:
    """`line` with an enhanced status code after its reply code when it has none."""
    if len(line) < 4 or not line[:3].isdigit() or line[3:4] not in (b" ", b"-"):
        return line
    code = int(line[:3])
    if code in NO_ENHANCED_CODE or _ENHANCED.match(line, 4):
        return line
    enhanced = ENHANCED_BY_CODE.get(code, f"{code // 100}.0.0")
    return line[:4] + enhanced.encode() + (b" " + line[4:] if line[4:] else b"")


# aiosmtpd's own lines around DATA, written as it writes them by our DATA reader
# (`MssSMTP.smtp_DATA`), which replaces its `smtp_DATA`.
DATA_NEED_RCPT = b"503 Error: need RCPT command"
DATA_SYNTAX = b"501 Syntax: DATA"
DATA_GO_AHEAD = b"354 End data with <CR><LF>.<CR><LF>"
DATA_NOT_ASCII = b"500 Error: strict ASCII mode"

__all__ = ["LOCAL_ERROR"]
