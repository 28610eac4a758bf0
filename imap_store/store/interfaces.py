"""Protocols that let the layers talk without importing upward.

Owns: the `AuditSink` protocol (record an event) and the `Notices` intake
protocol (hand a system message to intake), plus the value types they carry.
They are implemented in `server/` and passed down at wiring time.

Invariant: an `AuditEvent` never carries a subject, a body or any header value
other than addresses and Message-ID (MSS-RULES R24).

Ref: MSS-RULES R24; ARCHITECTURE "Two small Protocols".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Principal:
    """Who is acting: the BAL and, when known, the person behind it (R10)."""

    bal_id: int
    address: str
    bal_type: str
    person: str | None = None
    granted: frozenset[str] = frozenset()
    """Every BAL address this principal may send as (its own BAL included)."""


@dataclass(frozen=True)
class AuditEvent:
    """One audited fact. `detail` holds envelope data only, never content."""

    event: str
    protocol: str = ""
    session: str = ""
    peer: str = ""
    bal: str = ""
    person: str = ""
    detail: Mapping[str, object] = field(default_factory=dict)


class AuditSink(Protocol):
    """Append-only audit trail (R24)."""

    async def record(self, event: AuditEvent) -> None: ...


class Notices(Protocol):
    """Hands a system message (DSN, lifecycle warning, ...) to intake (STYLE 7)."""

    async def submit_notice(self, recipient: str, message: bytes, reason: str) -> None: ...
