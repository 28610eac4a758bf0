"""Lockout and per-address delays with a controlled clock (docs/architecture.md "Defaults").

Ref: 5 failures in 15 min lock (account, address) for 15 min; delays per
address grow and are capped at 5 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imap_store.store.throttle import LoginThrottle, ThrottleSettings
from tests.support import drop_pg_database, make_operator

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
async def throttle(tmp_path: Path) -> AsyncIterator[LoginThrottle]:
    op = await make_operator(tmp_path)
    from server.storage import open_store
    db, _ = open_store(op.cfg)
    try:
        yield LoginThrottle(db, ThrottleSettings())
    finally:
        await db.dispose()
        if op.pg_name:
            await drop_pg_database(op.pg_name)


async def test_delays_grow_per_address_and_cap(throttle: LoginThrottle) -> None:
    delays = []
    for i in range(8):
        delays.append(await throttle.delay("192.0.2.1", T0 + timedelta(seconds=i)))
        await throttle.record_failure(f"user{i}@x", "192.0.2.1", T0 + timedelta(seconds=i))
    assert delays == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert await throttle.delay("192.0.2.9", T0) == 0.0
    assert await throttle.delay("192.0.2.1", T0 + timedelta(minutes=16)) == 0.0


async def test_lockout_window_and_expiry(throttle: LoginThrottle) -> None:
    acct, peer = "alice@x", "192.0.2.1"
    for i in range(4):
        await throttle.record_failure(acct, peer, T0 + timedelta(minutes=i))
    assert not await throttle.locked(acct, peer, T0 + timedelta(minutes=4))
    await throttle.record_failure(acct, peer, T0 + timedelta(minutes=4))
    assert await throttle.locked(acct, peer, T0 + timedelta(minutes=5))
    assert not await throttle.locked(acct, "192.0.2.2", T0 + timedelta(minutes=5))
    assert not await throttle.locked("bob@x", peer, T0 + timedelta(minutes=5))
    assert await throttle.locked(acct, peer, T0 + timedelta(minutes=18, seconds=59))
    assert not await throttle.locked(acct, peer, T0 + timedelta(minutes=19, seconds=1))
    await throttle.clear(acct, peer)
    assert not await throttle.locked(acct, peer, T0 + timedelta(minutes=5))


async def test_failures_spread_beyond_window_do_not_lock(throttle: LoginThrottle) -> None:
    acct, peer = "alice@x", "192.0.2.1"
    for i in range(5):
        await throttle.record_failure(acct, peer, T0 + timedelta(minutes=4 * i))
    assert not await throttle.locked(acct, peer, T0 + timedelta(minutes=17))
