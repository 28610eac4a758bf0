"""The DSN extension at the gateway: its parameters on MAIL and RCPT, its success reports.

Owns: `take_dsn_params` (the DSN parameters taken out of a MAIL or RCPT
argument as the client wrote it, the rest left for aiosmtpd), `DsnRequest`
(what one accepted transaction asked for: RET and ENVID, and NOTIFY and
ORCPT per recipient) and `success_report` (the report owed after a local
delivery, or None).

aiosmtpd 1.4 refuses RET, ENVID, NOTIFY and ORCPT (`555`) before any handler
runs and upper-cases every parameter, which would lose the case of ENVID
and ORCPT; so `protocol.MssSMTP` takes them out of the original argument
first and hands aiosmtpd the rest.

Invariants:
- each DSN keyword at most once per command; a keyword without a value, a
  repeated one or a malformed value is answered `501 5.5.4` and the command
  is not run (`replies.DSN_PARAMETER`);
- parameters are taken only after EHLO (DSN is an ESMTP extension); after
  HELO they are left to aiosmtpd, which refuses any parameter;
- a success report is owed only for a recipient with NOTIFY=SUCCESS, for a
  message whose sender is not null: a report (always sent with
  `MAIL FROM:<>`) never causes a report (RFC 3461 5.2, 6.2); NOTIFY=NEVER
  gives none;
- the report returns the header section of the message unless RET=FULL.

Ref: RFC 3461 4.1-4.4 (parameters), 5.2.2 (reports on local delivery), 6.2;
RFC 3464; RFC 5321 4.5.5 (null reverse path); R22.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from message.dsn_params import (
    NO_RCPT_DSN,
    DsnParamError,
    MailDsn,
    Notify,
    RcptDsn,
    Ret,
)
from message.dsn_report import Action, RecipientStatus, ReportRequest, build_report
from policy.address import normalise_address

DSN_KEYWORDS = frozenset({"RET", "ENVID", "NOTIFY", "ORCPT"})
DELIVERED_STATUS = "2.0.0"


def take_dsn_params(rest: str) -> tuple[str, dict[str, str]]:
    """The parameters of `rest` (what follows the address) without the DSN ones, and those.

    Keys of the returned mapping are upper-cased keywords; values are kept as
    written. Raises `DsnParamError` for a DSN keyword without a value or repeated.
    """
    kept: list[str] = []
    found: dict[str, str] = {}
    for token in rest.split():
        keyword, eq, value = token.partition("=")
        key = keyword.upper()
        if key not in DSN_KEYWORDS:
            kept.append(token)
            continue
        if not eq or not value:
            raise DsnParamError(f"{key} needs a value")
        if key in found:
            raise DsnParamError(f"{key} given twice")
        found[key] = value
    return " ".join(kept), found


@dataclass
class DsnRequest:
    """The DSN parameters of one transaction: MAIL's, and each recipient's by address."""

    mail: MailDsn = field(default_factory=MailDsn)
    recipients: dict[str, RcptDsn] = field(default_factory=dict)

    def add_recipient(self, address: str, params: RcptDsn) -> None:
        """Keep `params` for `address` (the first RCPT of a repeated recipient wins)."""
        if params != NO_RCPT_DSN:
            self.recipients.setdefault(normalise_address(address), params)

    def of(self, address: str) -> RcptDsn:
        return self.recipients.get(normalise_address(address), NO_RCPT_DSN)


def success_report(*, reporting_mta: str, mail_from: str, delivered: Sequence[str],
                   mail: MailDsn, recipients: Mapping[str, RcptDsn], original: bytes,
                   arrival: datetime, now: datetime) -> bytes | None:
    """The success report for `delivered` local recipients, None when none is owed."""
    if not mail_from:
        return None
    statuses = []
    for address in delivered:
        params = recipients.get(normalise_address(address), NO_RCPT_DSN)
        if params.wants(Notify.SUCCESS):
            statuses.append(RecipientStatus(address, Action.DELIVERED, DELIVERED_STATUS,
                                            original_recipient=params.orcpt_text))
    if not statuses:
        return None
    return build_report(ReportRequest(
        reporting_mta=reporting_mta, sender=mail_from, recipients=tuple(statuses),
        original=original, arrival=arrival, now=now, full=mail.ret is Ret.FULL,
        envid=mail.envid_text))
