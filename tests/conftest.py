"""Shared fixtures: a running operator (SQLite or PostgreSQL, see tests/support.py),
and the guard that fails a test on any server error it did not expect
(tests/error_guard.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests import error_guard
from tests.support import Operator, make_operator, serving


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "server_error(logger, pattern): this test provokes a server error on "
                   "purpose; the guard accepts it (and fails the test if it never comes)")


@pytest.fixture(autouse=True)
def _server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Autouse, so set up before and torn down after every other fixture of the
    test: errors logged while a server stops count too."""
    expected = [error_guard.Expected.from_marker(m)
                for m in request.node.iter_markers("server_error")]
    with error_guard.guarding() as guard:
        yield
    problems = guard.verdict(expected)
    if problems:
        pytest.fail(problems, pytrace=False)


@pytest.fixture
async def operator(tmp_path: Path) -> AsyncIterator[Operator]:
    async with serving(await make_operator(tmp_path)) as op:
        yield op


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
