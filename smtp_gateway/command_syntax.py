"""Command lines holding a control character are refused before the command runs.

Owns: `has_control(arg)` and `guarded(methods, push)`, which wraps each of
aiosmtpd's command methods (`MssSMTP` applies it to all of them) so that an
argument holding a control character is answered `501 5.5.2`
(`replies.CONTROL_CHARACTER`) and the command is not run.

Invariants: a control character is any of U+0000 to U+001F and U+007F (NUL,
a CR or LF inside the line, HTAB...): RFC 5321 builds every command from
printable US-ASCII and SP, so no such argument is valid (EHLO and HELO
names, MAIL and RCPT addresses and parameters, AUTH data alike); aiosmtpd
has already removed the line's CRLF and the white space around the argument;
the session goes on after the refusal, as after any syntax error; the help
text of each command (HELP) is kept. An argument that is not valid UTF-8
(aiosmtpd, with SMTPUTF8 on, keeps such octets as lone surrogates) is
answered `501 5.5.2` (`replies.INVALID_UTF8`) the same way.

Ref: RFC 5321 2.3.8 (lines end with CRLF only), 4.1.1.1, 4.1.2 (command
argument syntax), 4.2.2 (501 syntax error in parameters or arguments);
RFC 3463 3.6 (5.5.2); RFC 6531 3.3 (UTF-8 in commands).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping

from .replies import CONTROL_CHARACTER, INVALID_UTF8

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNDECODED = re.compile("[\udc80-\udcff]")

Method = Callable[[str | None], Awaitable[None]]


def has_control(arg: str | None) -> bool:
    """True when a command argument holds a control character."""
    return arg is not None and _CONTROL.search(arg) is not None


def guarded(methods: Mapping[str, Method],
            push: Callable[[str], Awaitable[None]]) -> dict[str, Method]:
    """Each command method, refusing arguments that hold a control character."""
    def guard(method: Method) -> Method:
        @functools.wraps(method)  # keeps aiosmtpd's syntax attributes, read by HELP
        async def run(arg: str | None) -> None:
            if has_control(arg):
                await push(CONTROL_CHARACTER.line())
                return
            if arg is not None and _UNDECODED.search(arg):
                await push(INVALID_UTF8.line())
                return
            await method(arg)
        return run
    return {name: guard(method) for name, method in methods.items()}
