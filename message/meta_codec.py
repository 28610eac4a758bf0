"""The byte format of a stored `MessageMeta` (encrypted by the caller).

Owns: `encode_meta` and `decode_meta`. Format: `b"M1"`, the length of a JSON
document as 4 big-endian bytes, the JSON (envelope and part tree as nested
arrays, ASCII only: 8-bit header octets travel as surrogate escapes), then the
raw top-level header octets.

Invariants: `decode_meta(encode_meta(m)) == m` for every computed meta; an
unknown version or a damaged blob (nested too deep for the decoder included)
raises `ValueError` (the caller then falls back to parsing the message).

Ref: docs/architecture.md "IMAP engine" (computed once at delivery, stored encrypted).
"""

from __future__ import annotations

import json
import struct
from typing import Any

from .meta import Address, AddressList, EnvelopeMeta, MessageMeta, PartMeta

MAGIC = b"M1"


def _envelope_out(env: EnvelopeMeta) -> list[Any]:
    return [env.date, env.subject, env.from_, env.sender, env.reply_to, env.to, env.cc,
            env.bcc, env.in_reply_to, env.message_id]


def _part_out(part: PartMeta) -> list[Any]:
    return [part.type, part.subtype, part.params, part.id, part.description, part.encoding,
            part.size, part.lines, part.md5, part.disposition, part.language, part.location,
            _envelope_out(part.envelope) if part.envelope else None,
            _part_out(part.message) if part.message else None,
            [_part_out(child) for child in part.children]]


def encode_meta(meta: MessageMeta) -> bytes:
    """MessageMeta -> bytes."""
    doc = [_envelope_out(meta.envelope), _part_out(meta.structure)]
    data = json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return MAGIC + struct.pack(">I", len(data)) + data + meta.header


def _addresses(value: Any) -> AddressList:
    if value is None:
        return None
    out: list[Address] = [(a[0], a[1], a[2], a[3]) for a in value]
    return tuple(out)


def _envelope_in(doc: list[Any]) -> EnvelopeMeta:
    a = [_addresses(v) for v in doc[2:8]]
    return EnvelopeMeta(doc[0], doc[1], a[0], a[1], a[2], a[3], a[4], a[5], doc[8], doc[9])


def _params(doc: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in doc)


def _part_in(doc: list[Any]) -> PartMeta:
    disposition = (doc[9][0], _params(doc[9][1])) if doc[9] is not None else None
    return PartMeta(
        type=doc[0], subtype=doc[1], params=_params(doc[2]), id=doc[3], description=doc[4],
        encoding=doc[5], size=doc[6], lines=doc[7], md5=doc[8], disposition=disposition,
        language=tuple(doc[10]) if doc[10] is not None else None, location=doc[11],
        envelope=_envelope_in(doc[12]) if doc[12] is not None else None,
        message=_part_in(doc[13]) if doc[13] is not None else None,
        children=tuple(_part_in(child) for child in doc[14]))


def decode_meta(blob: bytes) -> MessageMeta:
    """bytes -> MessageMeta; ValueError when the blob is not one."""
    if blob[:2] != MAGIC or len(blob) < 6:
        raise ValueError("not a message meta blob")
    (length,) = struct.unpack(">I", blob[2:6])
    try:
        envelope, structure = json.loads(blob[6 : 6 + length])
        return MessageMeta(blob[6 + length :], _envelope_in(envelope), _part_in(structure))
    # A stored meta is a few levels deep (MIME nesting is bounded): deeper is damage.
    except (TypeError, IndexError, KeyError, RecursionError, json.JSONDecodeError) as exc:
        raise ValueError("damaged message meta blob") from exc
