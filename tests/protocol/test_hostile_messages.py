"""Hostile messages and command lines against the running server, with real
clients (smtplib and raw TLS sockets for SMTP, imaplib and a byte-level IMAP
client over TLS):

- a message nested far deeper than any real mail (2,000 multipart or
  message/rfc822 levels) already in a mailbox: SEARCH BODY/TEXT, FETCH
  BODYSTRUCTURE and deep BODY[1.1...] sections answer OK and the session
  goes on; new ones are refused, by SMTP (`554 5.6.0`, audited) and by
  APPEND (`NO [LIMIT]`), past `limits.max_mime_depth`, while a message at
  the limit is delivered and fully searchable; parsing such a message never
  copies it once per level;
- NUL, CR and LF in header fields never reach ENVELOPE or BODYSTRUCTURE
  strings (a NUL is sent as U+FFFD, CR and LF as spaces), while BODY[] stays
  byte-exact;
- a control character in an EHLO, HELO, MAIL or RCPT argument is `501 5.5.2`.

Ref: RFC 2046 5.1, 5.2.1 (nesting); RFC 3501 6.4.4, 6.4.5, 7.4.2, 9 (`literal`
is CHAR8: no NUL); RFC 3516 4.3; RFC 5321 4.1.2, 4.2.2; RFC 3463 (5.5.2, 5.6.0).
"""

from __future__ import annotations

import base64
import re
import socket
import tracemalloc

from message.mime_tree import MAX_DEPTH
from tests.nested_messages import deep_multipart, deep_rfc822
from tests.protocol.imap_support import Raw, imaps, in_thread, numbered, seed
from tests.protocol.smtp_client import submission
from tests.support import DOMAIN, PASSWORD, Operator

NEEDLE = b"needle at the bottom"


def _envelope(sender: str, to: str, n: int) -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nMessage-ID: <hostile-{n}@{DOMAIN}>\r\n"
            "Date: Tue, 5 Mar 2024 10:00:00 +0100\r\n").encode()


def _uids(answer: tuple[str, list[bytes | None]]) -> list[int]:
    status, data = answer
    assert status == "OK", answer
    return [int(uid) for uid in (data[0] or b"").split()]


def _send(op: Operator, login: str, to: str, message: bytes) -> tuple[int, bytes]:
    with submission(op.ports["submission"], op.client_context()) as c:
        c.login(login, PASSWORD)
        assert c.mail(login)[0] == 250
        assert c.rcpt(to)[0] == 250
        return c.data(message)


def _section(levels: int) -> str:
    return ".".join(["1"] * levels)


async def test_search_and_fetch_over_messages_nested_2000_deep(operator: Operator) -> None:
    bob = await operator.add_bal("bob")
    await seed(operator, bob, "INBOX", [  # stored before any bound existed: the store copes
        deep_multipart(2000, NEEDLE), numbered(2, body="needle at the bottom"),
        deep_rfc822(2000, NEEDLE), numbered(4, body="hay")])

    def run() -> None:
        c = imaps(operator, bob)
        assert c.select("INBOX") == ("OK", [b"4"])
        # Below the depth the tree represents, the deepest part kept is read as text.
        assert _uids(c.uid("SEARCH", "BODY", '"needle at the bottom"')) == [1, 2, 3]
        assert _uids(c.search(None, "TEXT", '"needle at the bottom"')) == [1, 2, 3]
        assert _uids(c.uid("SEARCH", "TEXT", "deep")) == [1]
        assert _uids(c.uid("SEARCH", "NOT", "BODY", "hay")) == [1, 2, 3]
        for uid in ("1", "3"):
            status, data = c.uid("FETCH", uid, "(BODYSTRUCTURE ENVELOPE)")
            assert status == "OK", data
            status, data = c.uid("FETCH", uid, f"(BODY.PEEK[{_section(2000)}] "
                                               f"BODY.PEEK[{_section(40)}.MIME])")
            assert status == "OK", data
        status, data = c.uid("FETCH", "1", f"(BODY.PEEK[{_section(MAX_DEPTH - 1)}.MIME])")
        assert status == "OK" and b"boundary=b1968" in data[0][1], data  # type: ignore[index]
        assert c.noop()[0] == "OK"
        c.logout()

    await in_thread(run)


async def test_smtp_refuses_a_message_nested_deeper_than_the_limit(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    limit = operator.cfg.limits.max_mime_depth
    assert limit == MAX_DEPTH

    def run() -> list[tuple[int, bytes]]:
        return [_send(operator, alice, bob, _envelope(alice, bob, n) + build(levels, NEEDLE))
                for n, (build, levels) in enumerate([
                    (deep_multipart, limit + 1), (deep_multipart, 2000), (deep_rfc822, 2000),
                    (deep_multipart, limit)])]

    replies = await in_thread(run)
    assert [(code, text[:5]) for code, text in replies[:3]] == [(554, b"5.6.0")] * 3
    assert replies[3][0] == 250, replies[3]
    refused = await operator.audit_rows("smtp.refused")
    assert [r["code"] for r in refused] == [554] * 3
    assert all("MIME nesting" in r["reason"] and "max_mime_depth" in r["reason"]
               for r in refused)

    def search() -> None:  # the message at the limit is whole: its deepest text is searched
        c = imaps(operator, bob)
        assert c.select("INBOX") == ("OK", [b"1"])
        assert _uids(c.uid("SEARCH", "BODY", '"needle at the bottom"')) == [1]
        status, data = c.uid("FETCH", "1", f"(BODY.PEEK[{_section(limit)}])")
        assert status == "OK" and data[0][1] == NEEDLE + b"\r\n", data  # type: ignore[index]
        c.logout()

    await in_thread(search)


async def test_append_refuses_a_message_nested_deeper_than_the_limit(operator: Operator) -> None:
    bob = await operator.add_bal("bob")

    def run() -> None:
        c = imaps(operator, bob)
        for raw in (deep_multipart(MAX_DEPTH + 1, NEEDLE), deep_rfc822(2000, NEEDLE)):
            status, data = c.append("INBOX", None, None, raw)
            assert status == "NO" and data[0].startswith(b"[LIMIT]"), data
        status, data = c.append("INBOX", None, None, deep_multipart(MAX_DEPTH, NEEDLE))
        assert status == "OK", data
        assert c.select("INBOX") == ("OK", [b"1"])
        assert _uids(c.uid("SEARCH", "BODY", "needle")) == [1]
        c.logout()

    await in_thread(run)


async def test_a_deep_message_is_never_copied_once_per_level(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    filler = (b"y" * 76 + b"\r\n") * 40_000  # 3.1 MB at the bottom of 32 levels
    message = _envelope(alice, bob, 1) + deep_multipart(MAX_DEPTH, NEEDLE + b"\r\n" + filler)

    def run() -> None:
        assert _send(operator, alice, bob, message)[0] == 250
        c = imaps(operator, bob)
        assert c.select("INBOX") == ("OK", [b"1"])
        assert _uids(c.uid("SEARCH", "BODY", '"needle at the bottom"')) == [1]
        assert c.uid("FETCH", "1", "(BODYSTRUCTURE)")[0] == "OK"
        c.logout()

    tracemalloc.start()
    try:
        await in_thread(run)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Copies per pipeline stage are expected (client, DATA, sealing, decryption, text);
    # one per MIME level (32 x 3.1 MB per parse) is not.
    assert peak < 16 * len(message), (peak, len(message))


SUBJECT = b"Compte\x00rendu\x00"
NUL_MESSAGE = (
    b"Subject: " + SUBJECT + b"\r\n"
    b"In-Reply-To: <prev\x00@op-a>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b\"\r\n"
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Description: note\x00 1\r\n"
    b"\r\n"
    b"texte brut\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=us-ascii; name=\"cr\x00.txt\"\r\n"
    b"Content-ID: <id\x00@op-a>\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"Q29tcHRlIHJlbmR1Cg==\r\n"
    b"--b--\r\n"
)
NUL_BODY = b"Subject: s\r\nContent-Type: application/octet-stream\r\n\r\nab\x00cd"
STRAY_LINE_ENDS = (
    b"From: alice@op-a.mssante.fr\r\n"
    b"Subject: one\rtwo\r\n"
    b"Content-Type: text/plain; name=\"a\rb\"\r\n"
    b"\r\n"
    b"body\r\n"
)


def _fetch(raw: Raw, uid: int, items: bytes) -> bytes:
    lines = raw.cmd(b"F", b"UID FETCH %d " % uid + items)
    assert lines[-1].startswith(b"F OK"), lines
    return b"\r\n".join(lines[:-1])


async def test_envelope_and_bodystructure_strings_never_carry_nul(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    message = _envelope(alice, bob, 1) + NUL_MESSAGE
    code, text = await in_thread(_send, operator, alice, bob, message)
    assert code == 250, text
    # Stored as they are (the content policy refuses a text part holding NUL over SMTP).
    await seed(operator, bob, "INBOX", [STRAY_LINE_ENDS, NUL_BODY])
    raw = await in_thread(Raw, operator, bob)

    def run() -> None:
        assert raw.cmd(b"S", b"SELECT INBOX")[-1].startswith(b"S OK")
        meta = _fetch(raw, 1, b"(ENVELOPE BODYSTRUCTURE BODY)")
        assert b"\x00" not in meta
        fffd = "\ufffd".encode()
        for text in (b"Compte" + fffd + b"rendu" + fffd, b"<prev" + fffd + b"@op-a>",
                     b"note" + fffd + b" 1", b"cr" + fffd + b".txt", b"<id" + fffd + b"@op-a>"):
            assert text in meta, (text, meta)
        # RFC 3501 7.4.2 BODYSTRUCTURE sizes and lines are those of the stored octets.
        assert (b'("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL {9}\r\nnote' + fffd
                + b' 1 "7BIT" 10 1') in meta, meta
        stray = _fetch(raw, 2, b"(ENVELOPE BODYSTRUCTURE)")
        assert b'"one two"' in stray and b'("NAME" "a b")' in stray, stray
        assert b"\r" not in stray.replace(b"\r\n", b"")
        # BODY[] and header sections stay byte-exact (the decision: fetch_items.py).
        body = _fetch(raw, 1, b"(RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        size = int(re.search(rb"RFC822\.SIZE (\d+)", body).group(1))  # type: ignore[union-attr]
        assert b"BODY[] {%d}\r\n" % size in body and NUL_MESSAGE in body
        assert b"Subject: " + SUBJECT + b"\r\n\r\n" in body
        body = _fetch(raw, 3, b"(BODY.PEEK[] BINARY.PEEK[1])")
        assert b"BODY[] {%d}\r\n" % len(NUL_BODY) + NUL_BODY in body, body
        assert b"BINARY[1] ~{5}\r\nab\x00cd)" in body, body  # RFC 3516 4.3: literal8
        assert raw.cmd(b"N", b"NOOP")[-1].startswith(b"N OK")
        raw.close()

    await in_thread(run)


def _smtp_raw(op: Operator, user: str, lines: list[bytes]) -> list[bytes]:
    """Send each line on an authenticated implicit-TLS session; one reply line each."""
    sock = socket.create_connection(("127.0.0.1", op.ports["submissions"]), timeout=20)
    tls = op.client_context().wrap_socket(sock, server_hostname="localhost")
    reader = tls.makefile("rb")

    def reply() -> bytes:
        while (line := reader.readline())[3:4] == b"-":
            pass
        return line.rstrip(b"\r\n")

    assert reply().startswith(b"220")
    plain = ("\0" + user + "\0" + PASSWORD).encode()
    for setup in (b"EHLO client.test", b"AUTH PLAIN " + base64.b64encode(plain)):
        tls.sendall(setup + b"\r\n")
        assert reply()[:1] in (b"2", b"3")
    answers = []
    for line in lines:
        tls.sendall(line + b"\r\n")
        answers.append(reply())
    tls.close()
    return answers


async def test_control_characters_in_smtp_arguments_are_syntax_errors(
        operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    a, b = alice.encode(), bob.encode()
    lines = [
        b"EHLO a\x00b", b"HELO a\x01b", b"EHLO a\rb", b"EHLO a\tb", b"EHLO a\x7fb",
        b"EHLO client.test",  # the session goes on
        b"MAIL FROM:<al\x00ice@op-a.mssante.fr>", b"MAIL FROM:<" + a + b"> SIZE=10\x00",
        b"MAIL FROM:<" + a + b"> BODY=8BITMIME\x1b",
        b"MAIL FROM:<" + a + b">",
        b"RCPT TO:<b\x00ob@op-a.mssante.fr>", b"RCPT TO:<" + b + b"> X\x00=1",
        b"RCPT TO:<" + b + b">",
    ]
    answers = await in_thread(_smtp_raw, operator, alice, lines)
    refused = [n for n, line in enumerate(lines) if re.search(rb"[\x00-\x1f\x7f]", line)]
    for n, answer in enumerate(answers):
        if n in refused:
            assert answer.startswith(b"501 5.5.2 "), (lines[n], answer)
        else:
            assert answer.startswith(b"250"), (lines[n], answer)

