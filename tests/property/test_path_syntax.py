"""`path_syntax.simple_path` never answers differently from aiosmtpd's own parser
(`email._header_value_parser.get_angle_addr`), and answers the plain paths.

Ref: RFC 5321 4.1.2.
"""

from __future__ import annotations

from email._header_value_parser import get_angle_addr
from email.errors import HeaderParseError

from hypothesis import given
from hypothesis import strategies as st

from smtp_gateway.path_syntax import simple_path

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
atom = st.text(alphabet=ATEXT, min_size=1, max_size=8)
label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
plain = st.builds(lambda local, dom: f"{'.'.join(local)}@{'.'.join(dom)}",
                  st.lists(atom, min_size=1, max_size=3), st.lists(label, min_size=1, max_size=3))
noise = st.sampled_from(["", " ", "  ", "\t", "(c)", " (c) ", "\"q\"", "[1.2.3.4]", "..", ".",
                         "é", ">", "<", "@", " SIZE=100", " RET=HDRS ENVID=QQ", "x", ",", ";"])


def reference(arg: str) -> tuple[str, str] | None:
    try:
        address, rest = get_angle_addr(arg)
    except HeaderParseError:
        return None
    return address.addr_spec, rest


@given(st.lists(st.one_of(plain, st.builds("<{}>".format, plain), noise), max_size=6))
def test_a_fast_answer_is_the_parsers_answer(parts: list[str]) -> None:
    arg = "".join(parts)
    fast = simple_path(arg)
    if fast is not None:
        assert fast == reference(arg), arg


@given(plain, st.sampled_from(["", " ", "\t"]), st.sampled_from(["", " SIZE=4096",
                                                               "  BODY=8BITMIME RET=HDRS"]))
def test_plain_paths_take_the_fast_way(address: str, space: str, params: str) -> None:
    arg = f"{space}<{address}>{params}"
    assert simple_path(arg) == reference(arg) == (address, params.lstrip())
