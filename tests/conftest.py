"""Shared fixtures: a running operator (SQLite or PostgreSQL, see tests/support.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import Operator, make_operator, serving


@pytest.fixture
async def operator(tmp_path: Path) -> AsyncIterator[Operator]:
    async with serving(await make_operator(tmp_path)) as op:
        yield op


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
