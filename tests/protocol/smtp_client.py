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


def transaction(port: int, ctx: ssl.SSLContext, login: str, password: str, mail_from: str,
                rcpts: list[str], message: bytes | None,
                mail_options: tuple[str, ...] = ()) -> dict[str, object]:
    """Run one transaction step by step; returns every reply as (code, enhanced, text)."""
    out: dict[str, object] = {"rcpt": []}
    with submission(port, ctx) as c:
        c.login(login, password)
        code, text = c.mail(mail_from, list(mail_options))
        out["mail"] = _split(code, text)
        if code != 250:
            return out
        accepted = 0
        for rcpt in rcpts:
            code, text = c.rcpt(rcpt)
            out["rcpt"].append(_split(code, text))  # type: ignore[union-attr]
            accepted += code == 250
        if accepted and message is not None:
            code, text = c.data(message)
            out["data"] = _split(code, text)
    return out


def _split(code: int, text: bytes) -> tuple[int, str, str]:
    enhanced, _, rest = text.decode().partition(" ")
    return code, enhanced, rest
