"""IMAP before and after TLS: LOGINDISABLED, refused LOGIN on loopback, audit.

Ref: RFC 3501 6.2.3, 7.2.1 (LOGINDISABLED); RFC 9051 (PRIVACYREQUIRED);
R8, R24 (T12).
"""

from __future__ import annotations

import asyncio
import imaplib

import pytest

from tests.support import PASSWORD, Operator


async def test_login_refused_before_starttls_even_on_loopback(operator: Operator) -> None:
    bob = await operator.add_bal("bob")

    def run() -> tuple[list[str], str, str]:
        c = imaplib.IMAP4("127.0.0.1", operator.ports["imap"], timeout=20)
        caps = list(c.capabilities)
        with pytest.raises(imaplib.IMAP4.error) as login:
            c.login(bob, PASSWORD)
        typ, data = c._simple_command("AUTHENTICATE", "PLAIN", "AGJvYgBwYXNz")
        c.starttls(ssl_context=operator.client_context())
        assert c.login(bob, PASSWORD)[0] == "OK"
        c.logout()
        return caps, str(login.value), typ

    caps, login_error, auth_typ = await asyncio.to_thread(run)
    assert "LOGINDISABLED" in caps and "STARTTLS" in caps
    assert not any(cap.startswith("AUTH=") for cap in caps)
    assert "PRIVACYREQUIRED" in login_error or "LOGINDISABLED" in login_error.upper()
    assert auth_typ == "NO"
    successes = await operator.audit_rows("auth.success")
    assert [r["login"] for r in successes] == [bob]


async def test_failed_imap_login_is_audited_without_secret(operator: Operator) -> None:
    bob = await operator.add_bal("bob")

    def run() -> str:
        c = imaplib.IMAP4_SSL("127.0.0.1", operator.ports["imaps"],
                              ssl_context=operator.client_context(), timeout=20)
        try:
            c.login(bob, "wrong secret value")
        except imaplib.IMAP4.error as exc:
            return str(exc)
        finally:
            c.shutdown()
        return ""

    error = await asyncio.to_thread(run)
    assert "AUTHENTICATIONFAILED" in error
    failures = await operator.audit_rows("auth.failure")
    assert [r["login"] for r in failures] == [bob]
    assert "wrong secret" not in str(failures)
