"""The relay's pure parts: backoff, routes, the Return-Path removal, the notice,
and the `[relay]` keys' validation.

Ref: RFC 5321 4.4, 4.5.4.1, 5.1; RFC 3834.
"""

from __future__ import annotations

import email
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.config import ConfigError, load
from smtp_gateway.relay.client import without_return_path
from smtp_gateway.relay.notice import MAX_QUOTED, failure_notice
from smtp_gateway.relay.routing import Route, parse_route, routes_for
from smtp_gateway.relay.worker import RelaySettings


def test_backoff_doubles_from_base_to_max() -> None:
    s = RelaySettings(retry_base=60, retry_max=600)
    assert [s.backoff(n) for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]


async def test_transport_routes_first() -> None:
    assert await routes_for("op-b.mssante.fr", {"op-b.mssante.fr": "10.0.0.2:2525"}) == [
        Route("10.0.0.2", 2525)]
    assert parse_route("[::1]:25") == Route("::1", 25)
    for bad in ("host", "host:", ":25", "host:0", "host:70000", "host:x"):
        with pytest.raises(ValueError):
            parse_route(bad)


def test_only_our_leading_return_path_is_removed() -> None:
    assert without_return_path(b"Return-Path: <a@b>\r\nReceived: x\r\n\r\nbody") == (
        b"Received: x\r\n\r\nbody")
    kept = b"Received: x\r\nReturn-Path: <a@b>\r\n\r\nbody"
    assert without_return_path(kept) == kept


def test_notice_quotes_the_header_section_never_the_body() -> None:
    original = b"Subject: secret plans\r\nX-A: " + b"a" * (2 * MAX_QUOTED) + b"\r\n\r\nBODY-TEXT"
    raw = failure_notice(sender="alice@op-a.mssante.fr", hostname="mx.op-a",
                         recipients=[("bob@op-b.mssante.fr", "550 5.1.1 unknown")],
                         original=original, now=datetime(2026, 1, 1, tzinfo=UTC))
    msg = email.message_from_bytes(raw)
    assert msg["Auto-Submitted"] == "auto-replied" and msg["To"] == "alice@op-a.mssante.fr"
    parts = list(msg.walk())
    text = parts[1].get_payload(decode=True).decode()
    assert "<bob@op-b.mssante.fr>: 550 5.1.1 unknown" in text
    assert parts[2].get_content_type() == "text/rfc822-headers"
    quoted = parts[2].get_payload(decode=True)
    assert quoted.startswith(b"Subject: secret plans") and len(quoted) <= MAX_QUOTED + 2
    assert b"BODY-TEXT" not in raw


@pytest.mark.parametrize(("keys", "named"), [
    ("connections = 0", "relay.connections"),
    ("timeout = 600\nlease = 1000", "relay.lease"),
    ('transport = { "op-b.mssante.fr" = "nohost" }', "relay.transport.op-b.mssante.fr"),
])
def test_bad_relay_keys_name_the_key(tmp_path: Path, keys: str, named: str) -> None:
    path = tmp_path / "mss.toml"
    path.write_text(f'[server]\ndomains = ["op-a.mssante.fr"]\n[relay]\n{keys}\n')
    with pytest.raises(ConfigError, match=named):
        load(path)
