"""Delivery status notifications: the bytes of an RFC 3464 report.

Owns: `RecipientStatus` (what happened to one recipient), `ReportRequest`
(everything one report says) and `build_report`, a pure function from a
request to the report's bytes: `multipart/report; report-type=delivery-status`
with three parts (RFC 6522): a human-readable text in French and English,
the `message/delivery-status` fields, and the original message: its header
section only (`text/rfc822-headers`) unless RET=FULL asked for the whole
message (`message/rfc822`).

The same builder serves every kind of report: success of a local delivery,
relay to a server without DSN, delay and failure (the relay's notices).

Invariants:
- per-message fields: `Original-Envelope-Id` (when an ENVID was given,
  decoded from xtext by the caller), `Reporting-MTA`, `Arrival-Date`;
  per recipient, one group: `Original-Recipient` (when ORCPT was given),
  `Final-Recipient`, `Action`, `Status`, and `Remote-MTA`,
  `Diagnostic-Code`, `Last-Attempt-Date`, `Will-Retry-Until` when known;
- no caller text can add a header line or a field: control characters
  (CR and LF included) are removed from every value, and long values are
  bounded (`MAX_FIELD`);
- the report is 7-bit except where the original itself has 8-bit octets
  (then its part is marked `8bit`); a non-ASCII address makes the status
  part `message/global-delivery-status` (RFC 6533); in every other field a
  non-ASCII character becomes `?`;
- the report is from the null sender's mailer (`MAILER-DAEMON@host`) and
  marked `Auto-Submitted: auto-replied`, so that it never causes another
  report (RFC 3461 6.2, RFC 3834); the caller sends it with `MAIL FROM:<>`.

Ref: RFC 3464 2 (fields), 3 (conformance); RFC 3461 4.3 (RET), 6 (what
reports are sent); RFC 6522 (multipart/report); RFC 6533 (UTF-8 reports);
RFC 3834; R22.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.quoprimime import body_encode
from email.utils import format_datetime
from enum import Enum

MAX_FIELD = 900
MAX_HEADERS = 262_144
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


class Action(Enum):
    """The Action field of a recipient (RFC 3464 2.3.3)."""

    FAILED = "failed"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    RELAYED = "relayed"
    EXPANDED = "expanded"


@dataclass(frozen=True)
class RecipientStatus:
    """One recipient's fate, as its group of fields says it."""

    final_recipient: str
    action: Action
    status: str
    """Enhanced status code (RFC 3463), e.g. `2.0.0`, `5.1.1`, `4.4.7`."""
    original_recipient: str | None = None
    """ORCPT decoded: `rfc822;b@x` (its type, `;`, the address)."""
    remote_mta: str | None = None
    """The host name of the server that answered, when one did."""
    diagnostic: str | None = None
    """The server's reply, e.g. `550 5.1.1 User unknown` (typed `smtp`), or our own
    reason when no server answered (typed `diagnostic_type`)."""
    diagnostic_type: str = "smtp"
    """`smtp` for a server's reply; `x-mss` for a reason of ours (RFC 3464 2.3.6)."""
    last_attempt: datetime | None = None
    will_retry_until: datetime | None = None


@dataclass(frozen=True)
class ReportRequest:
    """Everything one report says; `recipients` all belong to one original message."""

    reporting_mta: str
    sender: str
    recipients: tuple[RecipientStatus, ...]
    original: bytes
    arrival: datetime
    now: datetime
    full: bool = False
    """RET=FULL: return the whole message; otherwise its header section only."""
    envid: str | None = None
    """ENVID decoded from xtext."""


_SUBJECTS = {
    Action.DELIVERED: ("Accusé de remise", "Delivery report: delivered"),
    Action.RELAYED: ("Message transmis", "Delivery report: relayed"),
    Action.DELAYED: ("Remise retardée", "Delivery report: delayed"),
    Action.FAILED: ("Échec de remise", "Delivery report: failed"),
    Action.EXPANDED: ("Message redistribué", "Delivery report: expanded"),
}
_FRENCH = {
    Action.DELIVERED: "Votre message a été remis aux destinataires suivants :",
    Action.RELAYED: ("Votre message a été transmis à un serveur qui n'envoie pas "
                     "d'accusé de remise, pour les destinataires suivants :"),
    Action.DELAYED: ("La remise de votre message aux destinataires suivants est retardée ; "
                     "de nouvelles tentatives seront faites :"),
    Action.FAILED: "Votre message n'a pas pu être remis aux destinataires suivants :",
    Action.EXPANDED: "Votre message a été redistribué pour les destinataires suivants :",
}
_ENGLISH = {
    Action.DELIVERED: "Your message was delivered to the following recipients:",
    Action.RELAYED: ("Your message was relayed to a server that does not send delivery "
                     "reports, for the following recipients:"),
    Action.DELAYED: ("Delivery of your message to the following recipients is delayed; "
                     "it will be retried:"),
    Action.FAILED: "Your message could not be delivered to the following recipients:",
    Action.EXPANDED: "Your message was expanded for the following recipients:",
}
# The order of the human-readable sections and of the subject: the worst news first.
_ORDER = (Action.FAILED, Action.DELAYED, Action.DELIVERED, Action.RELAYED, Action.EXPANDED)


def clean(value: str, limit: int = MAX_FIELD, *, ascii_only: bool = True) -> str:
    """`value` without control characters (no header line can be added), bounded;
    non-ASCII characters become `?` unless `ascii_only` is false (addresses)."""
    value = _CONTROL.sub(" ", value)[:limit].strip()
    return value if not ascii_only or value.isascii() else _NON_ASCII.sub("?", value)


def header_section(message: bytes, limit: int = MAX_HEADERS) -> bytes:
    """The header section of `message` (up to its empty line), bounded, ending in CRLF."""
    end = message.find(b"\r\n\r\n")
    head = message if end < 0 else message[:end + 2]
    head = head[:limit]
    return head if head.endswith(b"\r\n") else head + b"\r\n"


def _address_type(address: str) -> str:
    return "rfc822" if address.isascii() else "utf-8"


def _recipient_fields(r: RecipientStatus) -> list[str]:
    final = clean(r.final_recipient, ascii_only=False)
    lines = []
    if r.original_recipient:
        lines.append(f"Original-Recipient: {clean(r.original_recipient)}")
    lines += [f"Final-Recipient: {_address_type(final)}; {final}",
              f"Action: {r.action.value}", f"Status: {clean(r.status, 16)}"]
    if r.remote_mta:
        lines.append(f"Remote-MTA: dns; {clean(r.remote_mta, 255)}")
    if r.diagnostic:
        lines.append(f"Diagnostic-Code: {clean(r.diagnostic_type, 32)}; {clean(r.diagnostic)}")
    if r.last_attempt:
        lines.append(f"Last-Attempt-Date: {format_datetime(r.last_attempt)}")
    if r.will_retry_until:
        lines.append(f"Will-Retry-Until: {format_datetime(r.will_retry_until)}")
    return lines


def status_fields(req: ReportRequest) -> str:
    """The body of the `message/delivery-status` part (RFC 3464 2.1)."""
    head = []
    if req.envid is not None:
        head.append(f"Original-Envelope-Id: {clean(req.envid, 100)}")
    head += [f"Reporting-MTA: dns; {clean(req.reporting_mta, 255)}",
             f"Arrival-Date: {format_datetime(req.arrival)}"]
    groups = ["\r\n".join(head)] + ["\r\n".join(_recipient_fields(r)) for r in req.recipients]
    return "\r\n\r\n".join(groups) + "\r\n"


def _actions(req: ReportRequest) -> list[Action]:
    present = {r.action for r in req.recipients}
    return [a for a in _ORDER if a in present]


def human_text(req: ReportRequest) -> str:
    """The human-readable part: French first, then English, each recipient named."""
    def section(texts: dict[Action, str]) -> list[str]:
        out: list[str] = []
        for action in _actions(req):
            out += [texts[action], ""]
            for r in req.recipients:
                if r.action is action:
                    detail = f" ({clean(r.diagnostic)})" if r.diagnostic else ""
                    out.append(f"  <{clean(r.final_recipient, ascii_only=False)}>{detail}")
            out.append("")
        return out
    lines = section(_FRENCH)
    lines += ["Ce message a été produit automatiquement par le serveur "
              f"{clean(req.reporting_mta, 255)}.", "", "-- ", ""]
    lines += section(_ENGLISH)
    lines += ["This message was produced automatically by the server "
              f"{clean(req.reporting_mta, 255)}."]
    return "\r\n".join(lines) + "\r\n"


def subject(req: ReportRequest) -> str:
    """The report's Subject (RFC 2047 encoded): its worst news, in French and English."""
    french, english = _SUBJECTS[_actions(req)[0]]
    return Header(f"{french} / {english}", "utf-8", header_name="Subject").encode()


def build_report(req: ReportRequest, token: str | None = None) -> bytes:
    """The report's bytes (CRLF line ends); `token` makes the boundary and Message-ID."""
    if not req.recipients:
        raise ValueError("a report names at least one recipient")
    token = token or secrets.token_hex(12)
    host = clean(req.reporting_mta, 255)
    boundary = f"=_report_{token}"
    fields = status_fields(req)
    status_type = ("message/delivery-status" if fields.isascii()
                   else "message/global-delivery-status")
    sender = clean(req.sender, 320, ascii_only=False)
    head = [
        f"From: Mail Delivery System <MAILER-DAEMON@{host}>",
        f"To: <{sender}>",
        f"Subject: {subject(req)}",
        f"Date: {format_datetime(req.now)}",
        f"Message-ID: <{token}.report@{host}>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="{boundary}"',
    ]
    returned = req.original if req.full else header_section(req.original)
    if not returned.endswith(b"\r\n"):
        returned += b"\r\n"
    returned_type = "message/rfc822" if req.full else "text/rfc822-headers"
    eight_bit = "" if returned.isascii() else "Content-Transfer-Encoding: 8bit\r\n"
    # quoprimime encodes one octet per character: the UTF-8 octets, as latin-1 characters
    text = body_encode(human_text(req).encode().decode("latin-1"), maxlinelen=76, eol="\r\n")
    parts = [
        "\r\n".join(head).encode() + b"\r\n\r\n"
        b"This is a delivery status notification in MIME format.\r\n\r\n",
        f"--{boundary}\r\n".encode(),
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
        text.encode("ascii") + (b"" if text.endswith("\r\n") else b"\r\n"),
        f"\r\n--{boundary}\r\n".encode(),
        f"Content-Type: {status_type}\r\n".encode(),
        b"" if fields.isascii() else b"Content-Transfer-Encoding: 8bit\r\n",
        b"\r\n", fields.encode("utf-8"),
        f"\r\n--{boundary}\r\n".encode(),
        f"Content-Type: {returned_type}\r\n{eight_bit}\r\n".encode(),
        returned,
        f"\r\n--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts)

