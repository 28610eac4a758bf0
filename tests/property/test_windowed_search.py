"""The MIME walk's windowed searches find what one search over the whole range finds.

`message.mime_tree` searches a body `WINDOW` octets at a time (so that a
worker thread never holds the GIL for a whole attachment); here `WINDOW` is
made tiny so that needles straddle window edges, and the answers are compared
with one `find`/`rfind` call and with the multipart split written as one
regular expression over the whole body (RFC 2046 5.1.1).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from message import mime_tree
from message.mime_tree import find_in, rfind_in

PIECES = [b"--b", b"\r\n", b"--", b" ", b"x", b"\t", b"b", b"-"]
texts = st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)


def whole_split(data: bytes, start: int, stop: int, boundary: str) -> list[tuple[int, int]]:
    mark = re.escape(boundary.encode())
    tail = rb"(--)?[ \t]*(?:\r\n|\Z)"
    first = re.compile(rb"--" + mark + tail).match(data, start, stop)
    rest = re.compile(rb"\r\n--" + mark + tail).finditer(
        data, first.end() if first else start, stop)
    spans: list[tuple[int, int]] = []
    begin: int | None = None
    for match in itertools.chain([first] if first else [], rest):
        if begin is not None:
            spans.append((begin, match.start()))
        if match.group(1):
            break
        begin = match.end()
    return spans


@contextmanager
def windows_of(size: int) -> Iterator[None]:
    saved = mime_tree.WINDOW
    mime_tree.WINDOW = size
    try:
        yield
    finally:
        mime_tree.WINDOW = saved


WINDOWS = pytest.mark.parametrize("window", [1, 2, 3, 5])


@WINDOWS
@given(data=texts, needle=st.sampled_from([b"--b", b"\r\n--b", b"b--", b"x"]),
       cut=st.tuples(st.integers(0, 60), st.integers(0, 60)))
def test_find_and_rfind_agree_with_one_call(window: int, data: bytes, needle: bytes,
                                            cut: tuple[int, int]) -> None:
    start, stop = min(cut), min(max(cut), len(data))
    with windows_of(window):
        assert find_in(data, needle, start, stop) == data.find(needle, start, stop)
        assert rfind_in(data, needle, start, stop) == data.rfind(needle, start, stop)


@WINDOWS
@given(data=texts, cut=st.tuples(st.integers(0, 60), st.integers(0, 60)))
@example(data=b"--b\r\nx\r\n--b--", cut=(0, 60))
@example(data=b"x\r\n--bx\r\n--b \r\nx\r\n--b--", cut=(0, 60))
def test_split_agrees_with_one_regular_expression(window: int, data: bytes,
                                                  cut: tuple[int, int]) -> None:
    start, stop = min(cut), min(max(cut), len(data))
    with windows_of(window):
        split = mime_tree._split_multipart(data, start, stop, "b")  # noqa: SLF001
    assert split == whole_split(data, start, stop, "b")
