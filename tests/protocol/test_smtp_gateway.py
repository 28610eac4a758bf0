"""The gateway end to end with smtplib: From checks on parsed facts, our own
transaction state, session facts in the audit, large messages, and a committed
delivery that keeps its 250 when its audit record cannot be written.

Ref: RFC 5321 3.3, 4.1.1.5 (RSET); RFC 5322 3.6.2; R24.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.protocol.smtp_client import simple_message, submission, transaction
from tests.support import PASSWORD, Operator, is_postgres


async def inbox_uids(op: Operator, address: str) -> list[int]:
    services = op.running.services  # type: ignore[union-attr]
    bal_id = op.bals[address].bal_id
    folder = await services.mailbox.get_folder(bal_id, "INBOX")
    assert folder is not None
    _, rows = await services.mailbox.snapshot(bal_id, folder.id)
    return [r.uid for r in rows]


def _message(from_lines: bytes, to: str, separator: bytes = b"\r\n") -> bytes:
    return (from_lines + f"To: {to}\r\nSubject: x\r\nMessage-ID: <m-1@client.test>\r\n".encode()
            + separator + b"Body\r\n")


SPOOFS = [
    pytest.param(lambda a, b: f"From: {a}\r\nFrom: {b}\r\n".encode(), id="two-from-fields"),
    pytest.param(lambda a, b: f"From: {a}\r\nFrom : {b}\r\n".encode(), id="space-before-colon"),
    pytest.param(lambda a, b: f"From: friends: {a};\r\n".encode(), id="group"),
    pytest.param(lambda a, b: f'From: "{b}"@op-a.mssante.fr\r\n'.encode(), id="quoted-local"),
    pytest.param(lambda a, b: f"From: {a} <{b}>\r\n".encode(), id="address-as-name"),
    pytest.param(lambda a, b: b"From: =?utf-8?b?YWxpY2U=?=@op-a.mssante.fr\r\n",
                 id="encoded-word-address"),
    pytest.param(lambda a, b: f"From: X <{a}> (c) <{b}>\r\n".encode(), id="two-angles"),
]


@pytest.mark.parametrize("from_lines", SPOOFS)
async def test_ambiguous_from_is_refused_at_data(trusted: Operator, from_lines) -> None:  # noqa: ANN001
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    message = _message(from_lines(alice, bob), bob)
    out = await asyncio.to_thread(transaction, trusted.ports["submission"],
                                  trusted.client_context(), alice, PASSWORD, alice, [bob],
                                  message)
    assert out["data"][:2] == (550, "5.7.1")
    refused = await trusted.audit_rows("smtp.refused")
    assert [r["stage"] for r in refused] == ["DATA"]
    assert refused[0]["reason"].startswith("from_header: From")
    assert await inbox_uids(trusted, bob) == []


async def test_bare_lf_header_section_is_not_trusted(trusted: Operator) -> None:
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    # smtplib sends the message as given (bare LFs are not rewritten by `transaction`).
    message = f"From: {alice}\nTo: {bob}\n\nFrom: {bob}\r\n\r\nBody\r\n".encode()
    out = await asyncio.to_thread(transaction, trusted.ports["submission"],
                                  trusted.client_context(), alice, PASSWORD, alice, [bob],
                                  message)
    assert out["data"][:2] == (550, "5.7.1")
    assert await inbox_uids(trusted, bob) == []


async def test_rset_drops_the_transaction(operator: Operator) -> None:
    alice, bob, carol = [await operator.add_bal(n) for n in ("alice", "bob", "carol")]

    def run() -> tuple[int, int, int]:
        with submission(operator.ports["submission"], operator.client_context()) as c:
            c.login(alice, PASSWORD)
            c.mail(alice)
            c.rcpt(bob)
            c.rset()
            after_rset = c.rcpt(carol)[0]  # no MAIL any more
            c.mail(alice)
            c.rcpt(carol)
            data = c.data(simple_message(alice, carol))[0]
            c.mail(alice)
            c.ehlo("client.test")  # EHLO ends the transaction too (RFC 5321 4.1.4)
            after_ehlo = c.rcpt(bob)[0]
            return after_rset, data, after_ehlo

    assert await asyncio.to_thread(run) == (503, 250, 503)
    assert await inbox_uids(operator, bob) == []
    assert await inbox_uids(operator, carol) == [1]
    [row] = await operator.audit_rows("smtp.transaction")
    assert row["to"] == [carol] and row["from"] == alice and row["code"] == 250
    assert row["listener"] == "submission" and row["tls"].startswith("version=TLSv1.")


async def test_large_message_facts_are_read(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    body = ("z" * 76 + "\n") * 8000  # over offload.ON_LOOP_MAX: read in a worker thread
    message = simple_message(alice, bob, body=body)
    assert len(message) > 256 * 1024
    out = await asyncio.to_thread(transaction, operator.ports["submission"],
                                  operator.client_context(), alice, PASSWORD, alice, [bob],
                                  message)
    assert out["data"][0] == 250
    [row] = await operator.audit_rows("smtp.transaction")
    assert row["message_id"] == "<test-1@client.test>" and row["size"] == len(message)


async def _refuse_smtp_transaction_audit(op: Operator) -> None:
    """A database trigger that makes every `smtp.transaction` audit insert fail."""
    if is_postgres():
        statements = [
            "CREATE FUNCTION refuse_smtp_tx() RETURNS trigger AS $$ BEGIN "
            "IF NEW.event = 'smtp.transaction' THEN RAISE EXCEPTION 'refused'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_smtp_tx BEFORE INSERT ON audit FOR EACH ROW "
            "EXECUTE FUNCTION refuse_smtp_tx()"]
    else:
        statements = [
            "CREATE TRIGGER refuse_smtp_tx BEFORE INSERT ON audit "
            "WHEN NEW.event = 'smtp.transaction' BEGIN SELECT RAISE(ABORT, 'refused'); END"]
    async with op.running.services.db.write() as s:  # type: ignore[union-attr]
        for statement in statements:
            await s.execute(text(statement))


@pytest.mark.server_error("mss.audit", r"audit write failed for event smtp\.transaction")
@pytest.mark.server_error("mss.audit", r"audit record lost after the reply: event smtp.transaction")
async def test_committed_delivery_keeps_its_250_when_its_audit_fails(
        operator: Operator, caplog: pytest.LogCaptureFixture) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await _refuse_smtp_transaction_audit(operator)
    out = await asyncio.to_thread(transaction, operator.ports["submission"],
                                  operator.client_context(), alice, PASSWORD, alice, [bob],
                                  simple_message(alice, bob))
    assert out["data"][:2] == (250, "2.0.0")  # no 451: the client does not send it twice
    assert await inbox_uids(operator, bob) == [1]
    assert await operator.audit_rows("smtp.transaction") == []  # once the queue is written
    assert operator.running.services.audit.lost_records == 1  # type: ignore[union-attr]
    assert "audit record lost after the reply" in caplog.text


@pytest.mark.server_error("mss.audit", r"audit write failed for event smtp\.transaction")
@pytest.mark.server_error("mss.smtp", r"SMTP session error")
async def test_refusal_audit_failure_is_a_451(operator: Operator) -> None:
    alice, bob = await operator.add_bal("alice"), await operator.add_bal("bob")
    await _refuse_smtp_transaction_audit(operator)
    out = await asyncio.to_thread(transaction, operator.ports["submission"],
                                  operator.client_context(), alice, PASSWORD, alice, [bob],
                                  simple_message(bob, alice))  # From mismatch: refused
    assert out["data"][:2] == (451, "4.3.0")  # nothing committed: the client may retry
    assert await inbox_uids(operator, bob) == []
