"""Exceptions that render their own IMAP response.

Owns: `ImapError` (tagged NO/BAD carrying a response code), `ParseError` (a BAD
for malformed input, tagged when the tag could be read, else `* BAD`), and the
connection-level signals `ConnectionLost` and `SessionTimeout`.

Invariant ("raise deep, reply once", docs/architecture.md "Conventions" 4):
deep code raises; the dispatcher is the one place that turns these into
responses. Texts are public and generic.

Ref: RFC 3501 7.1 (status responses), RFC 5530 (response codes).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from imap_store.imap.render.response import ResponseCode, Tagged, UntaggedStatus


class ImapError(Exception):
    """A command failure that becomes `tag NO|BAD [CODE] text`."""

    status: ClassVar[Literal["NO", "BAD"]] = "NO"

    def __init__(self, text: str, code: ResponseCode | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code

    def response(self, tag: str) -> Tagged:
        """The tagged response for the failed command."""
        return Tagged(tag, self.status, self.text, self.code)


class CommandNo(ImapError):
    """The command was understood but refused (`NO`)."""

    status = "NO"


class CommandBad(ImapError):
    """The command was not acceptable: syntax, state or arguments (`BAD`)."""

    status = "BAD"


class ParseError(CommandBad):
    """Malformed client input; `tag` is None until the tag is known."""

    def __init__(self, text: str, code: ResponseCode | None = None, tag: str | None = None):
        super().__init__(text, code)
        self.tag = tag

    def with_tag(self, tag: str | None) -> ParseError:
        """The same error, now bound to the command's tag."""
        return ParseError(self.text, self.code, tag if self.tag is None else self.tag)

    def render_response(self) -> Tagged | UntaggedStatus:
        """`tag BAD ...`, or `* BAD ...` when the tag could not be read."""
        if self.tag is None:
            return UntaggedStatus("BAD", self.text, self.code)
        return self.response(self.tag)


class ConnectionLost(Exception):
    """The client went away (EOF or reset)."""


class SessionTimeout(Exception):
    """The client was idle longer than the autologout timer (RFC 3501 5.4)."""
