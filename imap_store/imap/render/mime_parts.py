"""BODY[section] octets, cut from the byte-level MIME tree of the store.

Owns: `find_part` (RFC 3501 section numbering, message/rfc822 parts opening
onto their inner message) and `section_bytes`, which returns the exact octets
of a BODY[section]; the tree itself is `message.mime_tree`.

Invariants: sections are cut from the original bytes, never re-serialised; a
section that does not exist yields None (sent as NIL); a HEADER.FIELDS[.NOT]
answer is the chosen raw fields followed by the blank line.

Ref: RFC 3501 6.4.5 (section numbering, HEADER, HEADER.FIELDS[.NOT], TEXT,
MIME).
"""

from __future__ import annotations

from functools import lru_cache

from imap_store.imap.parse.fetch_spec import Section
from message.mime_tree import MimePart, header_fields, parse_message, split_header

__all__ = ["MimePart", "find_part", "header_section", "parse_message", "section_bytes"]


def _child(part: MimePart, number: int, top: bool) -> MimePart | None:
    if part.children:
        return part.children[number - 1] if number <= len(part.children) else None
    inner = None if top else part.encapsulated
    if inner is not None:  # RFC 3501 6.4.5: a message/rfc822 part opens onto its message
        return _child(inner, number, True)
    if part.is_multipart:
        return None
    return part if number == 1 else None  # RFC 3501 6.4.5: a single part is its own part 1


def find_part(root: MimePart, path: tuple[int, ...]) -> MimePart | None:
    """The part named by a section part path (RFC 3501 6.4.5)."""
    part: MimePart | None = root
    for index, number in enumerate(path):
        if part is None:
            return None
        part = _child(part, number, top=index == 0)
    return part


@lru_cache(maxsize=1024)
def _fields(header: bytes) -> tuple[tuple[str, bytes], ...]:
    """The fields of a header block, split once per distinct block (a client that asks
    for a few fields of every message, again and again, costs one split each)."""
    return tuple(header_fields(header))


def header_section(header: bytes, section: Section) -> bytes:
    """HEADER, HEADER.FIELDS or HEADER.FIELDS.NOT of one header block."""
    if section.text == "HEADER":
        return header
    wanted = {name.lower() for name in section.fields}
    keep = section.text == "HEADER.FIELDS"
    kept = [raw for name, raw in _fields(header) if (name in wanted) == keep]
    return b"".join(kept) + b"\r\n"  # RFC 3501 6.4.5: the blank line ends the subset


def _message_text(message: MimePart, section: Section) -> bytes:
    if section.text == "TEXT":
        return message.body
    return header_section(message.header, section)


def section_bytes(root: MimePart, section: Section) -> bytes | None:
    """The octets of BODY[section], or None when the section does not exist."""
    if not section.part:
        return top_section_bytes(root.raw, section)
    part = find_part(root, section.part)
    if part is None:
        return None
    if section.text is None:
        return part.body
    if section.text == "MIME":  # RFC 3501 6.4.5: the part's own MIME header
        return part.header
    inner = part.encapsulated
    return None if inner is None else _message_text(inner, section)


def top_section_bytes(raw: bytes, section: Section) -> bytes:
    """`section_bytes` of a section without a part number (BODY[], BODY[TEXT],
    BODY[HEADER...]) taken from the message's octets: the top level's header and body
    are where its header ends, so no MIME tree is built for them."""
    if section.part:
        raise ValueError("a section with a part number needs the MIME tree")
    if section.text is None:
        return raw
    header, body = split_header(raw)
    return body if section.text == "TEXT" else header_section(header, section)


def top_header(raw: bytes) -> bytes:
    """The top-level header block of a message."""
    return split_header(raw)[0]
