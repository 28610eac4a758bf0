"""Small helpers around smtplib for the protocol tests (run in a worker thread)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage


def submission(port: int, ctx: ssl.SSLContext) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=20)
    client.ehlo("client.test")
    client.starttls(context=ctx)
    client.ehlo("client.test")
    return client


def simple_message(sender: str, to: str, subject: str = "Hello", body: str = "Body\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = "<test-1@client.test>"
    msg.set_content(body)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
