"""The ANS trust list: the real published file, and files that must be refused."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest

from policy.trust_list import TrustList, TrustListError, parse_dn, parse_trust_list
from tests.unit.policy.factories import REAL_TRUST_LIST, trust_list_xml

DN_X = "CN=mx.op-x.mssante.fr,OU=1,O=OP X,C=FR"


@pytest.fixture(scope="module")
def real_bytes() -> bytes:
    return REAL_TRUST_LIST.read_bytes()


@pytest.fixture(scope="module")
def real(real_bytes: bytes) -> TrustList:
    return parse_trust_list(real_bytes)


def test_the_real_file_ends_without_its_root_end_tag(real_bytes: bytes) -> None:
    assert b"</ListeBlancheMSSante>" not in real_bytes
    assert real_bytes.rstrip().endswith(b"</ListeDomaines>")


def test_real_file_counts(real: TrustList, real_bytes: bytes) -> None:
    raw_dns = set(re.findall(rb"<DNCertificatOperateur>(.*?)</DNCertificatOperateur>", real_bytes))
    assert len(real.domains) == 5_002
    assert real.entry_count == 6_554 == real_bytes.count(b"<Domaine>")
    assert len(raw_dns) == 392
    assert real.operator_count == 384  # 8 published variants differ only in quotes/spaces


def test_real_file_metadata(real: TrustList, real_bytes: bytes) -> None:
    assert real.generated_at == datetime(2025, 3, 13, 14, 54, 10, tzinfo=UTC)
    assert real.sha256 == hashlib.sha256(real_bytes).hexdigest()
    assert real.version == f"2025-03-13T14:54:10Z#{real.sha256[:12]}"


@pytest.mark.parametrize(
    ("domain", "trusted"),
    [
        ("mssante.apicrypt.org", True),
        ("interop-mssante.apicrypt.org", True),
        ("PATIENT.MSSANTE.FR", True),
        ("patient.mssante.fr", True),
        ("adapei15.aura.mssante.fr", True),
        ("uc-cmp.mssante.fr", True),
        ("UC-CMP.mssante.fr", True),
        ("15-20.mssante.fr", True),
        ("evil-mssante.fr", False),
        ("mssante.fr.evil.com", False),
        ("mssante.fr", False),
        ("x.patient.mssante.fr", False),
        ("patient.mssante.fr.", False),
        (" patient.mssante.fr", False),
        ("apicrypt.org", False),
        ("", False),
    ],
)
def test_membership_is_exact_and_case_insensitive(
    real: TrustList, domain: str, trusted: bool
) -> None:
    assert real.is_trusted(domain) is trusted


def test_local_domains_are_always_trusted(real: TrustList) -> None:
    assert not real.is_trusted("op-a.mssante.fr")
    assert real.is_trusted("OP-A.mssante.fr", local_domains={"op-a.mssante.fr"})
    assert not real.is_trusted("x.op-a.mssante.fr", local_domains={"op-a.mssante.fr"})


def test_one_domain_under_several_operator_dns(real: TrustList) -> None:
    dns = real.operator_dns("15-20.MSSANTE.FR")
    assert len(dns) == 5
    assert [dict(dn)["CN"] for dn in dns] == [
        "mss.enovacom.fr",
        "smtp-1.sesan.santnet.com",
        "smtp-2.sesan.santnet.com",
        "smtp-1.sante.santnet.com",
        "smtp-2.sante.santnet.com",
    ]
    assert real.operator_dns("not-listed.mssante.fr") == ()


def test_patient_domain_is_operated_by_cnam(real: TrustList) -> None:
    dns = real.operator_dns("patient.mssante.fr")
    assert {dict(dn)["CN"] for dn in dns} == {
        "smtps1.ens.atos-infogerance.fr",
        "smtps2.ens.atos-infogerance.fr",
    }
    assert all(dict(dn)["O"] == "CNAM" for dn in dns)


def test_dn_checks_against_the_real_list(real: TrustList) -> None:
    mipih = parse_dn(
        "C=FR,ST=Haute-Garonne (31),O=GIP MIPIH,OU=318310021300028,CN=medimail-asip.mipih.fr"
    )
    assert real.dn_listed_for("adsea29.mssante.fr", mipih)
    assert not real.dn_listed_for("patient.mssante.fr", mipih)
    assert real.dn_listed(mipih)
    assert not real.dn_listed(parse_dn("CN=evil.example,O=GIP MIPIH,C=FR"))


def test_parsing_is_deterministic(real: TrustList, real_bytes: bytes) -> None:
    again = parse_trust_list(real_bytes)
    assert again == real and hash(again) == hash(real)


def test_trust_list_is_immutable(real: TrustList) -> None:
    with pytest.raises(AttributeError):
        real.sha256 = "0"  # type: ignore[misc]
    with pytest.raises(TypeError):
        real.domains["evil.com"] = ()  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "domains"),
    [
        (trust_list_xml([("Op-X.MSSante.fr", DN_X)]), {"op-x.mssante.fr"}),
        (trust_list_xml([("op-x.mssante.fr", DN_X)], close_root=True), {"op-x.mssante.fr"}),
        (
            trust_list_xml([("a.mssante.fr", DN_X), ("b.mssante.fr", DN_X)]),
            {"a.mssante.fr", "b.mssante.fr"},
        ),
        (
            trust_list_xml([("a.mssante.fr", DN_X)]).replace(
                b' xmlns="https://listeblanche.mssante.fr/schema"', b""
            ),
            {"a.mssante.fr"},
        ),
        (trust_list_xml([("a.mssante.fr", DN_X)]) + b"\n\n  \n", {"a.mssante.fr"}),
        (trust_list_xml([("a.mssante.fr", "CN=x &amp; y,C=FR")]), {"a.mssante.fr"}),
    ],
)
def test_small_valid_lists(data: bytes, domains: set[str]) -> None:
    assert set(parse_trust_list(data).domains) == domains


def test_duplicate_entries_are_merged() -> None:
    data = trust_list_xml(
        [("a.mssante.fr", DN_X), ("A.mssante.fr", DN_X), ("a.mssante.fr", "CN=y,C=FR")]
    )
    parsed = parse_trust_list(data)
    assert parsed.entry_count == 3
    assert parsed.operator_dns("a.mssante.fr") == (parse_dn(DN_X), parse_dn("CN=y,C=FR"))


def _cut_inside_domaine(real_bytes: bytes, which: int, offset: int) -> bytes:
    starts = [m.start() for m in re.finditer(rb"<Domaine>", real_bytes)]
    end = real_bytes.index(b"</Domaine>", starts[which]) + len(b"</Domaine>")
    assert starts[which] + offset < end, "the cut must fall inside the <Domaine>"
    return real_bytes[: starts[which] + offset]


@pytest.mark.parametrize(
    ("which", "offset"),
    [(0, 3), (0, 40), (1, 120), (3000, 250), (6553, 9), (6553, 300), (-1, 450)],
)
def test_real_file_cut_inside_a_domaine_is_refused(
    real_bytes: bytes, which: int, offset: int
) -> None:
    with pytest.raises(TrustListError, match="truncated|not well-formed"):
        parse_trust_list(_cut_inside_domaine(real_bytes, which, offset))


@pytest.mark.parametrize("cut", [100, 1_000, 1_000_000, 2_500_000, 3_699_100])
def test_real_file_cut_at_byte_offsets_is_refused(real_bytes: bytes, cut: int) -> None:
    with pytest.raises(TrustListError):
        parse_trust_list(real_bytes[:cut])


def test_real_file_cut_between_two_domaines_is_refused(real_bytes: bytes) -> None:
    last_close = real_bytes.rindex(b"</Domaine>") + len(b"</Domaine>")
    cut = real_bytes[: real_bytes.rindex(b"</Domaine>", 0, last_close - 1) + len(b"</Domaine>")]
    with pytest.raises(TrustListError, match="truncated"):
        parse_trust_list(cut)


def test_real_file_cut_inside_the_list_end_tag_is_refused(real_bytes: bytes) -> None:
    with pytest.raises(TrustListError):
        parse_trust_list(real_bytes.rstrip()[:-5])


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">
<DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration>
<ListeDomaines><Domaine><Nom>&lol2;</Nom><DNCertificatOperateur>CN=x</DNCertificatOperateur></Domaine></ListeDomaines>
</ListeBlancheMSSante>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x SYSTEM "file:///etc/passwd">
<ListeBlancheMSSante/>"""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"this is not XML at all", "not well-formed"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not well-formed"),
        (b"<html><body>502 Bad Gateway</body></html>", "root element"),
        (BILLION_LAUGHS, "DOCTYPE"),
        (EXTERNAL_ENTITY, "DOCTYPE"),
        (trust_list_xml([("a.mssante.fr", DN_X)], generated=None), "DateDeGeneration"),
        (trust_list_xml([("a.mssante.fr", DN_X)], generated="yesterday"), "ISO-8601"),
        # found by tests/property: an OverflowError, then a LookupError, escaped the parser
        (trust_list_xml([("a.mssante.fr", DN_X)], generated="0001-01-01T00:00:00+01:00"),
         "out of range"),
        (trust_list_xml([("a.mssante.fr", DN_X)], generated="9999-12-31T23:59:59-01:00"),
         "out of range"),
        (b'<?xml version="1.0" encoding="x-unknown"?><ListeBlancheMSSante/>',
         "unknown encoding"),
        (trust_list_xml([]), "no domain"),
        (trust_list_xml([("", DN_X)]), "without Nom"),
        (trust_list_xml([("a.mssante.fr", "")]), "without Nom or DN"),
        (trust_list_xml([("a.mssante.fr", "not a dn")]), "bad DN for a.mssante.fr"),
        (
            trust_list_xml([("a.mssante.fr", DN_X)]).replace(
                b"</DateDeGeneration>",
                b"</DateDeGeneration><DateDeGeneration>2025-01-01T00:00:00Z</DateDeGeneration>",
            ),
            "second DateDeGeneration",
        ),
        (trust_list_xml([("a.mssante.fr", DN_X)]).replace(b"schema", b"other"), "root element"),
        (trust_list_xml([("a.mssante.fr", DN_X)], close_root=True) + b"<junk/>", "not well-formed"),
        (trust_list_xml([("a.mssante.fr", DN_X)]) + b"<Domaine>", "truncated"),
        (trust_list_xml([("a.mssante.fr", DN_X)]) + b"</ListeBlanche", "truncated"),
        (
            trust_list_xml([("a.mssante.fr", DN_X)]).replace(
                b"<Nom>a.mssante.fr</Nom>", b"<Nom>a</Nom><Nom>b</Nom>"
            ),
            "two <Nom>",
        ),
    ],
)
def test_broken_files_are_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(TrustListError, match=message):
        parse_trust_list(data)


def test_generation_time_is_kept_in_utc() -> None:
    parsed = parse_trust_list(trust_list_xml([("a.mssante.fr", DN_X)],
                                             generated="2025-03-13T16:54:10+02:00"))
    assert parsed.generated_at == datetime(2025, 3, 13, 14, 54, 10, tzinfo=UTC)
    assert parsed.generated_at.utcoffset() == timedelta(0)
    assert parsed.version.startswith("2025-03-13T14:54:10Z#")
