"""The ANS MSSanté trust list ("liste blanche"): parsing and look-ups.

Owns: `parse_trust_list(bytes) -> TrustList`, the frozen `TrustList` value and
`TrustListError`. Fetching, scheduling and keeping the last good copy belong to
the server; this module only turns bytes into a value or refuses them.

Invariants:
- "is this domain MSSante?" is an exact, case-insensitive match on `<Nom>`,
  never a suffix test (`mssante.fr.evil.com` and `evil-mssante.fr` are out,
  `mssante.apicrypt.org` is in); the operator's own domains are always trusted
  when passed as `local_domains`;
- a domain listed under several operator DNs keeps all of them, in file order,
  without duplicates;
- the parser accepts the file as ANS publishes it, which ends without its
  closing `</ListeBlancheMSSante>` tag, and nothing more lenient: the only
  tolerated defect is that missing root end tag, with every element below
  the root closed. A file cut anywhere else (inside a `<Domaine>`, between
  two of them), garbage, a missing `DateDeGeneration`, a `<Domaine>` without
  `<Nom>` or DN, or zero domains raise `TrustListError`;
- DOCTYPE and ENTITY declarations are refused before expansion (billion
  laughs, external entities), and files over `MAX_TRUST_LIST_BYTES` too.
- an encoding declaration expat cannot read, or a generation time that has
  no UTC equivalent, is a `TrustListError` too: the parser raises nothing
  else; `generated_at` is in UTC.

Ref: R1 (format, namespace, one domain under several DNs), R2 (exact
match, non-.mssante.fr names), R4 (DN per domain); XML 1.0 2.8 (DTD).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from xml.parsers import expat

from .operator_dn import DNMatchKey, OperatorDN, dn_match_key, format_dn, parse_dn

__all__ = [
    "ANS_NAMESPACE",
    "MAX_TRUST_LIST_BYTES",
    "OperatorDN",
    "TrustList",
    "TrustListError",
    "format_dn",
    "parse_dn",
    "parse_trust_list",
]

ANS_NAMESPACE = "https://listeblanche.mssante.fr/schema"
MAX_TRUST_LIST_BYTES = 64 * 1024 * 1024
_ROOT, _LIST, _ENTRY = "ListeBlancheMSSante", "ListeDomaines", "Domaine"
_CAPTURED = frozenset({"DateDeGeneration", "Nom", "DNCertificatOperateur"})
_NO_ELEMENTS = expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS]


class TrustListError(ValueError):
    """The bytes are not a usable ANS trust list; the message says why."""


@dataclass(frozen=True, eq=False)
class TrustList:
    """One loaded trust list. Compare two with `==` (same bytes, same content)."""

    generated_at: datetime
    sha256: str
    domains: Mapping[str, tuple[OperatorDN, ...]]
    entry_count: int = 0
    _dn_keys: Mapping[str, frozenset[DNMatchKey]] = field(init=False, repr=False)
    _all_dn_keys: frozenset[DNMatchKey] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        domains = {name.lower(): tuple(dns) for name, dns in self.domains.items()}
        keys = {name: frozenset(map(dn_match_key, dns)) for name, dns in domains.items()}
        object.__setattr__(self, "domains", MappingProxyType(domains))
        object.__setattr__(self, "_dn_keys", MappingProxyType(keys))
        object.__setattr__(self, "_all_dn_keys", frozenset().union(*keys.values()))

    @property
    def version(self) -> str:
        """`2025-03-13T14:54:10Z#3f2a9c1b0d4e`: generation time and short digest."""
        stamp = self.generated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{stamp}#{self.sha256[:12]}"

    @property
    def operator_count(self) -> int:
        """Number of distinct operator DNs (after normalisation)."""
        return len(self._all_dn_keys)

    def is_trusted(self, domain: str, local_domains: Iterable[str] = ()) -> bool:
        """Exact, case-insensitive membership; `local_domains` are always trusted."""
        name = domain.lower()
        return name in self.domains or name in {d.lower() for d in local_domains}

    def operator_dns(self, domain: str) -> tuple[OperatorDN, ...]:
        """The operator certificate DNs listed for `domain` (empty when not listed)."""
        return self.domains.get(domain.lower(), ())

    def dn_listed_for(self, domain: str, dn: OperatorDN) -> bool:
        """True when `dn` is one of the DNs listed for `domain` (R4)."""
        return dn_match_key(dn) in self._dn_keys.get(domain.lower(), frozenset())

    def dn_listed(self, dn: OperatorDN) -> bool:
        """True when `dn` is listed for at least one domain."""
        return dn_match_key(dn) in self._all_dn_keys

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrustList):
            return NotImplemented
        return (self.sha256, self.generated_at, self.domains) == (
            other.sha256,
            other.generated_at,
            other.domains,
        )

    def __hash__(self) -> int:
        return hash(self.sha256)


def parse_trust_list(data: bytes) -> TrustList:
    """Parse the ANS XML; raise `TrustListError` with a clear message if unusable."""
    if not data.strip():
        raise TrustListError("trust list is empty")
    if len(data) > MAX_TRUST_LIST_BYTES:
        raise TrustListError(f"trust list is larger than {MAX_TRUST_LIST_BYTES} bytes")
    parser = expat.ParserCreate(namespace_separator=" ")
    builder = _Builder(lambda: parser.CurrentLineNumber)
    _attach(parser, builder)
    try:
        parser.Parse(data, False)
        _finish(parser, builder)
    except expat.ExpatError as exc:
        raise TrustListError(f"trust list is not well-formed XML: {exc}") from None
    except LookupError as exc:  # XML 1.0 4.3.3: an encoding declaration expat cannot read
        raise TrustListError(f"trust list declares an unknown encoding: {exc}") from None
    return builder.result(hashlib.sha256(data).hexdigest())


def _attach(parser: expat.XMLParserType, builder: _Builder) -> None:
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    parser.buffer_text = True


def _finish(parser: expat.XMLParserType, builder: _Builder) -> None:
    """End the parse, tolerating only the missing root end tag of ANS files."""
    try:
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        # Well-formedness guarantees every element under the root was closed.
        if exc.code != _NO_ELEMENTS or builder.open_elements != [_ROOT]:
            raise builder.truncated(exc) from None


def _refuse_doctype(*_: object) -> None:
    raise TrustListError("trust list has a DOCTYPE declaration (refused)")


def _refuse_entity(*_: object) -> None:
    raise TrustListError("trust list declares an ENTITY (refused)")


class _Builder:
    """Expat callbacks: tracks open elements and collects domains and DNs."""

    def __init__(self, line: Callable[[], int]) -> None:
        self.line = line
        self.open_elements: list[str] = []
        self.generated: str | None = None
        self.domains: dict[str, list[OperatorDN]] = {}
        self.entries = 0
        self._buffer: list[str] | None = None
        self._entry: dict[str, str] = {}
        self._parsed_dns: dict[str, OperatorDN] = {}

    def start(self, name: str, _attributes: dict[str, str]) -> None:
        namespace, _, local = name.rpartition(" ")
        if not self.open_elements:
            _check_root(namespace, local)
        self.open_elements.append(local)
        if local == _ENTRY:
            self._entry = {}
        self._buffer = [] if local in _CAPTURED else None

    def text(self, data: str) -> None:
        if self._buffer is not None:
            self._buffer.append(data)

    def end(self, name: str) -> None:
        local = self.open_elements.pop()
        parent = self.open_elements[-1] if self.open_elements else ""
        if local in _CAPTURED and self._buffer is not None:
            self._store(local, parent, "".join(self._buffer).strip())
        self._buffer = None
        if local == _ENTRY and parent == _LIST:
            self._close_entry()

    def _store(self, local: str, parent: str, value: str) -> None:
        if local == "DateDeGeneration" and parent == _ROOT:
            if self.generated is not None:
                raise TrustListError(f"second DateDeGeneration at line {self.line()}")
            self.generated = value
        elif parent == _ENTRY:
            if local in self._entry:
                raise TrustListError(f"<Domaine> with two <{local}> at line {self.line()}")
            self._entry[local] = value

    def _close_entry(self) -> None:
        name = self._entry.get("Nom", "").lower()
        dn_text = self._entry.get("DNCertificatOperateur", "")
        if not name or not dn_text:
            raise TrustListError(f"<Domaine> without Nom or DN ending at line {self.line()}")
        dn = self._dn(name, dn_text)
        listed = self.domains.setdefault(name, [])
        if dn not in listed:
            listed.append(dn)
        self.entries += 1

    def _dn(self, name: str, text: str) -> OperatorDN:
        if text not in self._parsed_dns:
            try:
                self._parsed_dns[text] = parse_dn(text)
            except ValueError as exc:
                raise TrustListError(f"bad DN for {name} at line {self.line()}: {exc}") from None
        return self._parsed_dns[text]

    def truncated(self, exc: expat.ExpatError) -> TrustListError:
        inside = "/".join(self.open_elements) or "nothing"
        return TrustListError(f"trust list is truncated or broken (open: {inside}): {exc}")

    def result(self, sha256: str) -> TrustList:
        if self.generated is None:
            raise TrustListError("trust list has no DateDeGeneration")
        if not self.domains:
            raise TrustListError("trust list lists no domain")
        return TrustList(
            generated_at=_parse_timestamp(self.generated),
            sha256=sha256,
            domains={name: tuple(dns) for name, dns in self.domains.items()},
            entry_count=self.entries,
        )


def _check_root(namespace: str, local: str) -> None:
    if local != _ROOT or namespace not in (ANS_NAMESPACE, ""):
        shown = f"{{{namespace}}}{local}" if namespace else local
        raise TrustListError(f"root element is {shown}, not {_ROOT} in {ANS_NAMESPACE}")


def _parse_timestamp(text: str) -> datetime:
    """The generation time in UTC (a time without zone is UTC)."""
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise TrustListError(f"DateDeGeneration {text!r} is not ISO-8601") from None
    try:
        return stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise TrustListError(f"DateDeGeneration {text!r} is out of range") from None
