"""Rules local_recipient (R14, R28) and no_relay (R3)."""

from __future__ import annotations

from typing import Any

import pytest

from policy import replies
from policy.local_recipient import check, check_relay
from policy.reply import Reply
from tests.unit.policy.factories import mx_session, rcpt, session


@pytest.mark.parametrize(
    ("recipient", "state", "reply"),
    [
        ("dr.z@op-a.mssante.fr", "active", None),
        ("nobody@op-a.mssante.fr", "unknown", replies.UNKNOWN_RECIPIENT),
        ("gone@op-a.mssante.fr", "suspended", replies.MAILBOX_DISABLED),
        ("dr.z@op-a.mssante.fr", None, replies.LOCAL_ERROR),
        ("dr.z@OP-A.MSSANTE.FR", None, replies.LOCAL_ERROR),
        ("dr.y@op-b.mssante.fr", None, None),
        ("alias@op-b.mssante.fr", "unknown", replies.UNKNOWN_RECIPIENT),
    ],
)
def test_local_recipient(recipient: str, state: str | None, reply: Reply | None) -> None:
    verdict = check(rcpt(recipient, recipient_local_state=state))
    assert (verdict.reply if verdict else None) is reply
    if verdict is not None:
        assert verdict.rule == "local_recipient" and recipient in verdict.reason


def test_bad_local_state_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="recipient_local_state"):
        rcpt("dr.z@op-a.mssante.fr", recipient_local_state="deleted")


@pytest.mark.parametrize(
    ("sess", "recipient", "reply"),
    [
        (session(), "dr.y@op-b.mssante.fr", None),
        (session(), "dr.z@op-a.mssante.fr", None),
        (mx_session(), "dr.z@op-a.mssante.fr", None),
        (mx_session(), "dr.z@Op-A.mssante.fr", None),
        (mx_session(), "dr.y@op-b.mssante.fr", replies.RELAY_DENIED),
        (mx_session(), "x@gmail.com", replies.RELAY_DENIED),
        (mx_session(), "185057512345673@patient.mssante.fr", replies.RELAY_DENIED),
        (
            session(authenticated_bal=None, bal_type=None, granted_bals=frozenset()),
            "dr.y@op-b.mssante.fr",
            replies.RELAY_DENIED,
        ),
        (
            session(authenticated_bal=None, bal_type=None, granted_bals=frozenset()),
            "dr.z@op-a.mssante.fr",
            None,
        ),
    ],
)
def test_no_relay(sess: Any, recipient: str, reply: Reply | None) -> None:
    verdict = check_relay(rcpt(recipient, session=sess))
    assert (verdict.reply if verdict else None) is reply
