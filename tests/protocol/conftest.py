"""Fixtures for policy protocol tests: operators with the real trust list and
scenario-specific configuration (one TOML fragment per scenario)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.support import REAL_TRUST_LIST, Operator, make_operator, serving

SMALL_LIMITS = """
[limits]
max_message_size = 200000
patient_max_message_size = 100000
"""


@asynccontextmanager
async def running_operator(tmp_path: Path, extra_toml: str = "",
                           trust_list: bool = True) -> AsyncIterator[Operator]:
    async with serving(await make_operator(tmp_path, extra_toml=extra_toml)) as op:
        if trust_list:
            await op.import_trust_list(REAL_TRUST_LIST.read_bytes())
        yield op


@pytest.fixture
def scenario(tmp_path: Path) -> Callable[..., object]:
    """`async with scenario(extra_toml, trust_list=True) as op:` in a test."""
    def make(extra_toml: str = "", trust_list: bool = True):  # noqa: ANN202
        return running_operator(tmp_path, extra_toml, trust_list)
    return make


@pytest.fixture
async def trusted(tmp_path: Path) -> AsyncIterator[Operator]:
    async with running_operator(tmp_path, SMALL_LIMITS) as op:
        yield op
