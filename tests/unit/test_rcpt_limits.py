"""The RCPT bounds as tables: which replies count as refused, the per-connection
guard, the transaction's repeat check, and the configuration keys.

Ref: RFC 5321 3.3, 4.5.3.1.10; RFC 3463 3.4, 3.6; R18.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policy.context import MailContext, SessionFacts
from server.config import ConfigError, load
from smtp_gateway.intake import LocalRecipient
from smtp_gateway.rcpt_limits import RcptGuard, RcptLimits, counts_as_refused
from smtp_gateway.replies import TOO_MANY_RCPT_COMMANDS, TOO_MANY_REFUSED_RCPTS
from smtp_gateway.session import ClientSession, Transaction


@pytest.mark.parametrize(("line", "refused"), [
    (b"250 2.1.5 Recipient OK", False),
    (b"550 5.1.1 Mailbox unknown", True),
    (b"550 5.2.1 Mailbox disabled", True),
    (b"450 4.1.1 Mailbox unknown", True),  # soft bounce still probes the address
    (b"550 5.7.1 Recipient outside the MSSante trust space", True),
    (b"553 5.1.3 Error: malformed address", True),
    (b"503 Error: need MAIL command", True),
    (b"501 Syntax: RCPT TO: <address>", True),
    (b"452 4.5.3 Too many recipients", False),
    (b"452 4.5.3 Daily recipient limit reached, try again later", False),
    (b"451 4.3.0 MSSante trust list unavailable, try again later", False),
    (b"552 5.3.4 Message too big for Mon Espace Sante", False),
    (b"550 5.30.1 Odd", True),
])
def test_which_replies_count_as_refused(line: bytes, refused: bool) -> None:
    assert counts_as_refused(line) is refused


def _txn() -> Transaction:
    client = ClientSession(session_id="s", listener="submission", peer_ip="127.0.0.1")
    facts = SessionFacts(peer_ip="127.0.0.1", listener="submission")
    return Transaction(client, MailContext(session=facts, mail_from="a@x.fr"))


def test_guard_caps_commands_per_transaction_and_audits_once() -> None:
    guard, txn = RcptGuard(RcptLimits(max_commands=3, max_refused=5)), _txn()
    assert [guard.admit(txn) for _ in range(3)] == [None] * 3
    stops = [guard.admit(txn) for _ in range(3)]
    assert all(s is not None and s.reply is TOO_MANY_RCPT_COMMANDS and not s.close
               for s in stops)
    assert [s.audit is not None for s in stops if s] == [True, False, False]
    assert guard.admit(_txn()) is None  # a new transaction counts afresh


def test_guard_closes_after_max_refused_in_any_transaction() -> None:
    guard = RcptGuard(RcptLimits(max_commands=100, max_refused=2))
    for _ in range(5):
        assert guard.admit(_txn()) is None
        guard.answered(b"452 4.5.3 Too many recipients")
    for _ in range(2):
        assert guard.admit(_txn()) is None
        guard.answered(b"550 5.1.1 Mailbox unknown")
    stop = guard.admit(None)
    assert stop is not None and stop.close and stop.reply is TOO_MANY_REFUSED_RCPTS
    assert stop.audit == {"limit": "refused_rcpts", "refused": 2, "threshold": 2}


def test_limits_are_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RcptLimits(max_commands=0)


def test_transaction_holds_each_mailbox_once() -> None:
    txn = _txn()
    txn.add_local("Bob@OP.fr", LocalRecipient("bob@op.fr", 7))
    txn.add_local("bob@op.fr", LocalRecipient("bob@op.fr", 7))
    txn.add_local(" other-spelling@op.fr", LocalRecipient("bob@op.fr", 7))
    txn.add_remote("dr.y@Remote.fr")
    txn.add_remote("DR.Y@remote.fr")
    assert txn.recipients == ("bob@op.fr", "dr.y@Remote.fr")
    assert txn.repeated == 3
    assert txn.holds("BOB@op.fr") and txn.holds("other-spelling@OP.FR")


def _config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "mss.toml"
    path.write_text(f'[server]\ndomains = ["op.fr"]\n{extra}\n', encoding="utf-8")
    return path


def test_config_defaults(tmp_path: Path) -> None:
    limits = load(_config(tmp_path, "")).limits
    assert (limits.smtp_max_rcpt_commands, limits.smtp_max_refused_rcpts) == (1000, 20)


@pytest.mark.parametrize(("extra", "key"), [
    ("[limits]\nsmtp_max_rcpt_commands = 99", "limits.smtp_max_rcpt_commands"),
    ("[limits]\nsmtp_max_rcpt_commands = 150\n[recipients]\n"
     "max_per_transaction = { ORG = 200 }", "limits.smtp_max_rcpt_commands"),
    ("[limits]\nsmtp_max_refused_rcpts = 0", "limits.smtp_max_refused_rcpts"),
    ("[limits]\nsmtp_max_refused_rcpts = -1", "limits.smtp_max_refused_rcpts"),
    ('[limits]\nsmtp_max_rcpt_commands = "many"', "limits.smtp_max_rcpt_commands"),
])
def test_config_refuses_bad_rcpt_limits_naming_the_key(tmp_path: Path, extra: str,
                                                       key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(_config(tmp_path, extra))
