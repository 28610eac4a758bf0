"""The MIME tree's nesting depth, its parts as ranges of the message (no copy
per level), the range-aware header end, and `limits.max_mime_depth`.

Ref: RFC 2046 5.1, 5.2.1; RFC 5322 2.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from message.headers import header_end, split_header
from message.meta import compute_meta, depth_and_meta
from message.mime_tree import MAX_DEPTH, message_depth, parse_message
from server.config import ConfigError, load

TEXT = b"Subject: x\r\n\r\nbody\r\n"


def multipart(levels: int, leaf: bytes = b"Content-Type: text/plain\r\n\r\nleaf") -> bytes:
    raw = leaf
    for i in range(levels):
        raw = (b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) + raw
               + b"\r\n--b%d--\r\n" % i)
    return raw


def rfc822(levels: int) -> bytes:
    raw = TEXT
    for _ in range(levels):
        raw = b"Content-Type: message/rfc822\r\n\r\n" + raw
    return raw


@pytest.mark.parametrize(("raw", "depth"), [
    (TEXT, 0),
    (multipart(1), 1),
    (multipart(3), 3),
    (rfc822(1), 1),
    (rfc822(2), 2),
    (multipart(2, rfc822(2)), 4),
    (b"Content-Type: multipart/mixed; boundary=x\r\n\r\nno delimiter", 1),
    (multipart(MAX_DEPTH), MAX_DEPTH),
    (multipart(MAX_DEPTH + 1), MAX_DEPTH + 1),
    (multipart(5000), MAX_DEPTH + 1),
    (rfc822(5000), MAX_DEPTH + 1),
])
def test_nesting_depth(raw: bytes, depth: int) -> None:
    assert message_depth(raw) == depth
    # APPEND checks the depth and keeps the meta from one parse: the same values
    assert depth_and_meta(raw) == (depth, compute_meta(raw))


def test_parts_are_ranges_of_the_message() -> None:
    raw = b"Subject: s\r\n" + multipart(3)
    root = parse_message(raw)
    assert root.raw is raw  # the top level is the message itself, not a copy
    part, path = root, []
    while part.children:
        child = part.children[0]
        assert child.source is raw  # no body copied while parsing
        assert child.raw in part.body and child.body_size == len(child.body)
        part, path = child, [*path, 1]
    assert part.body == b"leaf" and part.body_lines() == 1 and len(path) == 3


@pytest.mark.parametrize("data", [
    b"", b"\r\n", b"\n", b"\r\nbody", b"A: b\r\n\r\nbody", b"A: b\n\nbody", b"A: b\r\n",
    b"A: b\r\n c\r\n\r\n\r\nx", b"A: b\n\r\nx", b"no header end",
])
def test_header_end_in_a_range_is_split_header(data: bytes) -> None:
    buffer = b"xx--" + data + b"--yy"
    at = header_end(buffer, 4, 4 + len(data))
    assert (buffer[4:at], buffer[at : 4 + len(data)]) == split_header(data)


def _config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "mss.toml"
    path.write_text(f'[server]\ndomains = ["op.fr"]\n{extra}\n', encoding="utf-8")
    return path


def test_max_mime_depth_defaults_to_the_depth_the_tree_represents(tmp_path: Path) -> None:
    assert load(_config(tmp_path, "")).limits.max_mime_depth == MAX_DEPTH
    assert load(_config(tmp_path, "[limits]\nmax_mime_depth = 8")).limits.max_mime_depth == 8


@pytest.mark.parametrize("value", ["7", "0", str(MAX_DEPTH + 1), "-1", '"deep"'])
def test_max_mime_depth_out_of_bounds_names_the_key(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"limits\.max_mime_depth"):
        load(_config(tmp_path, f"[limits]\nmax_mime_depth = {value}"))


def test_cached_values_belong_to_their_part() -> None:
    """A part's cached values (Content-Type, fields, body) are its own, read once."""
    html = parse_message(b"Content-Type: text/html\r\n\r\n<p>a</p>")
    plain = parse_message(TEXT)
    assert html.content_type == ("text", "html") and plain.content_type == ("text", "plain")
    assert html.fields is html.fields and [f.name for f in plain.fields] == ["subject"]
    assert html.body == b"<p>a</p>" and plain.body == b"body\r\n"
