"""IDLE: push mailbox changes until the client sends DONE.

Invariants: after `+ idling`, the session waits at once on two things: the
client's next line and the store's change notifier (bounded by the poll
interval); each change is re-read from a snapshot and sent (EXPUNGE is allowed
during IDLE) and flushed immediately; both waits are cancelled when either
the line arrives or the session ends. The autologout timer applies to the
line read (RFC 2177: clients re-issue IDLE at least every 29 minutes). When
the selected mailbox is deleted meanwhile, or the login stops standing (its
BAL suspended or deleted, its password changed: the watch wakes IDLE), the
session says BYE and ends.

Ref: RFC 2177; RFC 3501 5.4, 7.4.1.
"""

from __future__ import annotations

import asyncio

from imap_store.imap.backend import FolderError
from imap_store.imap.errors import CommandBad
from imap_store.imap.parse.command import Command
from imap_store.imap.render.response import Continuation
from imap_store.imap.session import Completion, Handler, ImapSession, SessionState


async def idle(session: ImapSession, command: Command) -> Completion:
    """IDLE (RFC 2177 3)."""
    await session.send(Continuation("idling"))
    await session.channel.flush()
    line = await _idle_until_line(session)
    if line.strip().upper() != b"DONE":  # RFC 2177 3: only DONE ends IDLE
        raise CommandBad("Expected DONE")
    return Completion("IDLE terminated")


async def _idle_until_line(session: ImapSession) -> bytes:
    reader = asyncio.ensure_future(session.channel.read_line())
    waiter: asyncio.Future[int] | None = None
    try:
        while True:
            waiter = asyncio.ensure_future(_wait_for_change(session))
            await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if reader.done():
                return reader.result()
            waiter.result()
            if session.login_withdrawn():
                await session.end_withdrawn()
            await _push_updates(session)
            if session.state is SessionState.LOGOUT:
                return b"DONE"
    finally:
        for task in (reader, waiter):
            if task is not None and not task.done():
                task.cancel()


async def _wait_for_change(session: ImapSession) -> int:
    bal_id = session.require_principal().bal_id
    notifier = session.store.notifier
    since = session.view.version if session.view is not None else notifier.version(bal_id)
    return await notifier.wait(bal_id, since, session.limits.notify_poll_interval)


async def _push_updates(session: ImapSession) -> None:
    view = session.view
    if view is None:
        return
    try:
        # RFC 2177 3 and RFC 3501 7.4.1: EXPUNGE may be sent while idling.
        await session.send(*await view.refresh(session.store, allow_expunge=True))
    except FolderError:
        await session.mailbox_gone()
    await session.channel.flush()


HANDLERS: dict[str, Handler] = {"IDLE": idle}
