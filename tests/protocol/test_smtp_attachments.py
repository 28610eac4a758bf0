"""Attachments and content at the gateway (R26), through smtplib (STARTTLS, AUTH) against
the in-process server, and IMAP to read what was delivered:

- each refused file (a PE and an ELF header, a shell script named `.pdf`, a `.docm`, a
  `.docx` with a macro, an AES-encrypted ZIP, zip bombs by ratio and by depth, EICAR, a
  message/rfc822 carrying a program) gets `554 5.7.1`; the same message carrying a PDF
  instead gets `250` and arrives byte-identical, as does a valid `IHE_XDM.ZIP` holding a
  CDA and a PDF; each refusal is audited with the part's path and detected type, never
  the file name;
- broken MIME gets a clean `554 5.6.0` (or is accepted with `malformed = "accept"`), and
  the next transaction on the same connection succeeds;
- `warn` mode audits "would refuse" and delivers;
- a ClamAV stand-in speaking `zINSTREAM` on a Unix socket and on TCP: what it finds is
  `554 5.7.1`, a daemon that does not answer is `451 4.3.0` (fail closed), and it
  receives the message exactly as sent.

Ref: R20, R26; acceptance case T39 (docs/rules.md "Acceptance cases"); clamd(8).
"""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from tests import attachment_files as f
from tests.integration.helpers import fetch_all, strip_trace
from tests.protocol.smtp_client import submission
from tests.support import PASSWORD, Operator

PDF_T, ZIP_T = "application/pdf", "application/zip"
DOCX_T = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _inner(attachment: tuple[str, str, bytes]) -> object:
    raw = f.wire(f.message("dr.z@op-b.mssante.fr", "dr.x@op-a.mssante.fr", [attachment],
                           subject="Message transfere"))
    return message_from_bytes(raw, policy=default)


REFUSED = [
    ("pe", ("rapport.exe", "application/octet-stream", f.pe())),
    ("elf", ("outil", "application/octet-stream", f.elf())),
    ("script-named-pdf", ("compte-rendu.pdf", PDF_T, f.SHELL_SCRIPT)),
    ("docm", ("lettre.docm", "application/vnd.ms-word.document.macroEnabled.12", f.docm())),
    ("docx-with-macro", ("lettre.docx", DOCX_T, f.docx_with_macro())),
    ("aes-zip", ("documents.zip", ZIP_T, f.aes_zip([("cr.pdf", f.pdf())]))),
    ("zip-bomb-ratio", ("bilan.zip", ZIP_T, f.ratio_bomb())),
    ("zip-bomb-depth", ("bilan.zip", ZIP_T, f.nested_zip(6))),
    ("eicar", ("test.txt", "text/plain", f.EICAR)),
    ("nested-rfc822", None),
]
PDF_ATTACHMENT = ("compte-rendu.pdf", PDF_T, f.pdf())


def pair(case: str, attachment: tuple[str, str, bytes] | None, alice: str,
         bob: str) -> tuple[bytes, bytes]:
    """(the message carrying the refused file, the same message carrying a PDF instead)."""
    def build(file: tuple[str, str, bytes]) -> bytes:
        if attachment is None:  # the refused part is inside an attached message
            msg = f.message(alice, bob, [], subject=case, inner=_inner(file))  # type: ignore[arg-type]
        else:
            msg = f.message(alice, bob, [file], subject=case)
        return f.wire(msg)
    refused = attachment or ("setup.exe", "application/octet-stream", f.pe())
    return build(refused), build(PDF_ATTACHMENT)


def transactions(op: Operator, login: str, to: str,
                 messages: list[bytes]) -> list[tuple[int, bytes]]:
    """Every message on one connection, one transaction each: the DATA replies; then NOOP."""
    replies = []
    with submission(op.ports["submission"], op.client_context()) as client:
        client.login(login, PASSWORD)
        for raw in messages:
            assert client.mail(login)[0] == 250
            assert client.rcpt(to)[0] == 250
            replies.append(client.data(raw))
        assert client.noop()[0] == 250
    return replies


async def test_each_refused_file_554_571_and_the_pdf_version_250_byte_identical(
        operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    pairs = [pair(case, attachment, alice, bob) for case, attachment in REFUSED]
    xdm = f.wire(f.message(alice, bob, [("IHE_XDM.ZIP", ZIP_T, f.xdm())], subject="xdm"))
    sent = [raw for both in pairs for raw in both] + [xdm]
    replies = await asyncio.to_thread(transactions, operator, alice, bob, sent)
    for (case, _), (refused, accepted) in zip(REFUSED, zip(replies[:-1:2], replies[1::2],
                                                             strict=True), strict=True):
        assert (refused[0], refused[1][:5]) == (554, b"5.7.1"), (case, refused)
        assert accepted[0] == 250, (case, accepted)
    assert replies[-1][0] == 250, replies[-1]  # a valid IHE_XDM.ZIP with a CDA and a PDF
    stored = await fetch_all(operator, bob)
    assert [strip_trace(raw)[1] for raw in stored.values()] == [ok for _, ok in pairs] + [xdm]
    audited = await operator.audit_rows("smtp.refused")
    assert [(row["stage"], row["code"], row["enhanced"]) for row in audited] == [
        ("DATA", 554, "5.7.1")] * len(REFUSED)
    for row in audited:
        assert row["reason"].startswith("attachments: part "), row
        assert "(detected " in row["reason"]
        for name in ("rapport", "compte-rendu", "lettre", "documents", "bilan", "setup"):
            assert name not in row["reason"], row
    reasons = [row["reason"] for row in audited]
    assert "part 2: executable (detected application/vnd.microsoft.portable-exe" in reasons[0]
    assert "part 2: EICAR test file (detected text/plain" in reasons[8]
    assert "part 2.2: executable" in reasons[9]


BROKEN = [
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n"
    b"\r\nunclosed\r\n",
    b"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"JVBERi0xLj$$QK\r\n",
    b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nno boundary parameter\r\n--x--\r\n",
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-whatever\r\n\r\nbody\r\n",
]


def deep_multipart(levels: int, leaf: bytes) -> bytes:
    raw = b"Content-Type: text/plain\r\n\r\n" + leaf + b"\r\n"
    for i in range(levels):
        raw = (b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) + raw
               + b"\r\n--b%d--\r\n" % i)
    return raw


def _headers(alice: str, bob: str, n: int) -> bytes:
    return (f"From: {alice}\r\nTo: {bob}\r\nSubject: broken {n}\r\n"
            f"Message-ID: <broken-{n}@client.test>\r\nMIME-Version: 1.0\r\n").encode()


async def test_broken_mime_554_560_and_the_next_transaction_succeeds(
        operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    broken = [_headers(alice, bob, n) + raw for n, raw in enumerate(BROKEN)]
    absurd = _headers(alice, bob, 99) + deep_multipart(3000, b"deep")
    good = f.wire(f.message(alice, bob, [PDF_ATTACHMENT], subject="after"))
    replies = await asyncio.to_thread(transactions, operator, alice, bob,
                                      [broken[0], good, *broken[1:], absurd, good])
    codes = [(code, text[:5]) for code, text in replies]
    assert codes == [(554, b"5.6.0"), (250, b"2.0.0"), *[(554, b"5.6.0")] * 4,
                     (250, b"2.0.0")], replies
    audited = await operator.audit_rows("smtp.refused")
    assert [row["reason"].split(":")[0] for row in audited[:4]] == ["attachments"] * 4
    assert "malformed MIME: part TEXT: multipart without its close delimiter" in (
        audited[0]["reason"])
    assert len(await fetch_all(operator, bob)) == 2


async def test_broken_mime_accepted_as_opaque_when_configured(scenario) -> None:  # noqa: ANN001
    async with scenario('[attachments]\nmalformed = "accept"') as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        raws = [_headers(alice, bob, n) + raw for n, raw in enumerate(BROKEN)]
        program = (_headers(alice, bob, 9) + b"Content-Type: multipart/mixed; boundary=x\r\n\r\n"
                   b"--x\r\nContent-Type: application/octet-stream; name=a.dat\r\n"
                   b"Content-Transfer-Encoding: base64\r\n\r\n"
                   + base64.encodebytes(f.pe()).replace(b"\n", b"\r\n"))  # unclosed
        replies = await asyncio.to_thread(transactions, op, alice, bob, [*raws, program])
        stored = await fetch_all(op, bob)
    assert [code for code, _ in replies] == [250] * len(BROKEN) + [554]
    assert [strip_trace(raw)[1] for raw in stored.values()] == raws


async def test_warn_mode_audits_would_refuse_and_delivers(scenario) -> None:  # noqa: ANN001
    async with scenario('[policy]\nmodes = { attachments = "warn" }') as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        raw = f.wire(f.message(alice, bob, [("x.pdf", PDF_T, f.elf())]))
        replies = await asyncio.to_thread(transactions, op, alice, bob, [raw])
        warned = await op.audit_rows("policy.would_refuse")
    assert replies[0][0] == 250
    assert [(w["rule"], w["code"]) for w in warned] == [("attachments", 554)]
    assert "part 2: executable (detected application/x-elf" in warned[0]["reason"]


# --- a ClamAV stand-in ------------------------------------------------------------------

MARKER = b"MSS-STAND-IN-MALWARE-MARKER"


def _decoded(raw: bytes) -> list[bytes]:
    """Every part of a message without its transfer encoding (as clamd reads mail)."""
    parts = message_from_bytes(raw, policy=default).walk()
    return [raw] + [p.get_payload(decode=True) or b"" for p in parts if not p.is_multipart()]


class StandIn:
    """Speaks clamd's zINSTREAM: reads the chunks, answers FOUND for EICAR or the marker."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.silent = False
        self.release = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            assert await reader.readexactly(10) == b"zINSTREAM\0"
            chunks = []
            while size := struct.unpack("!L", await reader.readexactly(4))[0]:
                chunks.append(await reader.readexactly(size))
            data = b"".join(chunks)
            self.received.append(data)
            if self.silent:
                await self.release.wait()
            found = any(f.EICAR in part or MARKER in part for part in _decoded(data))
            writer.write(b"stream: Eicar-Test-Signature FOUND\0" if found else b"stream: OK\0")
            await writer.drain()
        except ConnectionError:
            pass  # the gateway gave up waiting (the timeout case) and closed the connection
        finally:
            writer.close()


@asynccontextmanager
async def stand_in(start: Callable[..., object]) -> AsyncIterator[tuple[StandIn, object]]:
    daemon = StandIn()
    server = await start(daemon.handle)  # type: ignore[misc]
    try:
        yield daemon, server
    finally:
        server.close()  # type: ignore[attr-defined]
        await server.wait_closed()  # type: ignore[attr-defined]


async def test_clamd_on_a_unix_socket(scenario, tmp_path: Path) -> None:  # noqa: ANN001
    socket_path = tmp_path / "clamd.sock"
    start = lambda handle: asyncio.start_unix_server(handle, str(socket_path))  # noqa: E731
    config = (f'[antivirus]\nclamd = "{socket_path}"\ntimeout = 2\n'
              '[policy]\nmodes = { attachments = "off" }')
    async with stand_in(start) as (daemon, server), scenario(config) as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        clean = f.wire(f.message(alice, bob, [PDF_ATTACHMENT], subject="clean"))
        eicar = f.wire(f.message(alice, bob, [("t.txt", "text/plain", f.EICAR)]))
        marked = f.wire(f.message(alice, bob, [], body=MARKER.decode() + "\n"))
        replies = await asyncio.to_thread(transactions, op, alice, bob, [clean, eicar, marked])
        assert daemon.received == [clean, eicar, marked]  # each message exactly as sent
        daemon.silent = True  # connected, but no answer within the timeout
        silent = await asyncio.to_thread(transactions, op, alice, bob, [clean])
        daemon.release.set()
        server.close()  # type: ignore[attr-defined]
        await server.wait_closed()  # type: ignore[attr-defined]
        socket_path.unlink()
        gone = await asyncio.to_thread(transactions, op, alice, bob, [clean])
        refused = await op.audit_rows("smtp.refused")
    assert [(code, text[:5]) for code, text in replies] == [
        (250, b"2.0.0"), (554, b"5.7.1"), (554, b"5.7.1")]
    assert (silent[0][0], silent[0][1][:5]) == (451, b"4.3.0")
    assert (gone[0][0], gone[0][1][:5]) == (451, b"4.3.0")
    assert "antivirus: clamd found Eicar-Test-Signature" in refused[0]["reason"]
    assert "no answer within 2 s" in refused[2]["reason"]
    assert "clamd unavailable" in refused[3]["reason"]


async def test_clamd_over_tcp(scenario) -> None:  # noqa: ANN001
    start = lambda handle: asyncio.start_server(handle, "127.0.0.1", 0)  # noqa: E731
    async with stand_in(start) as (daemon, server):
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        async with scenario(f'[antivirus]\nclamd = "127.0.0.1:{port}"') as op:
            alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
            marked = f.wire(f.message(alice, bob, [], body=MARKER.decode() + "\n"))
            clean = f.wire(f.message(alice, bob, [PDF_ATTACHMENT]))
            replies = await asyncio.to_thread(transactions, op, alice, bob, [marked, clean])
    assert [(code, text[:5]) for code, text in replies] == [(554, b"5.7.1"), (250, b"2.0.0")]
    assert daemon.received == [marked, clean]


async def test_clamd_unreachable_in_warn_mode_audits_and_delivers(scenario) -> None:  # noqa: ANN001
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()  # the port is now closed: connections are refused
    config = f'[antivirus]\nclamd = "127.0.0.1:{port}"\n[policy]\nmodes = {{ antivirus = "warn" }}'
    async with scenario(config) as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        raw = f.wire(f.message(alice, bob, [PDF_ATTACHMENT]))
        replies = await asyncio.to_thread(transactions, op, alice, bob, [raw])
        warned = await op.audit_rows("policy.would_refuse")
    assert replies[0][0] == 250
    assert [(w["rule"], w["code"]) for w in warned] == [("antivirus", 451)]
    assert "clamd unavailable: ConnectionRefusedError" in warned[0]["reason"]
