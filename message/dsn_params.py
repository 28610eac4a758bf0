"""The DSN parameters of an SMTP envelope (RFC 3461): RET, ENVID, NOTIFY, ORCPT.

Owns: `xtext_decode`/`is_xtext`, the parsed values `MailDsn` (RET, ENVID of
MAIL FROM) and `RcptDsn` (NOTIFY, ORCPT of one RCPT TO), `parse_mail_dsn`
and `parse_rcpt_dsn` (which raise `DsnParamError` on a malformed value), and
the text codec of the per-recipient parameters as the outbound queue keeps
them (`encode_recipients`/`decode_recipients`).

Invariants:
- ENVID and ORCPT are kept exactly as the client wrote them (case, xtext
  escapes), so that they can be passed on to the next server unchanged;
  their decoded text is computed when a report is written (`envid_text`,
  `orcpt_text`);
- RET and NOTIFY keywords are case-insensitive (RFC 5321 2.4);
- NOTIFY is either NEVER alone or a non-empty list of SUCCESS, FAILURE,
  DELAY, each once; RET is FULL or HDRS; ENVID is at most 100 characters
  (RFC 3461 4.4) and ORCPT's address at most 500 (4.2), both valid xtext
  whose decoded text is printable US-ASCII (or UTF-8 for the `utf-8` type);
- nothing here knows SMTP replies: the gateway answers `501 5.5.4`.

Ref: RFC 3461 4.1-4.4 (parameters), 4 (xtext); RFC 6533 3 (utf-8 addr-type); R22.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

MAIL_KEYWORDS = frozenset({"RET", "ENVID"})
RCPT_KEYWORDS = frozenset({"NOTIFY", "ORCPT"})
MAX_ENVID = 100
MAX_ORCPT_ADDRESS = 500

_XTEXT = re.compile(r"(?:[!-*,-<>-~]|\+[0-9A-F]{2})*")
_ADDR_TYPE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")


class DsnParamError(ValueError):
    """A DSN parameter whose value is malformed (the reason names the parameter)."""


class Ret(Enum):
    """How much of the message a failure report returns (RFC 3461 4.3)."""

    FULL = "FULL"
    HDRS = "HDRS"


class Notify(Enum):
    """The conditions a recipient's reports are asked for (RFC 3461 4.1)."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DELAY = "DELAY"


def is_xtext(value: str) -> bool:
    """True when `value` is xtext: printable ASCII but `+` and `=`, or `+XX` (upper hex)."""
    return _XTEXT.fullmatch(value) is not None


def xtext_decode(value: str) -> str:
    """The text an xtext stands for; `DsnParamError` when it is not xtext."""
    if not is_xtext(value):
        raise DsnParamError("malformed xtext")
    raw = bytearray()
    i = 0
    while i < len(value):
        if value[i] == "+":
            raw.append(int(value[i + 1:i + 3], 16))
            i += 3
        else:
            raw.append(ord(value[i]))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DsnParamError("xtext is not UTF-8") from None


def _printable(text: str, allow_utf8: bool) -> bool:
    return all((" " <= c <= "~") or (allow_utf8 and ord(c) > 0x7F and c.isprintable())
               for c in text)


@dataclass(frozen=True)
class MailDsn:
    """RET and ENVID of one transaction (None when absent)."""

    ret: Ret | None = None
    envid: str | None = None
    """As written by the client (xtext)."""

    @property
    def envid_text(self) -> str | None:
        """ENVID decoded from xtext, for the report's Original-Envelope-Id."""
        return None if self.envid is None else xtext_decode(self.envid)


@dataclass(frozen=True)
class RcptDsn:
    """NOTIFY and ORCPT of one recipient (None when absent)."""

    notify: frozenset[Notify] | None = None
    """None: absent (the server's default, RFC 3461 4.1); empty: NEVER."""
    orcpt: str | None = None
    """As written by the client: addr-type ";" xtext."""

    def wants(self, condition: Notify) -> bool:
        """Whether a report on `condition` is asked for (absent NOTIFY: failure and delay)."""
        if self.notify is None:
            return condition is not Notify.SUCCESS
        return condition in self.notify

    @property
    def orcpt_text(self) -> str | None:
        """ORCPT with its address decoded: `rfc822;b@x`, for Original-Recipient."""
        if self.orcpt is None:
            return None
        addr_type, _, address = self.orcpt.partition(";")
        return f"{addr_type};{xtext_decode(address)}"


NO_RCPT_DSN = RcptDsn()


def parse_ret(value: str) -> Ret:
    try:
        return Ret(value.upper())
    except ValueError:
        raise DsnParamError("RET must be FULL or HDRS") from None


def parse_envid(value: str) -> str:
    if not 0 < len(value) <= MAX_ENVID:
        raise DsnParamError(f"ENVID must be 1 to {MAX_ENVID} characters")
    if not _printable(xtext_decode(value), allow_utf8=False):
        raise DsnParamError("ENVID must decode to printable US-ASCII")
    return value


def parse_notify(value: str) -> frozenset[Notify]:
    words = value.upper().split(",")
    if words == ["NEVER"]:
        return frozenset()
    try:
        found = [Notify(w) for w in words]
    except ValueError:
        raise DsnParamError("NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY") \
            from None
    if len(set(found)) != len(found):
        raise DsnParamError("NOTIFY names a condition twice")
    return frozenset(found)


def parse_orcpt(value: str) -> str:
    addr_type, semi, address = value.partition(";")
    if not semi or _ADDR_TYPE.fullmatch(addr_type) is None:
        raise DsnParamError("ORCPT must be addr-type;xtext")
    if not 0 < len(address) <= MAX_ORCPT_ADDRESS:
        raise DsnParamError(f"ORCPT address must be 1 to {MAX_ORCPT_ADDRESS} characters")
    if not _printable(xtext_decode(address), allow_utf8=addr_type.lower() == "utf-8"):
        raise DsnParamError("ORCPT address must decode to printable text")
    return value


def parse_mail_dsn(params: Mapping[str, str]) -> MailDsn:
    """RET and ENVID from MAIL parameters (upper-cased keyword -> value as written)."""
    ret = params.get("RET")
    envid = params.get("ENVID")
    return MailDsn(ret=None if ret is None else parse_ret(ret),
                   envid=None if envid is None else parse_envid(envid))


def parse_rcpt_dsn(params: Mapping[str, str]) -> RcptDsn:
    """NOTIFY and ORCPT from RCPT parameters (upper-cased keyword -> value as written)."""
    notify = params.get("NOTIFY")
    orcpt = params.get("ORCPT")
    return RcptDsn(notify=None if notify is None else parse_notify(notify),
                   orcpt=None if orcpt is None else parse_orcpt(orcpt))


def encode_recipients(recipients: Mapping[str, RcptDsn]) -> str | None:
    """The per-recipient parameters as one text (JSON), None when no recipient has any."""
    kept = {addr: {"notify": None if d.notify is None else sorted(n.value for n in d.notify),
                   "orcpt": d.orcpt}
            for addr, d in recipients.items() if d != NO_RCPT_DSN}
    return json.dumps(kept, sort_keys=True) if kept else None


def decode_recipients(text: str | None) -> dict[str, RcptDsn]:
    """The inverse of `encode_recipients` (an empty mapping for None)."""
    if not text:
        return {}
    out: dict[str, RcptDsn] = {}
    for addr, d in json.loads(text).items():
        notify = d.get("notify")
        out[addr] = RcptDsn(notify=None if notify is None else frozenset(Notify(n) for n in notify),
                            orcpt=d.get("orcpt"))
    return out
