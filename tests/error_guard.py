"""The guard every test runs under: an ERROR log line or an unhandled event-loop
exception from the server under test fails the test.

Watched: records at ERROR or above from the loggers of our packages
(`mss.*`, `imap_store.*`, ...), aiosmtpd's `mail.log`, aiohttp's, the
database libraries' and asyncio's, whichever thread writes them; and whatever
reaches the exception handler of the event loop a server runs on
(`tests.support.serving` and `Operator.start` hand it to the guard).

A test that provokes a server error on purpose says which one, narrowly:

    @pytest.mark.server_error("imap_store.imap.commands.dispatch", r"SERVERBUG")

(the logger, or a parent of it, and a regular expression searched in the
message and its traceback). Such a test fails as well when the expected error
never came, so the marker cannot outlive the path it stands for.
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

WATCHED = ("mss", "server", "smtp_gateway", "imap_store", "policy", "message", "directory",
           "certs", "migrations", "mail.log", "aiosmtpd", "aiohttp", "asyncio", "sqlalchemy",
           "aiosqlite", "asyncpg", "alembic", "apscheduler")
LOOP = "event-loop"


def _watched(name: str) -> bool:
    return any(name == w or name.startswith(w + ".") for w in WATCHED)


@dataclass(frozen=True)
class Seen:
    """One error the server wrote or left to the event loop."""

    logger: str
    level: str
    message: str
    detail: str

    def text(self) -> str:
        head = f"{self.level} {self.logger}: {self.message}"
        return head + ("\n" + self.detail.rstrip() if self.detail else "")


@dataclass(frozen=True)
class Expected:
    """One `server_error(logger, pattern)` marker."""

    logger: str
    pattern: str

    def matches(self, seen: Seen) -> bool:
        if not (seen.logger == self.logger or seen.logger.startswith(self.logger + ".")):
            return False
        return re.search(self.pattern, seen.message + "\n" + seen.detail) is not None

    @classmethod
    def from_marker(cls, mark: pytest.Mark) -> Expected:
        logger, pattern = mark.args
        return cls(str(logger), str(pattern))


def _exception_text(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class ErrorGuard(logging.Handler):
    """Collects the errors of one test (a logging handler on the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[Seen] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not _watched(record.name):
            return
        detail = ""
        if record.exc_info and record.exc_info[1] is not None:
            detail = _exception_text(record.exc_info[1])
        elif record.exc_text:
            detail = record.exc_text
        self.seen.append(Seen(record.name, record.levelname, record.getMessage(), detail))

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message") or "unhandled exception in the event loop")
        where = ", ".join(f"{k}={v!r}" for k, v in context.items()
                          if k not in ("message", "exception"))
        detail = "\n".join(part for part in (where, _exception_text(exc)) if part)
        self.seen.append(Seen(LOOP, "ERROR", message, detail))

    def watch_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.set_exception_handler(self.loop_exception)

    def verdict(self, expected: list[Expected]) -> str:
        """What fails the test: errors nobody expected, expectations never met."""
        unexpected = [s for s in self.seen if not any(e.matches(s) for e in expected)]
        missing = [e for e in expected if not any(e.matches(s) for s in self.seen)]
        lines: list[str] = []
        if unexpected:
            lines.append(f"the server logged {len(unexpected)} error(s) during the test:")
            lines += [s.text() for s in unexpected]
        if missing:
            lines.append("expected server error(s) that never came:")
            lines += [f"{e.logger}: /{e.pattern}/" for e in missing]
        return "\n".join(lines)


_current: ErrorGuard | None = None


def watch_running_loop() -> None:
    """Send the running loop's unhandled exceptions to the current test's guard."""
    if _current is not None:
        _current.watch_loop(asyncio.get_running_loop())


@contextmanager
def guarding() -> Iterator[ErrorGuard]:
    """Collect into a new guard; an enclosing guard sees nothing meanwhile (so the
    guard's own tests can provoke errors)."""
    global _current
    outer, guard = _current, ErrorGuard()
    root = logging.getLogger()
    if outer is not None:
        root.removeHandler(outer)
    root.addHandler(guard)
    _current = guard
    try:
        yield guard
    finally:
        _current = outer
        root.removeHandler(guard)
        if outer is not None:
            root.addHandler(outer)
