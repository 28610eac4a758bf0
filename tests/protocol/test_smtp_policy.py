"""Each MSSanté refusal through a real smtplib client: code and enhanced code.

Ref: R3, R15-R19, R21 and acceptance cases T15, T17-T24 (docs/rules.md
"Acceptance cases").
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tests.protocol.smtp_client import simple_message, transaction
from tests.support import PASSWORD, Operator

PATIENT_OK = "185057512345673@patient.mssante.fr"
PATIENT_CORSICA_LOWER = "290032a00401234@patient.mssante.fr"
PATIENT_BAD_KEY = "185057512345674@patient.mssante.fr"
TRUSTED_REMOTE = "dr.y@mssante.apicrypt.org"


async def run(op: Operator, sender: str, rcpts: list[str], message: bytes | None = None,
              mail_from: str | None = None, options: tuple[str, ...] = ()) -> dict:
    msg = message if message is not None else simple_message(sender, rcpts[0])
    return await asyncio.to_thread(
        transaction, op.ports["submission"], op.client_context(), sender, PASSWORD,
        sender if mail_from is None else mail_from, rcpts, msg, options)


async def test_recipient_outside_trust_space_550_571(trusted: Operator) -> None:
    alice = await trusted.add_bal("alice")
    outside = ["someone@laposte.net", "x@evil-mssante.fr", "y@mssante.fr.evil.com"]
    out = await run(trusted, alice, outside)
    assert [r[:2] for r in out["rcpt"]] == [(550, "5.7.1")] * 3
    refused = await trusted.audit_rows("smtp.refused")
    assert [(r["stage"], r["address"], r["code"], r["enhanced"]) for r in refused] == [
        ("RCPT", rcpt, 550, "5.7.1") for rcpt in outside]
    for rcpt, row in zip(outside, refused, strict=True):
        assert row["reason"].startswith(f"trust_space: recipient {rcpt} not in trust list")
        assert "2025-03-13T14:54:10Z" in row["reason"], row


async def test_no_trust_list_ever_loaded_tempfails_remote(scenario) -> None:
    async with scenario(trust_list=False) as op:
        alice, bob = await op.add_bal("alice"), await op.add_bal("bob")
        out = await run(op, alice, [TRUSTED_REMOTE, bob])
    assert out["rcpt"][0][:2] == (451, "4.3.0")
    assert out["rcpt"][1][0] == 250 and out["data"][0] == 250


async def test_patient_addresses(trusted: Operator) -> None:
    alice = await trusted.add_bal("alice")
    out = await run(trusted, alice, [PATIENT_BAD_KEY, PATIENT_OK, PATIENT_CORSICA_LOWER,
                                     "12345@patient.mssante.fr"])
    codes = [r[:2] for r in out["rcpt"]]
    assert codes == [(553, "5.1.3"), (250, "2.1.5"), (250, "2.1.5"), (553, "5.1.3")]
    assert out["data"][0] == 250


async def test_patient_and_professional_together_allowed(trusted: Operator) -> None:
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    out = await run(trusted, alice, [PATIENT_OK, bob])
    assert [r[0] for r in out["rcpt"]] == [250, 250] and out["data"][0] == 250


async def test_recipient_cap_452_453(scenario) -> None:
    async with scenario('[recipients]\nmax_per_transaction = { PER = 3 }') as op:
        alice = await op.add_bal("alice")
        rcpts = [await op.add_bal(f"r{i}") for i in range(5)]
        out = await run(op, alice, rcpts)
    assert [r[:2] for r in out["rcpt"]] == [(250, "2.1.5")] * 3 + [(452, "4.5.3")] * 2
    assert out["data"][0] == 250


async def test_justify_threshold_is_audited(scenario) -> None:
    async with scenario('[recipients]\njustify_threshold = 2') as op:
        alice = await op.add_bal("alice")
        rcpts = [await op.add_bal(f"r{i}") for i in range(3)]
        out = await run(op, alice, rcpts)
        notes = await op.audit_rows("policy.note")
    assert out["data"][0] == 250
    assert [n["rule"] for n in notes] == ["recipient_justify"]


async def test_daily_budget(scenario) -> None:
    async with scenario('[recipients]\ndaily_budget = 2') as op:
        alice = await op.add_bal("alice")
        rcpts = [await op.add_bal(f"r{i}") for i in range(3)]
        first = await run(op, alice, rcpts[:2])
        second = await run(op, alice, rcpts[2:])
    assert [r[0] for r in first["rcpt"]] == [250, 250]
    assert second["rcpt"][0][:2] == (452, "4.5.3")


async def test_size_limits(trusted: Operator) -> None:
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    declared = await run(trusted, alice, [bob], options=("SIZE=300000",))
    assert declared["mail"][:2] == (552, "5.3.4")
    patient_declared = await run(trusted, alice, [PATIENT_OK], options=("SIZE=150000",))
    assert patient_declared["rcpt"][0][:2] == (552, "5.3.4")
    big = simple_message(alice, bob, body="x" * 76 + "\n") * 1
    big = simple_message(alice, bob, body=("y" * 70 + "\n") * 2000)
    over_total = await run(trusted, alice, [bob], message=big * 2)
    assert over_total["data"][:2] == (552, "5.3.4")
    over_patient = await run(trusted, alice, [PATIENT_OK, bob], message=big)
    assert over_patient["data"][:2] == (552, "5.3.4")
    fine = await run(trusted, alice, [bob], message=big)
    assert fine["data"][0] == 250


async def test_sender_must_be_authenticated_bal(trusted: Operator) -> None:
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    out = await run(trusted, alice, [bob], mail_from=bob)
    assert out["mail"][:2] == (553, "5.7.1")


async def test_from_header_must_match_envelope(trusted: Operator) -> None:
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    out = await run(trusted, alice, [bob], message=simple_message(bob, alice))
    assert out["data"][:2] == (550, "5.7.1")


def _mdn(sender: str, to: str) -> bytes:
    """An RFC 8098 read receipt as an LPS would send it (R23)."""
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Disposition notification\r\n"
        "Message-ID: <mdn-1@client.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="b1"\r\n'
        "\r\n--b1\r\nContent-Type: text/plain\r\n\r\nThe message was displayed.\r\n"
        "--b1\r\nContent-Type: message/disposition-notification\r\n\r\n"
        f"Final-Recipient: rfc822;{sender}\r\nOriginal-Message-ID: <orig@client.test>\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n--b1--\r\n"
    ).encode()


async def test_null_sender_only_for_reports(trusted: Operator) -> None:
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    mdn = await run(trusted, alice, [bob], message=_mdn(alice, bob), mail_from="")
    assert mdn["mail"][0] == 250 and mdn["rcpt"] == [(250, "2.1.5", "Recipient OK")], mdn
    assert mdn["data"][0] == 250
    plain = await run(trusted, alice, [bob], message=simple_message(alice, bob), mail_from="")
    assert plain["data"][:2] == (550, "5.7.1")


async def test_suspended_local_recipient_550_521(trusted: Operator) -> None:
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    async with trusted.running.services.db.write() as s:  # type: ignore[union-attr]
        await s.execute(text("UPDATE bal SET status='suspended' WHERE address=:a"), {"a": bob})
    out = await run(trusted, alice, [bob])
    assert out["rcpt"][0][:2] == (550, "5.2.1")


async def test_warn_mode_accepts_and_audits_would_refuse(scenario) -> None:
    async with scenario('[policy.modes]\ntrust_space = "warn"') as op:
        alice = await op.add_bal("alice")
        out = await run(op, alice, ["someone@laposte.net"])
        warned = await op.audit_rows("policy.would_refuse")
        queued = await op.audit_rows("delivery.queued")
    assert out["rcpt"][0][0] == 250 and out["data"][0] == 250
    assert [w["rule"] for w in warned] == ["trust_space"]
    assert "laposte.net" in warned[0]["reason"] and "trustlist" in warned[0]["reason"]
    assert [q["domain"] for q in queued] == ["laposte.net"]


async def test_refusal_text_names_no_internal_detail(trusted: Operator) -> None:
    alice = await trusted.add_bal("alice")
    out = await run(trusted, alice, ["someone@laposte.net", PATIENT_BAD_KEY])
    for _code, _enh, public in out["rcpt"]:
        lowered = public.lower()
        assert "trust_space" not in lowered and "laposte" not in lowered
        assert "2025" not in lowered and "rule" not in lowered and "185057" not in lowered


async def test_soft_bounce_turns_5xx_into_4xx(scenario) -> None:
    async with scenario('[policy]\nsoft_bounce = true') as op:
        alice = await op.add_bal("alice")
        out = await run(op, alice, ["someone@laposte.net"])
    assert out["rcpt"][0][:2] == (450, "4.7.1")


async def test_malformed_mss_header_is_audited_not_refused(trusted: Operator) -> None:
    alice, bob = await trusted.add_bal("alice"), await trusted.add_bal("bob")
    message = simple_message(alice, bob).replace(b"Subject:", b"X-MSS-INS: maybe\r\nSubject:", 1)
    out = await run(trusted, alice, [bob], message=message)
    assert out["data"][0] == 250
    warned = await trusted.audit_rows("policy.would_refuse")
    assert [w["rule"] for w in warned] == ["mss_headers"]
