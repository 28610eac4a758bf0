"""Per-connection IMAP session state, shared by all command handlers.

Owns: `SessionState` (RFC 3501 3: not authenticated, authenticated,
selected, logout), `ImapSession` (who is logged in, the selected view, the
channel to the client, audit helpers), the `Channel` protocol the I/O layer
implements, and the handler contract (`Handler` returning a `Completion`).

Invariants: a handler either returns the text of a tagged OK, returns None
after answering itself (STARTTLS), or raises an `ImapError`; the session never
writes to a socket itself, only through its `Channel`; a session whose login
no longer stands (`Principal.standing`) says `* BYE` and ends; audit events carry
UIDs, folder names and counts, never message content (R24).

Ref: RFC 3501 3 (state and flow diagram), 6 (commands by state).
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from imap_store.imap.parse.command import Command, CommandArgs
from imap_store.imap.render.response import Response, ResponseCode, bye
from imap_store.store.interfaces import AuditEvent, Principal

from .backend import ImapBackend, MailboxStore
from .capabilities import capabilities
from .errors import CommandBad, ConnectionLost
from .limits import ImapLimits
from .view import MailboxView


class SessionState(enum.Enum):
    """RFC 3501 3: the four connection states."""

    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


class Channel(Protocol):
    """What a session may do with its connection."""

    @property
    def peer(self) -> str: ...

    @property
    def tls_active(self) -> bool: ...

    async def send(self, response: Response) -> None: ...

    async def flush(self) -> None: ...

    async def read_line(self) -> bytes: ...

    async def start_tls(self) -> None: ...

    def admit_login(self, principal: Principal) -> bool:
        """Count the connection as logged in on the principal's BAL; False when that BAL
        already holds its maximum of connections (`* BYE` is queued and the session
        ends after the tagged reply)."""
        ...


@dataclass(frozen=True)
class Completion:
    """The tagged OK a handler asks for."""

    text: str
    code: ResponseCode | None = None


@dataclass
class ImapSession:
    """The state of one client connection."""

    backend: ImapBackend
    channel: Channel
    limits: ImapLimits
    hostname: str
    session_id: str = field(default_factory=lambda: secrets.token_hex(8))
    state: SessionState = SessionState.NOT_AUTHENTICATED
    principal: Principal | None = None
    view: MailboxView | None = None

    @property
    def store(self) -> MailboxStore:
        """The mailbox store of the backend."""
        return self.backend.store

    def capabilities(self) -> tuple[str, ...]:
        """Capabilities for the current TLS and login state."""
        authenticated = self.state is not SessionState.NOT_AUTHENTICATED
        return capabilities(tls_active=self.channel.tls_active, authenticated=authenticated)

    def require_principal(self) -> Principal:
        """The logged-in principal (handlers run only in the right state)."""
        if self.principal is None:
            raise CommandBad("Not authenticated")
        return self.principal

    def require_view(self) -> MailboxView:
        """The selected mailbox view."""
        if self.view is None or self.state is not SessionState.SELECTED:
            raise CommandBad("No mailbox selected")
        return self.view

    def log_in(self, principal: Principal) -> None:
        """Enter the authenticated state."""
        self.principal = principal
        self.state = SessionState.AUTHENTICATED

    def select(self, view: MailboxView) -> None:
        """Enter the selected state on `view`; its folder is watched for changes."""
        self.release_view()
        folder = view.folder
        self.store.notifier.watch(view.bal_id, folder.id, (folder.uidnext, folder.highestmodseq))
        self.view = view
        self.state = SessionState.SELECTED

    def release_view(self) -> None:
        """Drop the selected view, if any, and stop watching its folder."""
        if self.view is not None:
            self.store.notifier.unwatch(self.view.folder.id)
            self.view = None

    def deselect(self) -> None:
        """Back to the authenticated state (CLOSE, UNSELECT, failed SELECT)."""
        # RFC 3501 3 (state diagram): CLOSE and a failed SELECT lead back to authenticated.
        self.release_view()
        if self.state is SessionState.SELECTED:
            self.state = SessionState.AUTHENTICATED

    async def mailbox_gone(self) -> None:
        """The selected mailbox was deleted elsewhere: `* BYE`, then logout."""
        # RFC 3501 7.1.5: BYE when the server must close the connection.
        await self.send(bye("Selected mailbox was deleted, have to disconnect"))
        self.release_view()
        self.state = SessionState.LOGOUT

    def login_withdrawn(self) -> bool:
        """True when the login no longer stands: its BAL was suspended or deleted, or
        the BAL password it was made with changed, in any process (`bal_watch`)."""
        return self.principal is not None and self.principal.standing.withdrawn

    async def end_withdrawn(self) -> None:
        """`* BYE`, sent at once, then the connection ends (`ConnectionLost`)."""
        # RFC 3501 7.1.5: BYE when the server must close the connection.
        await self.send(bye("Access to this mailbox was withdrawn"))
        self.release_view()
        self.state = SessionState.LOGOUT
        await self.channel.flush()
        raise ConnectionLost

    async def send(self, *responses: Response) -> None:
        """Queue untagged responses to the client."""
        for response in responses:
            await self.channel.send(response)

    def audit_event(self, event: str, **detail: object) -> AuditEvent:
        """An audit event of the logged-in principal (R24)."""
        principal = self.principal
        return AuditEvent(event=event, protocol="imap", session=self.session_id,
                          peer=self.channel.peer,
                          bal=principal.address if principal else "",
                          person=(principal.person or "") if principal else "",
                          detail=detail)

    async def audit(self, event: str, **detail: object) -> None:
        """Record an audit event for the logged-in principal (R24), on its own (a
        write's events go in its transaction instead: `interfaces.AuditFor`)."""
        await self.backend.audit.record(self.audit_event(event, **detail))

    async def audit_read(self, event: str, **detail: object) -> None:
        """Queue the audit record of a read (R24; `AuditSink.record_soon`): written
        within a fraction of a second, without holding the reply."""
        await self.backend.audit.record_soon(self.audit_event(event, **detail))


Handler = Callable[[ImapSession, Command], Awaitable[Completion | None]]
A = TypeVar("A", bound=CommandArgs)


def args_of(command: Command, kind: type[A]) -> A:
    """The command's arguments, checked against the grammar's type."""
    if not isinstance(command.args, kind):
        raise CommandBad("Invalid arguments")
    return command.args
