"""The guard of tests/error_guard.py catches what it must: an ERROR line from a
server logger (from any thread), an exception left to the event loop, an
expected error that never came; and lets through what it must not judge."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from tests import error_guard
from tests.error_guard import Expected


def test_error_lines_of_server_loggers_are_caught_from_any_thread() -> None:
    with error_guard.guarding() as guard:
        logging.getLogger("mss.http").error("page failed")
        worker = threading.Thread(
            target=lambda: logging.getLogger("imap_store.imap.connection").critical("lost"))
        worker.start()
        worker.join()
        logging.getLogger("mss.http").warning("only a warning")
        logging.getLogger("aioimaplib").error("a client library, not the server")
    verdict = guard.verdict([])
    assert "2 error(s)" in verdict
    assert "mss.http: page failed" in verdict and "imap_store.imap.connection: lost" in verdict
    assert "warning" not in verdict and "client library" not in verdict


def test_tracebacks_are_listed_and_expected_errors_are_narrow() -> None:
    with error_guard.guarding() as guard:
        try:
            raise asyncio.CancelledError()
        except asyncio.CancelledError:
            logging.getLogger("asyncio").exception("Task exception was never retrieved")
        logging.getLogger("mss.smtp").error("intake failed")
    assert "CancelledError" in guard.verdict([])
    only_smtp = guard.verdict([Expected("mss.smtp", "intake")])
    assert "1 error(s)" in only_smtp and "asyncio" in only_smtp
    wrong_logger = guard.verdict([Expected("mss.http", "intake")])
    assert "2 error(s)" in wrong_logger and "never came" in wrong_logger
    assert guard.verdict([Expected("mss", "intake"), Expected("asyncio", "CancelledError")]) == ""


def test_an_expected_error_that_never_came_fails() -> None:
    with error_guard.guarding() as guard:
        pass
    assert "never came" in guard.verdict([Expected("mss.smtp", "x")])
    assert guard.verdict([]) == ""


async def test_exceptions_left_to_the_event_loop_are_caught() -> None:
    with error_guard.guarding() as guard:
        error_guard.watch_running_loop()

        async def boom() -> None:
            raise RuntimeError("nobody awaited me")

        task = asyncio.get_running_loop().create_task(boom())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert task.done()
        del task
        import gc
        gc.collect()
    verdict = guard.verdict([])
    assert "event-loop" in verdict and "nobody awaited me" in verdict


def test_marker_arguments_are_a_logger_and_a_pattern() -> None:
    mark = pytest.mark.server_error("mss.http", "boom").mark
    assert Expected.from_marker(mark) == Expected("mss.http", "boom")
