"""The notices the system sends to its users share one form (`server.system_notice`):
from postmaster (RFC 5321 4.5.1), `Auto-Submitted: auto-generated` (RFC 3834), Date,
Message-ID at the host, one text/plain part in UTF-8 holding the French text as written."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime

from imap_store.store.quota import QuotaState
from server.lifecycle_notice import deletion_notice
from server.quota_jobs import notice as quota_notice

HOST = "mx.op-a.mssante.fr"
NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def _parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


def _both() -> list[EmailMessage]:
    state = QuotaState(used_bytes=0, limit_bytes=0, used_messages=32, limit_messages=40)
    return [
        _parsed(deletion_notice(bal="alice@op-a.mssante.fr", to="bob@op-a.mssante.fr",
                                hostname=HOST, since=NOW - timedelta(days=335),
                                when=NOW + timedelta(days=30), now=NOW)),
        _parsed(quota_notice(address="alice@op-a.mssante.fr", hostname=HOST, level=80,
                             state=state, now=NOW)),
    ]


def test_notices_share_sender_and_headers() -> None:
    ids = set()
    for msg in _both():
        assert msg["From"].addresses[0].addr_spec == f"postmaster@{HOST}"
        assert msg["Auto-Submitted"] == "auto-generated"
        assert parsedate_to_datetime(msg["Date"]) == NOW
        assert msg["Message-ID"].endswith(f"@{HOST}>")
        assert msg["Content-Language"] == "fr, en"
        assert msg.get_content_type() == "text/plain"
        assert msg.get_content_charset() == "utf-8"
        ids.add(msg["Message-ID"])
    assert len(ids) == 2


def test_french_text_kept_as_written() -> None:
    deletion, quota = _both()
    assert "Toute connexion vaut opposition" in deletion.get_content()
    assert "Boîte aux lettres remplie à 80 %" in quota["Subject"]
    assert "n'est pas un espace de stockage" in quota.get_content()
