"""Commands valid in every state: CAPABILITY, NOOP, LOGOUT, ID.

Invariants: NOOP does nothing itself; the dispatcher's mailbox refresh
after it is what reports new messages, expunges and flag changes (RFC 3501
6.1.2). LOGOUT answers `* BYE` before its tagged OK and is audited.

Ref: RFC 3501 6.1.1-6.1.3, RFC 2971 (ID).
"""

from __future__ import annotations

from imap_store.imap.parse.command import Command
from imap_store.imap.render.response import Atom, ListOf, UntaggedData, bye, istring
from imap_store.imap.session import Completion, Handler, ImapSession, SessionState

SERVER_ID = (("name", "mss-server"), ("vendor", "mss-server"))


async def capability(session: ImapSession, command: Command) -> Completion:
    """CAPABILITY (RFC 3501 6.1.1)."""
    names = tuple(Atom(name) for name in session.capabilities())
    await session.send(UntaggedData("CAPABILITY", names))
    return Completion("CAPABILITY completed")


async def noop(session: ImapSession, command: Command) -> Completion:
    """NOOP (RFC 3501 6.1.2); updates are sent by the dispatcher."""
    return Completion("NOOP completed")


async def logout(session: ImapSession, command: Command) -> Completion:
    """LOGOUT (RFC 3501 6.1.3)."""
    await session.send(bye("Logging out"))  # RFC 3501 6.1.3: BYE before the tagged OK
    if session.principal is not None:
        await session.audit("imap.logout")
    session.release_view()
    session.state = SessionState.LOGOUT
    return Completion("LOGOUT completed")


async def id_command(session: ImapSession, command: Command) -> Completion:
    """ID (RFC 2971): the client's fields are ignored, ours are generic."""
    # RFC 2971 3.3: the server may give any fields; we name nothing version-specific.
    fields = tuple(istring(text) for pair in SERVER_ID for text in pair)
    await session.send(UntaggedData("ID", (ListOf(fields),)))
    return Completion("ID completed")


HANDLERS: dict[str, Handler] = {
    "CAPABILITY": capability,
    "NOOP": noop,
    "LOGOUT": logout,
    "ID": id_command,
}
