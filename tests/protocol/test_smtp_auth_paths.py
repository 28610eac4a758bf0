"""SMTP AUTH LOGIN and the malformed forms of AUTH PLAIN, with smtplib over
STARTTLS (587) and implicit TLS (465).

Each malformed exchange gets its reply (`501 5.5.2` for data that does not
decode or split, aiosmtpd's `501 5.7.0` for a `*` cancel), never reaches the
password check (no audit row, no failure counted), logs no secret, and leaves
the session able to authenticate properly afterwards.

Ref: RFC 4954 4 (AUTH, challenges, `*`), 6 (replies); RFC 4616 2 (PLAIN:
authzid NUL authcid NUL passwd, UTF-8); R8, R24.
"""

from __future__ import annotations

import asyncio
import base64
import smtplib
from collections.abc import Callable

import pytest

from tests.protocol.smtp_client import simple_message, submission
from tests.support import PASSWORD, Operator

FAST_AUTH = "[auth]\ndelay_base_ms = 5\ndelay_cap_ms = 50\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def implicit(op: Operator) -> smtplib.SMTP_SSL:
    client = smtplib.SMTP_SSL("127.0.0.1", op.ports["submissions"], timeout=20,
                              context=op.client_context())
    client.ehlo("client.test")
    return client


def plain_ok(client: smtplib.SMTP, login: str) -> tuple[int, bytes]:
    return client.docmd("AUTH", "PLAIN " + b64(b"\x00" + login.encode() + b"\x00"
                                               + PASSWORD.encode()))


async def in_session(op: Operator, run: Callable[[smtplib.SMTP], object],
                     port: str = "submission") -> object:
    def go() -> object:
        client = submission(op.ports["submission"], op.client_context()) if port == "submission" \
            else implicit(op)
        with client:
            return run(client)
    return await asyncio.to_thread(go)


@pytest.mark.parametrize("port", ["submission", "submissions"])
async def test_auth_login_with_and_without_initial_response(scenario, port: str) -> None:
    async with scenario(FAST_AUTH, trust_list=False) as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")

        def run(client: smtplib.SMTP) -> dict[str, object]:
            assert "LOGIN" in client.esmtp_features["auth"].split()
            out: dict[str, object] = {}
            # Challenge for the user name, then for the password (no initial response).
            out["user_prompt"] = client.docmd("AUTH", "LOGIN")
            out["pass_prompt"] = client.docmd(b64(alice.encode()))
            out["login"] = client.docmd(b64(PASSWORD.encode()))
            out["again"] = plain_ok(client, alice)
            out["sent"] = client.sendmail(alice, [bob], simple_message(alice, bob))
            return out

        out = await in_session(op, run, port)
        assert out["user_prompt"] == (334, b64(b"Username:").encode())
        assert out["pass_prompt"] == (334, b64(b"Password:").encode())
        assert out["login"] == (235, b"2.7.0 Authentication successful")
        assert out["again"][0] == 503
        assert out["sent"] == {}

        def with_initial(client: smtplib.SMTP) -> tuple[int, bytes]:
            client.user, client.password = alice, PASSWORD
            return client.auth("LOGIN", client.auth_login, initial_response_ok=True)

        assert await in_session(op, with_initial, port) == (
            235, b"2.7.0 Authentication successful")
        successes = await op.audit_rows("auth.success")
        assert [(r["login"], r.get("protocol", "smtp")) for r in successes] == [
            (alice, "smtp"), (alice, "smtp")]


async def test_auth_login_wrong_password_and_non_utf8(scenario) -> None:
    async with scenario(FAST_AUTH, trust_list=False) as op:
        alice = await op.add_bal("alice")

        def run(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
            replies = [client.docmd("AUTH", "LOGIN " + b64(alice.encode())),
                       client.docmd(b64(b"not the password at all"))]
            replies.append(client.docmd("AUTH", "LOGIN " + b64(b"\xff\xfe@op-a")))
            replies.append(client.docmd(b64(b"whatever secret")))
            replies.append(client.docmd("AUTH", "LOGIN " + b64(alice.encode())))
            replies.append(client.docmd(b64(b"\xc3\x28 broken utf-8")))
            replies.append(client.docmd("AUTH", "LOGIN not*base64!"))
            replies.append(plain_ok(client, alice))
            return replies

        replies = await in_session(op, run)
        assert replies == [
            (334, b64(b"Password:").encode()),
            (535, b"5.7.8 Authentication credentials invalid"),
            (334, b64(b"Password:").encode()),
            (501, b"5.5.2 Cannot decode authentication data"),
            (334, b64(b"Password:").encode()),
            (501, b"5.5.2 Cannot decode authentication data"),
            (501, b"5.5.2 Cannot decode authentication data"),
            (235, b"2.7.0 Authentication successful"),
        ]
        assert [r["login"] for r in await op.audit_rows("auth.failure")] == [alice]


MALFORMED_PLAIN = {
    "bad base64": "PLAIN not*base64!",
    "base64 with junk": "PLAIN " + b64(b"\x00a\x00b") + "%%",
    "two fields": "PLAIN " + b64(b"alice@op-a.mssante.fr\x00" + PASSWORD.encode()),
    "four fields": "PLAIN " + b64(b"\x00alice@op-a.mssante.fr\x00" + PASSWORD.encode() + b"\x00x"),
    "one field": "PLAIN " + b64(PASSWORD.encode()),
    "empty initial response": "PLAIN =",
    "no authcid": "PLAIN " + b64(b"\x00\x00" + PASSWORD.encode()),
    "no password": "PLAIN " + b64(b"\x00alice@op-a.mssante.fr\x00"),
    "non-UTF-8 authcid": "PLAIN " + b64(b"\x00\xff\xfe\x00" + PASSWORD.encode()),
    "non-UTF-8 password": "PLAIN " + b64(b"\x00alice@op-a.mssante.fr\x00\xc3\x28"),
    "non-UTF-8 authzid": "PLAIN " + b64(b"\xe9\x00alice@op-a.mssante.fr\x00" + PASSWORD.encode()),
}


async def test_malformed_auth_plain_is_501_and_checks_nothing(scenario, caplog) -> None:
    async with scenario(FAST_AUTH, trust_list=False) as op:
        alice = await op.add_bal("alice")

        def run(client: smtplib.SMTP) -> dict[str, tuple[int, bytes]]:
            out = {name: client.docmd("AUTH", arg) for name, arg in MALFORMED_PLAIN.items()}
            out["then a good one"] = plain_ok(client, alice)
            return out

        out = await in_session(op, run)
        assert await op.audit_rows("auth.failure") == []
        assert [r["login"] for r in await op.audit_rows("auth.success")] == [alice]
    malformed = (501, b"5.5.2 Cannot decode authentication data")
    assert {name: out[name] for name in MALFORMED_PLAIN} == dict.fromkeys(MALFORMED_PLAIN,
                                                                          malformed)
    assert out["then a good one"] == (235, b"2.7.0 Authentication successful")
    assert PASSWORD not in caplog.text and b64(PASSWORD.encode()) not in caplog.text


async def test_auth_plain_challenge_without_initial_response(scenario) -> None:
    async with scenario(FAST_AUTH, trust_list=False) as op:
        alice = await op.add_bal("alice")
        good = b64(b"\x00" + alice.encode() + b"\x00" + PASSWORD.encode())

        def run(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
            return [client.docmd("AUTH", "PLAIN"), client.docmd("*"),        # cancelled
                    client.docmd("AUTH", "PLAIN"), client.docmd("%%%"),      # not base64
                    client.docmd("AUTH", "PLAIN"), client.docmd(b64(b"a\x00b")),  # 2 fields
                    client.docmd("AUTH", "LOGIN"), client.docmd("*"),        # cancelled
                    client.docmd("AUTH", "PLAIN"), client.docmd(good)]

        replies = await in_session(op, run)
        assert replies == [
            (334, b""), (501, b"5.7.0 Auth aborted"),
            (334, b""), (501, b"5.5.2 Can't decode base64"),
            (334, b""), (501, b"5.5.2 Cannot decode authentication data"),
            (334, b64(b"Username:").encode()), (501, b"5.7.0 Auth aborted"),
            (334, b""), (235, b"2.7.0 Authentication successful"),
        ]
        assert await op.audit_rows("auth.failure") == []


async def test_auth_argument_errors_and_unknown_mechanism(operator: Operator) -> None:
    alice = await operator.add_bal("alice")

    def run(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        return [client.docmd("AUTH"), client.docmd("AUTH", "PLAIN a b"),
                client.docmd("AUTH", "CRAM-MD5"), client.docmd("AUTH", "XOAUTH2 abc"),
                plain_ok(client, alice), client.docmd("AUTH", "PLAIN =")]

    codes = [code for code, _ in await in_session(operator, run)]
    assert codes == [501, 501, 504, 504, 235, 503]
