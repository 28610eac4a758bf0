"""Operator certificate distinguished names (DNs) as values.

Owns: `OperatorDN` (an ordered tuple of `(ATTRIBUTE, value)` pairs),
`parse_dn` for the `DNCertificatOperateur` strings of the ANS trust list,
`format_dn` for logs, `dn_match_key` for comparisons, and
`dn_from_ssl_subject` to turn `ssl.SSLSocket.getpeercert()["subject"]` into
an `OperatorDN`.

Invariants:
- attribute names are upper-cased and stripped; values are unescaped and
  stripped of unescaped surrounding spaces and of surrounding double quotes
  (`O="C.H. DE  CADILLAC"` gives `("O", "C.H. DE  CADILLAC")`; inner spaces
  are kept as published);
- a quote inside an unquoted value is literal (`O=CRLCC "PAUL STRAUSS"`, as
  published by ANS); `\\,`, `\\"`, `\\\\` and `\\XX` hex escapes are decoded;
- anything malformed (no `=`, a bad attribute name, an unterminated quoted
  value, a lone final backslash, hex escapes that are not UTF-8) raises a
  plain `ValueError` naming the defect;
- `+` is *not* treated as a multi-valued RDN separator: IGC-Santé operator
  certificates have single-valued RDNs, and a DN that really had one would
  then fail to match, which fails closed;
- two DNs match when `dn_match_key` is equal: same multiset of attributes,
  values compared case-insensitively with runs of spaces collapsed (LDAP
  caseIgnoreMatch), order ignored (the list writes CN first, certificates
  store C first).

Ref: RFC 4514 2.4 and 3 (string form, escapes); RFC 1779 2.3 (quoted
values); RFC 4517 4.2.11 (caseIgnoreMatch); R1, R4.
"""

from __future__ import annotations

import re

OperatorDN = tuple[tuple[str, str], ...]
DNMatchKey = tuple[tuple[str, str], ...]

_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*")
_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}")
_SSL_SHORT_NAMES = {
    "commonName": "CN",
    "organizationalUnitName": "OU",
    "organizationName": "O",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
    "serialNumber": "SERIALNUMBER",
    "emailAddress": "EMAILADDRESS",
}


def parse_dn(text: str) -> OperatorDN:
    """Parse `CN=host, OU=123,O="GIP, X",C=FR`; raise ValueError if malformed."""
    pairs: list[tuple[str, str]] = []
    pos = 0
    while True:
        attribute, pos = _read_attribute(text, pos)
        value, pos = _read_value(text, pos)
        pairs.append((attribute, value))
        if pos >= len(text):
            return tuple(pairs)
        pos += 1  # the ',' separator


def format_dn(dn: OperatorDN) -> str:
    """RFC 4514 string form, escaping what needs it (for logs and display)."""
    return ",".join(f"{attribute}={_escape(value)}" for attribute, value in dn)


def dn_match_key(dn: OperatorDN) -> DNMatchKey:
    """Order-free, case- and space-insensitive key: equal keys mean the same DN."""
    return tuple(sorted((a.upper(), " ".join(v.split()).casefold()) for a, v in dn))


def dn_from_ssl_subject(subject: tuple[tuple[tuple[str, str], ...], ...]) -> OperatorDN:
    """`getpeercert()["subject"]` (certificate order, long names) as an OperatorDN."""
    pairs = [
        (_SSL_SHORT_NAMES.get(name, name.upper()), value)
        for rdn in reversed(subject)
        for name, value in rdn
    ]
    return tuple(pairs)


def _read_attribute(text: str, pos: int) -> tuple[str, int]:
    equals = text.find("=", pos)
    if equals < 0:
        raise ValueError(f"DN component without '=' at offset {pos}: {text!r}")
    attribute = text[pos:equals].strip()
    if not _ATTRIBUTE.fullmatch(attribute):
        raise ValueError(f"bad DN attribute name {attribute!r} in {text!r}")
    return attribute.upper(), equals + 1


def _read_value(text: str, pos: int) -> tuple[str, int]:
    while pos < len(text) and text[pos] == " ":
        pos += 1
    if pos < len(text) and text[pos] == '"':
        return _read_quoted(text, pos + 1)
    end = _unescaped_comma(text, pos)
    raw = _strip_unescaped_spaces(text[pos:end])
    return _unescape(raw, text), end


def _read_quoted(text: str, pos: int) -> tuple[str, int]:
    end = pos
    while end < len(text) and text[end] != '"':
        end += 2 if text[end] == "\\" else 1
    if end >= len(text):
        raise ValueError(f"unterminated quoted DN value in {text!r}")
    value = _unescape(text[pos:end], text)
    after = end + 1
    while after < len(text) and text[after] == " ":
        after += 1
    if after < len(text) and text[after] != ",":
        raise ValueError(f"text after a quoted DN value in {text!r}")
    return value, after


def _unescaped_comma(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] != ",":
        pos += 2 if text[pos] == "\\" else 1
    return min(pos, len(text))


def _strip_unescaped_spaces(raw: str) -> str:
    raw = raw.lstrip(" ")
    while raw.endswith(" "):
        backslashes = len(raw[:-1]) - len(raw[:-1].rstrip("\\"))
        if backslashes % 2 == 1:
            break
        raw = raw[:-1]
    return raw


def _unescape(raw: str, text: str) -> str:
    out = bytearray()
    pos = 0
    while pos < len(raw):
        char = raw[pos]
        if char != "\\":
            out += char.encode()
            pos += 1
        elif _HEX_PAIR.fullmatch(raw[pos + 1 : pos + 3]):
            out.append(int(raw[pos + 1 : pos + 3], 16))
            pos += 3
        elif pos + 1 < len(raw):
            out += raw[pos + 1].encode()
            pos += 2
        else:
            raise ValueError(f"DN value ends with a lone backslash in {text!r}")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:  # RFC 4514 2.4: `\XX` escapes stand for UTF-8 octets
        raise ValueError(f"DN value escapes are not UTF-8 in {text!r}") from None


def _escape(value: str) -> str:
    escaped = re.sub(r'([,+"\\<>;=])', r"\\\1", value)
    # RFC 4514 2.4: a leading space or "#" and a trailing space are escaped; a value of
    # one space is escaped once (its leading escape covers it).
    head = "\\" if escaped.startswith((" ", "#")) else ""
    if escaped.endswith(" ") and len(escaped) > len(head):
        escaped = escaped[:-1] + "\\ "
    return head + escaped
