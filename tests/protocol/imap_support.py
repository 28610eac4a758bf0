"""Shared helpers of the IMAP engine contract suite (no tests here).

Real clients (imaplib, imapclient in threads; aioimaplib on the loop) and a
byte-level client, all against the operator fixture's running server (the
real store, SQLite or PostgreSQL); sample messages exercising MIME corners.
"""

from __future__ import annotations

import asyncio
import imaplib
import re
import socket
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime

import aioimaplib
import imapclient

from imap_store.store.mailbox import NewMessage
from tests.support import PASSWORD, Operator

LITERAL_END = re.compile(rb"~?\{(\d+)\}\Z")

TEXT = (
    b"Date: Tue, 5 Mar 2024 10:00:00 +0100\r\n"
    b'From: "Dr. Alice Martin" <alice@op-a.mssante.fr>\r\n'
    b"To: bob@op-a.mssante.fr, Carol <carol@op-b.mssante.fr>\r\n"
    b"Subject: Compte rendu\r\n"
    b"Message-ID: <text-1@op-a>\r\n"
    b"\r\n"
    b"Bonjour,\r\nvoici le compte rendu.\r\n"
)

EIGHT_BIT = (
    b"Date: Wed, 6 Mar 2024 08:15:00 +0000\r\n"
    b"From: =?utf-8?q?H=C3=A9l=C3=A8ne_Dupr=C3=A9?= <helene@op-a.mssante.fr>\r\n"
    b"To: \"Service de cardiologie\" <cardio@op-a.mssante.fr>\r\n"
    b"Cc: Team: u1@x.test, \"U 2\" <u2@x.test>;\r\n"
    b"Subject: R\xc3\xa9sultats d'analyse\r\n"
    b"In-Reply-To: <prev@op-a>\r\n"
    b"Message-ID: <eight-1@op-a>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"R\xc3\xa9sultat normal.\r\n"
)

INNER = (
    b"From: lab@op-b.mssante.fr\r\n"
    b"Subject: =?iso-8859-1?q?R=E9sultat_inclus?=\r\n"
    b"Message-ID: <inner-1@op-b>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/alternative; boundary=\"in\"\r\n"
    b"\r\n"
    b"--in\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"plain inner\r\n"
    b"--in\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<p>html=20inner</p>\r\n"
    b"--in--\r\n"
)

NESTED = (
    b"Date: Thu, 7 Mar 2024 09:00:00 +0100\r\n"
    b"From: alice@op-a.mssante.fr\r\n"
    b"To: bob@op-a.mssante.fr\r\n"
    b"Subject: Transfert\r\n"
    b"Message-ID: <nested-1@op-a>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"out\"\r\n"
    b"Content-Language: fr, en\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--out\r\n"
    b"Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
    b"Content-ID: <part1@op-a>\r\n"
    b"Content-Description: Note\r\n"
    b"\r\n"
    b"Voir le message joint.\r\n"
    b"Deux lignes.\r\n"
    b"--out\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"Content-Disposition: inline\r\n"
    b"\r\n" + INNER + b"\r\n"
    b"--out\r\n"
    b"Content-Type: application/pdf; name=\"cr.pdf\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''compte%20rendu.pdf\r\n"
    b"Content-Language: fr\r\n"
    b"Content-Location: http://example.test/cr.pdf\r\n"
    b"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
    b"\r\n"
    b"JVBERi0xLjQKAAEC\r\n"
    b"--out--\r\n"
    b"epilogue\r\n"
)


def numbered(n: int, subject: str = "Message", body: str = "Body") -> bytes:
    return (f"From: sender{n}@op-b.mssante.fr\r\nTo: bob@op-a.mssante.fr\r\n"
            f"Subject: {subject} {n}\r\nMessage-ID: <n{n}@op-b>\r\n"
            f"Date: Tue, 5 Mar 2024 10:00:00 +0100\r\n\r\n{body} {n}\r\n").encode()


async def seed(op: Operator, address: str, folder: str, messages: Sequence[bytes],
               flags: Sequence[frozenset[str]] | None = None) -> tuple[int, ...]:
    """Store messages with the store's APPEND (fast: one transaction)."""
    assert op.running is not None
    bal_id = op.bals[address].bal_id
    when = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
    items = [NewMessage(raw, flags[i] if flags else frozenset(), when)
             for i, raw in enumerate(messages)]
    result = await op.running.services.mailbox.append(bal_id, folder, items)
    return result.uids


def imaps(op: Operator, user: str) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("127.0.0.1", op.ports["imaps"], ssl_context=op.client_context(),
                               timeout=20)
    client.login(user, PASSWORD)
    return client


def imapclient_for(op: Operator, user: str) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient("127.0.0.1", port=op.ports["imaps"], ssl=True,
                                   ssl_context=op.client_context(), timeout=20)
    client.login(user, PASSWORD)
    return client


async def aio_client(op: Operator, user: str) -> aioimaplib.IMAP4_SSL:
    client = aioimaplib.IMAP4_SSL("127.0.0.1", op.ports["imaps"],
                                  ssl_context=op.client_context(), timeout=20)
    await client.wait_hello_from_server()
    assert (await client.login(user, PASSWORD)).result == "OK"
    return client


class Raw:
    """A byte-level client on the implicit-TLS port, for exact responses."""

    def __init__(self, op: Operator, user: str | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", op.ports["imaps"]), timeout=20)
        self.sock: ssl.SSLSocket = op.client_context().wrap_socket(
            sock, server_hostname="localhost")
        self.buf = b""
        self.greeting = self.line()
        if user is not None:
            assert self.cmd(b"L", b"LOGIN " + user.encode() + b' "' + PASSWORD.encode()
                            + b'"')[-1].startswith(b"L OK")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed: " + repr(self.buf))
        self.buf += chunk

    def _raw_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def line(self) -> bytes:
        """One response, its literals inlined as `{n}CRLF` + data."""
        line = self._raw_line()
        while (match := LITERAL_END.search(line)) is not None:
            size = int(match.group(1))
            while len(self.buf) < size:
                self._fill()
            data, self.buf = self.buf[:size], self.buf[size:]
            line += b"\r\n" + data + self._raw_line()
        return line

    def until_tagged(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            lines.append(self.line())
            if lines[-1].startswith(tag + b" "):
                return lines

    def cmd(self, tag: bytes, text: bytes) -> list[bytes]:
        self.send(tag + b" " + text + b"\r\n")
        return self.until_tagged(tag)

    def close(self) -> None:
        self.sock.close()


async def in_thread(fn, *args):  # noqa: ANN001, ANN201
    return await asyncio.to_thread(fn, *args)
