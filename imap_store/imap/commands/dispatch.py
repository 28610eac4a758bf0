"""Running one command: state check, handler, mailbox refresh, tagged reply.

Owns: the per-state command tables (built from the `commands_*` modules) and
`execute(session, command)`, the single place where a command's outcome
becomes its tagged response ("raise deep, reply once", docs/architecture.md "Conventions" 4).

Invariants:
- a command not valid in the current state gets BAD and changes nothing;
- `ImapError` renders itself (NO/BAD with its code); `ConnectionLost` (the
  client gone, a failed STARTTLS handshake) ends the session quietly; any
  other exception is logged with its traceback (command name only, never
  arguments or content) and answered `NO [SERVERBUG]`; the session continues;
- after each command in the selected state, changes made elsewhere are
  reported before the tagged reply, except that EXPUNGE is held back after
  FETCH, STORE and SEARCH (their UID forms may report it) (RFC 3501 7.4.1);
  a refresh reads the store only when the BAL's change version moved (this
  process's writers bump it at commit, the folder watcher within a second for
  other processes' changes), except that NOOP and CHECK also read the folder's
  committed marker (one statement) and catch up at once when another process
  changed it; so NOOP, CHECK and EXPUNGE report every change without
  re-reading an unchanged mailbox; FETCH, STORE, SEARCH,
  COPY and MOVE also catch up before running (without EXPUNGE unless by UID,
  so the client's sequence numbers still mean what it meant), so they answer
  with current flags and see messages expunged meanwhile;
- when the selected mailbox was deleted by another session, the session
  gets `* BYE` and ends (RFC 3501 7.1.5); so does a session whose login no
  longer stands (its BAL suspended or deleted, or the password it logged in
  with changed, by any process): its next command gets `* BYE`, not run;
  a `FolderError` escaping a handler becomes its NO with the matching
  response code.

Ref: RFC 3501 3, 5.2, 5.5, 7.4.1.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from imap_store.imap.backend import FolderError
from imap_store.imap.errors import CommandBad, ConnectionLost, ImapError
from imap_store.imap.parse.command import Command
from imap_store.imap.render.response import Tagged, code
from imap_store.imap.session import Completion, Handler, ImapSession, SessionState

from . import any as commands_any
from . import auth as commands_auth
from . import copy as commands_copy
from . import fetch as commands_fetch
from . import idle as commands_idle
from . import mailbox as commands_mailbox
from . import nonauth as commands_nonauth
from . import quota as commands_quota
from . import selected as commands_selected
from .mailbox import folder_refusal

log = logging.getLogger(__name__)

_AUTHENTICATED = {
    **commands_any.HANDLERS, **commands_auth.HANDLERS, **commands_idle.HANDLERS,
    **commands_mailbox.HANDLERS, **commands_quota.HANDLERS,
}
TABLES: Mapping[SessionState, Mapping[str, Handler]] = {
    SessionState.NOT_AUTHENTICATED: {**commands_any.HANDLERS, **commands_nonauth.HANDLERS},
    SessionState.AUTHENTICATED: _AUTHENTICATED,
    SessionState.SELECTED: {
        **_AUTHENTICATED, **commands_selected.HANDLERS, **commands_fetch.HANDLERS,
        **commands_copy.HANDLERS,
    },
    SessionState.LOGOUT: {},
}
# RFC 3501 7.4.1: no EXPUNGE response during FETCH, STORE or SEARCH (their UID forms may).
_NO_EXPUNGE = frozenset({"FETCH", "STORE", "SEARCH"})
_READS_MAILBOX = _NO_EXPUNGE | {"COPY", "MOVE"}


def _handler(session: ImapSession, command: Command) -> Handler:
    handler = TABLES[session.state].get(command.key)
    if handler is None:
        selected_only = command.key in TABLES[SessionState.SELECTED]
        # RFC 3501 3: a command outside its state is BAD and changes nothing.
        if session.state is SessionState.AUTHENTICATED and selected_only:
            raise CommandBad("No mailbox selected")
        raise CommandBad("Command not valid in this state")
    return handler


async def _run(session: ImapSession, command: Command) -> Tagged | None:
    try:
        done: Completion | None = await _handler(session, command)(session, command)
    except ImapError as exc:
        return exc.response(command.tag)
    except FolderError as exc:
        return folder_refusal(exc).response(command.tag)
    except ConnectionLost:  # the client is gone (or its STARTTLS failed): the session ends
        raise
    except Exception:
        log.exception("IMAP %s failed (session %s)", command.key, session.session_id)
        # RFC 5530 3: SERVERBUG; the session goes on.
        return Tagged(command.tag, "NO", "Internal server error", code("SERVERBUG"))
    if done is None:
        return None
    return Tagged(command.tag, "OK", done.text, done.code)


# Commands after which the session looks at the folder's committed marker when its own
# work moved nothing here: NOOP and CHECK (the client's poll), and EXPUNGE and STORE, whose
# effect may already have been made by a session of another process (the same \Deleted
# expunged, the same flag set): its change is reported with the reply, as in one process.
_POLLS = frozenset({"NOOP", "CHECK", "EXPUNGE", "STORE"})


async def _refresh(session: ImapSession, *, allow: bool, poll: bool = False) -> None:
    view = session.view
    if view is None or session.state is not SessionState.SELECTED:
        return
    try:
        updates = await view.refresh(session.store, allow_expunge=allow, poll=poll)
    except FolderError:  # RFC 3501 7.1.5: the selected mailbox was deleted: BYE
        await session.mailbox_gone()
        return
    except Exception:
        log.exception("IMAP mailbox refresh failed (session %s)", session.session_id)
        return
    await session.send(*updates)


async def execute(session: ImapSession, command: Command) -> None:
    """Run one command and send its responses (tagged reply last)."""
    if session.login_withdrawn():  # suspended, deleted or new password, in any process
        await session.end_withdrawn()
    if command.name in _READS_MAILBOX:
        await _refresh(session, allow=command.uid)
    tagged = await _run(session, command)
    allow = command.uid or command.name not in _NO_EXPUNGE
    # RFC 3501 6.1.2, 6.4.1, 6.4.3: NOOP and CHECK report changes, EXPUNGE its removals;
    # `_POLLS` look at the folder's committed marker (other processes' changes).
    await _refresh(session, allow=allow, poll=command.name in _POLLS)
    if tagged is not None:  # RFC 3501 7.4.1: untagged updates go before the tagged reply
        await session.send(tagged)
    await session.channel.flush()
