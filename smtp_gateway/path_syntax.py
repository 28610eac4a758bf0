"""The common MAIL FROM / RCPT TO path read without the e-mail header parser.

Owns: `simple_path(arg)`: for an argument that starts with a plain
`<local@domain>` path, a dot-atom local part (RFC 5322 3.2.3 atext) and a
domain of LDH labels, the address and the rest of the argument (its ESMTP
parameters), exactly as aiosmtpd's `_getaddr` (the `email` package's
`get_angle_addr`) gives them; None for anything else, which then goes to
that parser (quoted local parts, address literals, UTF-8, `<>`, source routes,
comments). aiosmtpd parses each MAIL and RCPT argument with it, twice here
(the DSN parameters are taken first: `protocol.MssSMTP._take_dsn`), and it was
a tenth of the gateway's CPU per message.

Invariants: never a different answer from `get_angle_addr` (property-tested
against it, `tests/property/test_path_syntax.py`); white space after the
closing `>` is skipped as that parser skips it; a comment there is left to it.

Ref: RFC 5321 4.1.2 (Path, Mailbox, Dot-string, Domain).
"""

from __future__ import annotations

import re

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PATH = re.compile(rf"[ \t]*<({_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})*)>[ \t]*")


def simple_path(arg: str) -> tuple[str, str] | None:
    """(address, rest) of a plain `<local@domain>` path at the start of `arg`, else None."""
    found = _PATH.match(arg)
    if found is None:
        return None
    rest = arg[found.end():]
    if rest.startswith("("):  # a comment: the full parser decides
        return None
    return found.group(1), rest
