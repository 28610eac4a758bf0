"""Failure notices: the sender of a message the relay gives up on is told, in its INBOX.

Owns: `failure_notice` (the notice's bytes) and `Notices.tell` (hand it to
intake, the one way messages enter a mailbox).

Invariants:
- a notice goes to the sending BAL only, from the null sender (RFC 5321
  4.5.5: no notice about a notice), marked `Auto-Submitted: auto-replied`
  (RFC 3834);
- it names the recipients given up and the public reason (the peer's reply,
  or "delivery time expired"); it quotes the original header section only,
  never the body, bounded to `MAX_QUOTED` octets;
- a sender that is no longer a local BAL gets nothing (recorded by the caller).

Ref: RFC 5321 4.5.5, 6.1 ("the sender is told"); RFC 3834; R4.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from imap_store.store.delivery import DeliveryResult
from message.facts import read_facts

from ..intake import AcceptedMail, Intake, LocalRecipient, TraceInfo

MAX_QUOTED = 65_536


def header_section(message: bytes) -> bytes:
    end = message.find(b"\r\n\r\n")
    head = message if end < 0 else message[:end + 2]
    return head[:MAX_QUOTED]


def failure_notice(*, sender: str, hostname: str, recipients: Sequence[tuple[str, str]],
                   original: bytes, now: datetime) -> bytes:
    """The notice for `sender` about `recipients` ((address, reason) pairs)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Mail Delivery System <MAILER-DAEMON@{hostname}>"
    msg["To"] = sender
    msg["Subject"] = "Undelivered Mail Returned to Sender"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{secrets.token_hex(12)}@{hostname}>"
    msg["Auto-Submitted"] = "auto-replied"
    lines = ["Your message could not be delivered to the following recipients,",
             "and no further attempt will be made:", ""]
    lines += [f"  <{rcpt}>: {reason}" for rcpt, reason in recipients]
    lines += ["", "The header of your message follows."]
    msg.set_content("\n".join(lines) + "\n")
    msg.add_attachment(header_section(original).decode("utf-8", "replace"),
                       subtype="rfc822-headers", disposition="inline")
    return msg.as_bytes()


class Notices:
    """Hands failure notices to intake."""

    def __init__(self, intake: Intake, hostname: str) -> None:
        self.intake = intake
        self.hostname = hostname

    async def tell(self, *, sender: str, recipients: Sequence[tuple[str, str]],
                   original: bytes, queue_id: int,
                   now: datetime | None = None) -> DeliveryResult | None:
        """Deliver the notice to `sender`'s INBOX; None when the sender is no local BAL."""
        now = now or datetime.now(UTC)
        if not sender:
            return None
        state = await self.intake.store.lookup(sender)
        if state is None:
            return None
        content = failure_notice(sender=state.address, hostname=self.hostname,
                                 recipients=recipients, original=original, now=now)
        trace = TraceInfo(helo=self.hostname, peer_ip="127.0.0.1", protocol="LOCAL",
                          session=f"relay-{queue_id}")
        mail = AcceptedMail(mail_from="", owner_bal_id=None,
                            local=(LocalRecipient(state.address, state.bal_id),), remote=(),
                            content=content, facts=read_facts(content), trace=trace)
        return await self.intake.accept(mail, now)
