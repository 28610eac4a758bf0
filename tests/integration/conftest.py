"""Fixtures shared by the integration tests of the exchange between operators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.test_exchange import Pair, _pair, stop_pair


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    """Operators A and B (one test CA, each its MX), stopped and dropped afterwards."""
    p = await _pair(tmp_path)
    try:
        yield p
    finally:
        await stop_pair(p)
