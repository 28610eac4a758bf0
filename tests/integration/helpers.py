"""Helpers for end-to-end tests: send with smtplib, read with imaplib (in threads)."""

from __future__ import annotations

import asyncio
import imaplib
import re
import ssl

from tests.protocol.smtp_client import submission
from tests.support import PASSWORD, Operator


async def send(op: Operator, sender: str, rcpts: list[str], message: bytes) -> dict:
    def run() -> dict:
        with submission(op.ports["submission"], op.client_context()) as c:
            c.login(sender, PASSWORD)
            return c.sendmail(sender, rcpts, message)
    return await asyncio.to_thread(run)


def imaps(op: Operator, user: str) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("127.0.0.1", op.ports["imaps"], ssl_context=op.client_context(),
                               timeout=20)
    client.login(user, PASSWORD)
    return client


async def fetch_all(op: Operator, user: str, folder: str = "INBOX") -> dict[int, bytes]:
    """UID -> BODY.PEEK[] of every message in the folder."""
    def run() -> dict[int, bytes]:
        client = imaps(op, user)
        try:
            typ, _ = client.select(folder)
            assert typ == "OK"
            typ, data = client.uid("SEARCH", "ALL")
            uids = [int(u) for u in data[0].split()]
            out = {}
            for uid in uids:
                typ, resp = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
                assert typ == "OK"
                out[uid] = resp[0][1]
            return out
        finally:
            client.logout()
    return await asyncio.to_thread(run)


def strip_trace(stored: bytes) -> tuple[list[bytes], bytes]:
    """Split the Return-Path/Received headers we prepend (and the MX's
    Authentication-Results, RFC 8601) from the original bytes."""
    names = []
    rest = stored
    while True:
        m = re.match(rb"(Return-Path|Received|Authentication-Results):[^\r\n]*\r\n"
                     rb"(?:[ \t][^\r\n]*\r\n)*", rest)
        if not m:
            return names, rest
        names.append(m.group(1))
        rest = rest[m.end():]


def tls_context_no_verify() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
