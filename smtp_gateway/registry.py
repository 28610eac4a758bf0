"""The live SMTP sessions of one listener, and the DATA commands in flight.

Owns: `SessionRegistry`, which the listener's `shutdown` drains: DATA in
flight is answered within the grace period (its commit, audit and `250`
before the `421` of the stop), then every session is told `421 4.3.2`.

Ref: RFC 5321 3.8 (421 and close).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connection import SmtpConnection

log = logging.getLogger("mss.smtp")


class SessionRegistry:
    """Live sessions of one gateway and the DATA commands in flight, for a clean stop.

    A DATA is in flight from the moment its data has been read until its reply
    is written, so the commit, its audit record and the `250` all come before
    the `421` of the stop. Past the grace period, the sessions still in DATA
    are cancelled (the delivery is one transaction: cancelled, it is rolled
    back) and waited for, then told `421` like the others.
    """

    def __init__(self) -> None:
        self.sessions: set[SmtpConnection] = set()
        self.closing = False
        self.in_data: set[SmtpConnection] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def begin_data(self, session: SmtpConnection) -> None:
        self.in_data.add(session)
        self._idle.clear()

    def end_data(self, session: SmtpConnection) -> None:
        self.in_data.discard(session)
        if not self.in_data:
            self._idle.set()

    async def drain(self, grace: float) -> None:
        """Stop within `grace`: DATA in flight answered, then 421 to every session."""
        self.closing = True
        abandon_wait = min(1.0, grace / 4)
        try:
            await asyncio.wait_for(self._idle.wait(), grace - abandon_wait)
        except TimeoutError:
            late = [t for t in (s.abandon() for s in list(self.in_data)) if t is not None]
            log.warning("stop: %d DATA command(s) still in flight after the grace period, "
                        "cancelled", len(late))
            if late:
                await asyncio.wait(late, timeout=abandon_wait)
        for proto in list(self.sessions):
            proto.say_goodbye()
