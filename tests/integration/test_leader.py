"""The scheduler's lead (`server.leader.Leader`) on a real PostgreSQL server, in every
run of the suite (the two-process test of `test_scheduler_leader.py` runs only when
the suite itself is on PostgreSQL).

Ref: docs/architecture.md "Scheduler" (one process runs the jobs: an advisory lock).
"""

from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest

from server.leader import Leader

PG_URL = os.environ.get("MSS_CI_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
async def pg_url() -> str:
    try:
        conn = await asyncpg.connect(PG_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no PostgreSQL at {PG_URL}: {exc}")
        pytest.skip(f"no PostgreSQL at {PG_URL}")
    await conn.close()
    return PG_URL


async def test_one_holder_at_a_time_and_the_lead_passes_on_release(pg_url: str) -> None:
    first, second = Leader(pg_url, retry=0.0, name="first"), Leader(pg_url, retry=0.0,
                                                                        name="second")
    try:
        assert await first.ensure() and first.held
        assert not await second.ensure() and not second.held  # PostgreSQL says no
        assert await first.ensure()  # a held lock is checked, not taken again
        await first.close()
        assert not first.held
        assert await second.ensure() and second.held
        assert not await first.ensure()
    finally:
        await first.close()
        await second.close()


async def test_a_lost_session_gives_the_lead_up_and_another_takes_it(pg_url: str) -> None:
    holder, waiting = Leader(pg_url, retry=0.0, name="holder"), Leader(pg_url, retry=60.0,
                                                                          name="waiting")
    admin = await asyncpg.connect(pg_url)
    try:
        assert await holder.ensure()
        assert not await waiting.ensure()
        # the holder's database session ends (a restart of PostgreSQL, a network cut)
        gone = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = 'mss scheduler holder'")
        for _ in range(100):
            if not await admin.fetchval(gone, "mss scheduler holder"):
                break
            await asyncio.sleep(0.05)
        assert not await waiting.ensure()  # its next try is `retry` seconds away
        # the holder finds its session dead, lets the lead go, and (free again) retakes it
        assert await holder.ensure() and holder.held
    finally:
        await holder.close()
        await waiting.close()
        await admin.close()


async def test_sqlite_has_one_host_and_always_leads() -> None:
    leader = Leader(None, retry=1.0)
    assert await leader.ensure() and leader.held
    await leader.close()
    assert leader.held


async def test_an_unreachable_database_is_no_lead_and_no_error() -> None:
    leader = Leader("postgresql://postgres@127.0.0.1:1/postgres", retry=0.0)
    assert not await leader.ensure()
    assert not leader.held
