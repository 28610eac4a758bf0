"""Notices the operator's system sends to its own users: one builder, one way in.

Owns: `system_notice` (a notice's bytes: every header and the text part) and
`deliver_notice` (hand it to intake, the one way messages enter a mailbox or
the outbound queue). Its users: the deletion notice for inactivity
(`lifecycle_notice`, R28) and the near-quota notice (`quota_jobs`, R25).

Invariants:
- From the operator's postmaster address, `MSSanté <postmaster@HOST>`: the
  address every operator has and answers (RFC 5321 4.5.1), a human-readable
  notice's sender;
- sent with the null reverse-path, so nothing reports on a notice (RFC 5321
  4.5.5), and marked `Auto-Submitted: auto-generated` (RFC 3834 5), so no
  automatic reply answers it;
- `Date`, a `Message-ID` at the host (RFC 5322 3.6.1, 3.6.4), one
  `text/plain; charset="utf-8"` part (RFC 2045, RFC 2046 4.1.2) holding the
  caller's text as it is, French then English (`Content-Language: fr, en`,
  RFC 3282);
- a notice names addresses, dates, sizes and counts, never a message's
  content.

Delivery status reports are not notices: they keep the RFC 3464 form and
sender (`message/dsn_report.py`, `MAILER-DAEMON`, `auto-replied`).

Ref: R25; R28; RFC 5321 4.5.1, 4.5.5; RFC 3834 5; RFC 3282; RFC 5322 3.6.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from message.facts import read_facts
from smtp_gateway.intake import AcceptedMail, Intake, LocalRecipient, TraceInfo


def system_notice(*, hostname: str, to: str, subject: str, text: str, now: datetime) -> bytes:
    """The notice's bytes: `text` (French, then English) to `to`, from postmaster@`hostname`."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"MSSanté <postmaster@{hostname}>"  # RFC 5321 4.5.1
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{secrets.token_hex(12)}.notice@{hostname}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834 5: no automatic reply to this
    msg.set_content(text, charset="utf-8")  # clears any Content-* field set before it
    msg["Content-Language"] = "fr, en"  # RFC 3282
    return msg.as_bytes()


async def deliver_notice(intake: Intake, content: bytes, *, session: str, now: datetime,
                         owner_bal_id: int | None, local: tuple[LocalRecipient, ...] = (),
                         remote: tuple[str, ...] = ()) -> None:
    """Hand `content` to intake from the null sender (RFC 5321 4.5.5), traced as local."""
    trace = TraceInfo(helo=intake.hostname, peer_ip="127.0.0.1", protocol="LOCAL",
                      session=session)
    await intake.accept(AcceptedMail(mail_from="", owner_bal_id=owner_bal_id, local=local,
                                     remote=remote, content=content,
                                     facts=read_facts(content), trace=trace), now)
