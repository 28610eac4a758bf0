"""Shared fixtures: a running operator (SQLite or PostgreSQL, see tests/support.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import Operator, drop_pg_database, make_operator


@pytest.fixture
async def operator(tmp_path: Path) -> AsyncIterator[Operator]:
    op = await make_operator(tmp_path)
    await op.start()
    try:
        yield op
    finally:
        await op.stop()
        if op.pg_name:
            await drop_pg_database(op.pg_name)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
