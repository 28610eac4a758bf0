"""Properties of the policy's input parsers: the INS key (R15), operator DNs (R4)
and the ANS trust list XML (R1, R2).

Any input parses or is refused with the module's own error (`ValueError` for
a DN and an INS body, `TrustListError` for a trust list), never another
exception; what is parsed is usable (a trust list's version, look-ups); an
INS with its computed key validates and with any other key does not; a DN
written by `format_dn` reads back the same.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from hypothesis import example, given
from hypothesis import strategies as st

from policy.operator_dn import dn_match_key, format_dn, parse_dn
from policy.patient_address import ins_key, is_valid_ins
from policy.trust_list import TrustListError, parse_trust_list

_DIGITS = st.text(st.sampled_from("0123456789"), min_size=1, max_size=1)


@st.composite
def ins_bodies(draw: st.DrawFn) -> str:
    """13 characters: 5 digits, 2 digits or 2A/2B (any case), 6 digits."""
    department = draw(st.sampled_from(["2A", "2b", "2B", "2a"]) | st.from_regex(
        r"[0-9]{2}", fullmatch=True))
    return (draw(st.from_regex(r"[0-9]{5}", fullmatch=True)) + department
            + draw(st.from_regex(r"[0-9]{6}", fullmatch=True)))


@given(ins_bodies(), st.integers(min_value=0, max_value=99))
@example("1234567891234", 0)
@example("185052A000001", 0)
def test_ins_with_its_key_validates_and_no_other_key_does(body: str, other: int) -> None:
    key = ins_key(body)
    # The NIR key makes the 15-digit number a multiple of 97 (2A -> 19, 2B -> 18).
    digits = body[:5] + {"2A": "19", "2B": "18"}.get(body[5:7].upper(), body[5:7]) + body[7:]
    assert 1 <= key <= 97 and (int(digits) + key) % 97 == 0
    assert is_valid_ins(f"{body}{key:02d}")
    assert is_valid_ins(f"{body.upper()}{key:02d}") == is_valid_ins(f"{body.lower()}{key:02d}")
    if other != key:
        assert not is_valid_ins(f"{body}{other:02d}")


@given(st.text(max_size=20) | st.from_regex(r"[0-9AaBb]{13,15}", fullmatch=True))
@example("١٢٣٤٥٦٧٨٩١٢٣٤٥")
@example("123456789123456\n")
def test_any_ins_text_is_checked_without_crashing(text: str) -> None:
    assert isinstance(is_valid_ins(text), bool)
    try:
        assert 1 <= ins_key(text) <= 97
    except ValueError:
        pass


_ATTRIBUTES = st.sampled_from(["CN", "OU", "O", "C", "ST", "L", "SERIALNUMBER", "2.5.4.3"])
_DN_VALUE = st.text(max_size=16)


@given(st.lists(st.tuples(_ATTRIBUTES, _DN_VALUE), min_size=1, max_size=5))
@example([("CN", ' "quoted" '), ("O", "a,b+c\\d#")])
@example([("CN", "#x"), ("OU", "  ")])
@example([("CN", " ")])  # found by `make fuzz`: one space was escaped twice, read back as "\\"
@example([("CN", "# "), ("O", "a\\ ")])
def test_formatted_dn_reads_back(dn: list[tuple[str, str]]) -> None:
    assert parse_dn(format_dn(tuple(dn))) == tuple(dn)


_DN_TEXT = st.text(st.sampled_from('CNOU=,"\\ +#é0123456789abcdefABCDEF;<>\t'), max_size=40)


@given(_DN_TEXT | st.text(max_size=40))
@example("CN=\\ff")
@example("CN=\\c3")
@example('CN="a\\')
@example("CN=a\\")
@example("=x")
def test_any_dn_text_parses_or_is_a_value_error(text: str) -> None:
    try:
        dn = parse_dn(text)
    except ValueError as exc:
        assert type(exc) is ValueError, f"{type(exc).__name__}: {exc}"
        return
    assert dn and dn_match_key(dn) == dn_match_key(parse_dn(format_dn(dn)))


_NAMES = st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?", fullmatch=True)
_DATES = st.sampled_from(["2025-03-13T14:54:10Z", "2025-03-13T14:54:10", "2025-03-13",
                          "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                          "not a date", ""])
_DNS = st.sampled_from(["CN=mx.a.fr,O=A,C=FR", 'CN=b,O="GIP, X",C=FR', "CN=x", "garbage",
                        "CN=\\ff", "CN=é, OU=1"])


@st.composite
def trust_list_documents(draw: st.DrawFn) -> tuple[bytes, dict[str, set[str]] | None]:
    """An ANS-shaped file and the domains it lists (None when it was cut or damaged)."""
    listed: dict[str, set[str]] = {}
    parts = ['<?xml version="1.0" encoding="UTF-8"?>'
             '<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">']
    parts.append(f"<DateDeGeneration>{escape(draw(_DATES))}</DateDeGeneration><ListeDomaines>")
    for name, dn in draw(st.lists(st.tuples(_NAMES, _DNS | st.text(max_size=12)), max_size=5)):
        listed.setdefault(name, set()).add(dn)
        parts.append(f"<Domaine><Nom>{escape(name)}</Nom><DNCertificatOperateur>"
                     f"{escape(dn)}</DNCertificatOperateur></Domaine>")
    parts.append("</ListeDomaines>")
    if draw(st.booleans()):
        parts.append("</ListeBlancheMSSante>")
    data = "".join(parts).encode("utf-8")
    if draw(st.booleans()):  # damage: cut, or overwrite a few octets
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=6)) + data[cut + draw(st.integers(0, 6)):]
        return data, None
    return data, listed


@given(trust_list_documents() | st.binary(max_size=200).map(lambda b: (b, None)))
@example((b'<!DOCTYPE x [<!ENTITY a "b">]><ListeBlancheMSSante/>', None))
@example((b'<?xml version="1.0" encoding="x-unknown"?><ListeBlancheMSSante/>', None))
@example((b"<ListeBlancheMSSante><DateDeGeneration>0001-01-01T00:00:00+01:00"
          b"</DateDeGeneration><ListeDomaines><Domaine><Nom>a</Nom><DNCertificatOperateur>"
          b"CN=x</DNCertificatOperateur></Domaine></ListeDomaines>", None))
def test_any_trust_list_parses_to_a_usable_list_or_is_refused(
        document: tuple[bytes, dict[str, set[str]] | None]) -> None:
    data, listed = document
    try:
        trust = parse_trust_list(data)
    except TrustListError:
        return
    assert trust.version.endswith("#" + trust.sha256[:12])
    assert trust.operator_count >= 1
    for name, dns in trust.domains.items():
        assert trust.is_trusted(name.upper())
        assert all(trust.dn_listed_for(name, dn) for dn in dns)
    if listed is not None:
        assert set(trust.domains) == set(listed)
