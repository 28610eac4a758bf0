"""What the DATA-stage content rules know: the message's files, the antivirus answer, the policy.

Owns: the protocols `FileNameView`, `ItemView`, `ContentView` (read by the
message parser: the gateway passes `message.content_facts`) and `ScanView`
(the antivirus answer the gateway obtained), and `AttachmentPolicy`, the
operator's `[attachments]` choices the rule applies.

Invariants: no rule reads a file's octets or a file name; the parser gives
the detected type, the declared type, the name's digest and extensions, and
named findings (see `message/content_facts.py`). A scan status is one of
`clean`, `infected`, `unavailable`.

Ref: R20, R26; docs/architecture.md "Conventions" 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from .attachment_types import DEFAULT_ALLOWED

SCAN_STATUSES = frozenset({"clean", "infected", "unavailable"})


class FileNameView(Protocol):
    """A file name as the parser keeps it: its digest, extensions, bidi controls."""

    @property
    def digest(self) -> str: ...

    @property
    def extensions(self) -> tuple[str, ...]: ...

    @property
    def bidi(self) -> bool: ...


class ItemView(Protocol):
    """One file of the message (a MIME leaf, an archive entry, an embedded file)."""

    @property
    def path(self) -> str:
        """Where it is: the IMAP section, then `/n` per container (`2/3`)."""

    @property
    def role(self) -> str:
        """`body`, `file`, `entry`, `xdm-index`, `embedded` or `packaged`."""

    @property
    def detected(self) -> str:
        """The type decided on the octets."""

    @property
    def declared(self) -> str | None:
        """The part's Content-Type, when it has one."""

    @property
    def names(self) -> tuple[FileNameView, ...]: ...

    @property
    def findings(self) -> frozenset[str]: ...


class ContentView(Protocol):
    """Every file of the message, what is malformed, and whether all were looked at."""

    @property
    def items(self) -> tuple[ItemView, ...]: ...

    @property
    def problems(self) -> tuple[str, ...]: ...

    @property
    def complete(self) -> bool: ...


class ScanView(Protocol):
    """The antivirus answer: `clean`, `infected` (detail: the signature) or `unavailable`."""

    @property
    def status(self) -> str: ...

    @property
    def detail(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class AttachmentPolicy:
    """The operator's attachment choices (`[attachments]`)."""

    allowed: frozenset[str] = frozenset(DEFAULT_ALLOWED)
    """Detected types allowed as files (anything else: 554 5.7.1)."""
    refuse_malformed: bool = True
    """Malformed MIME: refused (554 5.6.0), or accepted and checked as far as it can be."""

    def __post_init__(self) -> None:
        allowed: Iterable[str] = self.allowed
        object.__setattr__(self, "allowed", frozenset(t.lower() for t in allowed))
