"""DN parsing, formatting and matching (the trust list's DNCertificatOperateur)."""

from __future__ import annotations

import pytest

from policy.operator_dn import dn_from_ssl_subject, dn_match_key, format_dn, parse_dn

MIPIH = (
    ("CN", "medimail-asip.mipih.fr"),
    ("OU", "318310021300028"),
    ("O", "GIP MIPIH"),
    ("ST", "Haute-Garonne (31)"),
    ("C", "FR"),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "CN=medimail-asip.mipih.fr,OU=318310021300028,O=GIP MIPIH,ST=Haute-Garonne (31),C=FR",
            MIPIH,
        ),
        (
            "CN=medimail-asip.mipih.fr, OU=318310021300028, O=GIP MIPIH, "
            "ST=Haute-Garonne (31), C=FR",
            MIPIH,
        ),
        (
            "cn = medimail-asip.mipih.fr ,ou= 318310021300028 , o =GIP MIPIH,"
            "st=Haute-Garonne (31),c=FR",
            MIPIH,
        ),
        (
            'CN=medimail-asip.mipih.fr,OU=318310021300028,O="GIP MIPIH",ST=Haute-Garonne (31),C=FR',
            MIPIH,
        ),
        ('O="GIP, MIPIH",C=FR', (("O", "GIP, MIPIH"), ("C", "FR"))),
        (r"O=GIP\, MIPIH,C=FR", (("O", "GIP, MIPIH"), ("C", "FR"))),
        (r'O="say \"hi\"",C=FR', (("O", 'say "hi"'), ("C", "FR"))),
        (r"O=back\\slash,C=FR", (("O", "back\\slash"), ("C", "FR"))),
        (r"O=Rh\C3\B4ne,C=FR", (("O", "Rhône"), ("C", "FR"))),
        (r"O=trailing\ ,C=FR", (("O", "trailing "), ("C", "FR"))),
        ('O="C.H. DE  CADILLAC",C=FR', (("O", "C.H. DE  CADILLAC"), ("C", "FR"))),
        (
            'O=CRLCC "PAUL STRAUSS",ST=Bas-Rhin (67)',
            (("O", 'CRLCC "PAUL STRAUSS"'), ("ST", "Bas-Rhin (67)")),
        ),
        ("CN=smtp-1.mssante.adista.fr ,OU=1", (("CN", "smtp-1.mssante.adista.fr"), ("OU", "1"))),
        ("O=A+B,C=FR", (("O", "A+B"), ("C", "FR"))),
        ("2.5.4.3=host", (("2.5.4.3", "host"),)),
        ("CN=", (("CN", ""),)),
    ],
)
def test_parse_dn(text: str, expected: tuple[tuple[str, str], ...]) -> None:
    assert parse_dn(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no equals sign",
        "CN=a,",
        "CN=a,,C=FR",
        "=value",
        "C N=x",
        'O="unterminated',
        'O="x" y',
        "O=ends with\\",
        r"O=\C3,C=FR",
    ],
)
def test_malformed_dn_raises(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dn(text)


def test_escapes_that_are_not_utf8_are_a_plain_value_error() -> None:
    # found by tests/property: a UnicodeDecodeError with a codec message escaped parse_dn
    with pytest.raises(ValueError, match="not UTF-8") as caught:
        parse_dn(r"O=\C3,C=FR")
    assert type(caught.value) is ValueError


@pytest.mark.parametrize(
    "dn",
    [
        MIPIH,
        (("O", "GIP, MIPIH"), ("C", "FR")),
        (("O", 'say "hi" + <x>; y=z'), ("CN", "#hash")),
        (("O", " leading and trailing "),),
        (("CN", " "), ("O", "# "), ("OU", "a\\ ")),
    ],
)
def test_format_then_parse_round_trips(dn: tuple[tuple[str, str], ...]) -> None:
    assert parse_dn(format_dn(dn)) == dn


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("CN=a,O=GIP MIPIH,C=FR", "C=FR,O=GIP MIPIH,CN=a", True),
        ("CN=a,O=GIP MIPIH,C=FR", "cn=A,o=gip  mipih,c=fr", True),
        ('O="C.H. DE  CADILLAC"', "O=C.H. DE CADILLAC", True),
        ("O=CLCC\xa0 INSTITUT CURIE", "O=CLCC INSTITUT CURIE", True),
        ("CN=a,O=GIP MIPIH,C=FR", "CN=b,O=GIP MIPIH,C=FR", False),
        ("CN=a,O=GIP MIPIH,C=FR", "CN=a,O=GIP MIPIH", False),
        ("CN=a,OU=1", "CN=a,O=1", False),
    ],
)
def test_match_key(left: str, right: str, same: bool) -> None:
    assert (dn_match_key(parse_dn(left)) == dn_match_key(parse_dn(right))) is same


def test_ssl_subject_is_reversed_and_short_named() -> None:
    subject = (
        (("countryName", "FR"),),
        (("stateOrProvinceName", "Haute-Garonne (31)"),),
        (("organizationName", "GIP MIPIH"),),
        (("organizationalUnitName", "318310021300028"),),
        (("commonName", "medimail-asip.mipih.fr"),),
    )
    assert dn_from_ssl_subject(subject) == MIPIH
