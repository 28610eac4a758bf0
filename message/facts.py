"""Facts read from a message's header block without keeping any content.

Only the header section is parsed (up to the first empty line). The values
kept are those the audit trail and the policy may use: Message-ID, the
`X-MSS-NIL` product reference, the Content-Type, and the raw header list for
the DATA-stage policy rules (which never log values other than addresses).

Ref: RFC 5322 3.6; R19, R24.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

MAX_HEADER_BYTES = 1_048_576


@dataclass(frozen=True)
class MessageFacts:
    message_id: str
    mss_nil: str | None
    content_type: str
    headers: tuple[tuple[str, str], ...]


def header_block(content: bytes) -> bytes:
    end = content.find(b"\r\n\r\n")
    if end < 0:
        end = content.find(b"\n\n")
    return content[: (end if end >= 0 else min(len(content), MAX_HEADER_BYTES))]


def _unfold(value: str) -> str:
    return " ".join(value.split())


def read_facts(content: bytes) -> MessageFacts:
    msg = BytesHeaderParser(policy=compat32).parsebytes(header_block(content))
    headers = tuple((k, _unfold(str(v))) for k, v in msg.items())
    nil = msg.get("X-MSS-NIL")
    return MessageFacts(
        message_id=_unfold(str(msg.get("Message-ID", "")))[:998],
        mss_nil=_unfold(str(nil))[:64] if nil is not None else None,
        content_type=_unfold(str(msg.get("Content-Type", "text/plain"))).lower(),
        headers=headers)
