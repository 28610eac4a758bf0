"""`signatures.magic_matches` answers exactly what `puremagic.magic_string` answers.

Inputs: every header signature of puremagic's table at its offset, every
footer signature at the end, every multi-part signature completed, the
repository's fixture files, text, and random octets; compared match by match
(signature, offset, extension, MIME type, name, confidence, order), and the
errors raised alike.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import puremagic
import pytest
from puremagic import main as pm

from message.signatures import magic_matches

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def answer(fn: Any, data: bytes) -> Any:
    try:
        return [tuple(m) for m in fn(data)]
    except (puremagic.PureError, ValueError) as exc:
        return type(exc).__name__


def samples() -> list[bytes]:
    rng = random.Random(7)
    out = [b"x", b"hello world\r\n" * 300, bytes(range(256)) * 40, rng.randbytes(70_000)]
    for row in pm.magic_header_array:
        pad = rng.randbytes(row.offset)
        out.append(pad + row.byte_match + b"\x00" * 64)
        out.append(pad + row.byte_match)
    for row in pm.magic_footer_array:
        out.append(rng.randbytes(600) + row.byte_match)
    for key, parts in pm.multi_part_dict.items():
        for part in parts:
            if part.offset < 0:
                out.append(key + rng.randbytes(300) + part.byte_match)
            else:
                data = bytearray(rng.randbytes(max(part.offset + len(part.byte_match), 64) + 32))
                data[:len(key)] = key
                data[part.offset:part.offset + len(part.byte_match)] = part.byte_match
                out.append(bytes(data))
    out += [p.read_bytes() for p in sorted(FIXTURES.rglob("*")) if p.is_file()]
    return out


def test_same_answers_as_puremagic() -> None:
    checked = 0
    for data in samples():
        assert answer(magic_matches, data) == answer(puremagic.magic_string, data), data[:40]
        checked += 1
    assert checked > len(pm.magic_header_array)


def test_empty_input_raises_like_puremagic() -> None:
    with pytest.raises(ValueError):
        puremagic.magic_string(b"")
    with pytest.raises(ValueError):
        magic_matches(b"")
