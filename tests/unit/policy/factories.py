"""Builders for policy contexts and small trust lists, shared by the policy tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from message.facts import MessageFacts, read_facts
from policy.context import DataContext, MailContext, PolicyLimits, RcptContext, SessionFacts
from policy.engine import Outcome
from policy.reply import Reply
from policy.trust_list import TrustList, parse_dn

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REAL_TRUST_LIST = FIXTURES / "listeblanchemssante.xml"

OUR_DOMAIN = "op-a.mssante.fr"
OTHER_DOMAIN = "op-b.mssante.fr"
DR_X = "dr.x@op-a.mssante.fr"
SECRETARIAT = "secretariat@op-a.mssante.fr"
DN_A = parse_dn("CN=mx.op-a.mssante.fr,OU=111,O=OP A,ST=Paris (75),C=FR")
DN_B = parse_dn("CN=mx.op-b.mssante.fr,OU=222,O=OP B,ST=Gironde (33),C=FR")
DN_CNAM = parse_dn("CN=smtps1.ens.atos-infogerance.fr,OU=180035024,O=CNAM,C=FR")
DN_APICRYPT = parse_dn("CN=mailin.mssante.apicrypt.org,OU=343975235300037,O=APICEM,C=FR")
VALID_PATIENT = "185057512345673@patient.mssante.fr"

SMALL_LIST = TrustList(
    generated_at=datetime(2025, 3, 13, 14, 54, 10, tzinfo=UTC),
    sha256="ab" * 32,
    domains={
        OUR_DOMAIN: (DN_A,),
        OTHER_DOMAIN: (DN_B,),
        "patient.mssante.fr": (DN_CNAM,),
        "mssante.apicrypt.org": (DN_APICRYPT,),
    },
    entry_count=4,
)


def session(**overrides: Any) -> SessionFacts:
    """An authenticated PER submission session for dr.x (person 'drx')."""
    values: dict[str, Any] = {
        "peer_ip": "192.0.2.10",
        "listener": "submission",
        "tls": True,
        "authenticated_bal": DR_X,
        "bal_type": "PER",
        "granted_bals": frozenset({SECRETARIAT}),
        "person": "drx",
    }
    values.update(overrides)
    return SessionFacts(**values)


def mx_session(**overrides: Any) -> SessionFacts:
    """An inter-operator MX session from op-b presenting DN_B."""
    values: dict[str, Any] = {
        "peer_ip": "198.51.100.7",
        "listener": "mx",
        "tls": True,
        "peer_cert_dn": DN_B,
    }
    values.update(overrides)
    return SessionFacts(**values)


def mail(**overrides: Any) -> MailContext:
    values: dict[str, Any] = {
        "session": session(),
        "mail_from": DR_X,
        "local_domains": frozenset({OUR_DOMAIN}),
        "limits": PolicyLimits(),
        "trust_list": SMALL_LIST,
    }
    values.update(overrides)
    return MailContext(**values)


def rcpt(recipient: str, **overrides: Any) -> RcptContext:
    mail_keys = {"session", "mail_from", "size_param", "local_domains", "limits", "trust_list"}
    base = mail(**{k: v for k, v in overrides.items() if k in mail_keys})
    facts = {k: v for k, v in overrides.items() if k not in mail_keys}
    if recipient.lower().endswith("@" + OUR_DOMAIN):
        facts.setdefault("recipient_local_state", "active")
    return RcptContext.from_mail(base, recipient=recipient, **facts)


def message(headers: Iterable[tuple[str, str]], content_type: str = "") -> MessageFacts:
    """The facts the message parser reads from these header fields (and a Content-Type)."""
    fields = list(headers) + ([("Content-Type", content_type)] if content_type else [])
    header = "".join(f"{name}: {value}\r\n" for name, value in fields)
    return read_facts((header + "\r\nBody\r\n").encode())


def data(**overrides: Any) -> DataContext:
    """A DATA context; `headers=` and `content_type=` go through the message parser."""
    mail_keys = {"session", "mail_from", "size_param", "local_domains", "limits", "trust_list"}
    base = mail(**{k: v for k, v in overrides.items() if k in mail_keys})
    headers = overrides.pop("headers", (("From", f"Dr X <{DR_X}>"), ("To", "dr.y@op-b.mssante.fr")))
    content_type = overrides.pop("content_type", "text/plain; charset=utf-8")
    facts: dict[str, Any] = {
        "recipients": ("dr.y@op-b.mssante.fr",),
        "message": message(headers, content_type),
        "size": 2_000,
    }
    facts.update({k: v for k, v in overrides.items() if k not in mail_keys})
    return DataContext.from_mail(base, **facts)


def answer(outcome: Outcome) -> Reply | None:
    """The reply the gate sends for an outcome (None: the command goes on)."""
    return outcome.verdict.reply if outcome.verdict is not None else None


def trust_list_xml(
    entries: list[tuple[str, str]],
    generated: str | None = "2025-03-13T14:54:10Z",
    close_root: bool = False,
) -> bytes:
    """An ANS-shaped trust list (by default without its root end tag, like ANS's)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">\n'
    ]
    if generated is not None:
        parts.append(f"    <DateDeGeneration>{generated}</DateDeGeneration>\n")
    parts.append("    <ListeDomaines>\n")
    for name, dn in entries:
        parts.append(
            "        <Domaine>\n"
            f"            <Nom>{name}</Nom>\n"
            "            <Description>Test</Description>\n"
            f"            <DNCertificatOperateur>{dn}</DNCertificatOperateur>\n"
            "            <DateMAJ>2025-03-13T14:54:10Z</DateMAJ>\n"
            "        </Domaine>\n"
        )
    parts.append("    </ListeDomaines>\n")
    if close_root:
        parts.append("</ListeBlancheMSSante>\n")
    return "".join(parts).encode("utf-8")
