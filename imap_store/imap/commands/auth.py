"""Commands of the authenticated state: SELECT, EXAMINE, LIST, LSUB,
NAMESPACE, ENABLE (also valid once a mailbox is selected).

Invariants: SELECT/EXAMINE first leave any selected mailbox (`* OK [CLOSED]`)
and stay deselected when the new one does not exist (RFC 3501 6.3.1); the
view is built from the folder's index (UIDs and flags) taken after reading the
notifier version, so no change can be missed; SELECT claims the folder's new messages as `\\Recent`
for this session, EXAMINE only reports them (RFC 3501 6.3.2); every
SELECT/EXAMINE is audited (R24). ENABLE enables nothing: no extension this
engine offers needs enabling, so `* ENABLED` is empty.

Ref: RFC 3501 6.3.1, 6.3.2, 6.3.8, 6.3.9; RFC 2342 (NAMESPACE);
RFC 5161 (ENABLE); RFC 7162 3.2.11 ([CLOSED]).
"""

from __future__ import annotations

from functools import partial

from imap_store.imap.errors import CommandNo
from imap_store.imap.listing import DELIMITER, list_responses, lsub_responses
from imap_store.imap.parse.command import Command, ListArgs, MailboxArgs
from imap_store.imap.render.response import (
    NIL,
    ListOf,
    Response,
    UntaggedData,
    UntaggedStatus,
    code,
    istring,
    recent,
)
from imap_store.imap.render.response import exists as exists_response
from imap_store.imap.session import Completion, Handler, ImapSession, args_of
from imap_store.imap.view import MailboxView


async def select(session: ImapSession, command: Command) -> Completion:
    """SELECT (RFC 3501 6.3.1)."""
    return await _open(session, command, read_only=False)


async def examine(session: ImapSession, command: Command) -> Completion:
    """EXAMINE (RFC 3501 6.3.2)."""
    return await _open(session, command, read_only=True)


async def _open(session: ImapSession, command: Command, *, read_only: bool) -> Completion:
    name = args_of(command, MailboxArgs).mailbox
    if session.view is not None:
        # RFC 3501 6.3.1: SELECT first leaves the selected mailbox, even if it then fails;
        # RFC 7162 3.2.11: [CLOSED] marks where the old mailbox's responses end.
        session.deselect()
        await session.send(UntaggedStatus("OK", "Previous mailbox closed", code("CLOSED")))
    view = await _load_view(session, name, read_only)
    await session.send(*_select_responses(view))
    session.select(view)
    await session.audit("imap.select", mailbox=view.folder.name, read_only=read_only)
    return Completion(f"{command.name} completed", code("READ-ONLY" if read_only else "READ-WRITE"))


async def _load_view(session: ImapSession, name: str, read_only: bool) -> MailboxView:
    bal_id = session.require_principal().bal_id
    store = session.store
    folder = await store.get_folder(bal_id, name)
    if folder is None:
        raise CommandNo("Mailbox does not exist", code("NONEXISTENT"))
    version = store.notifier.version(bal_id)  # read before the snapshot: no change is missed
    folder, index = await store.index(bal_id, folder.id)
    top = index.uids[-1] if index.uids else 0
    # RFC 3501 6.3.2: EXAMINE reports \Recent but does not take it from other sessions.
    floor = await store.claim_recent(bal_id, folder.id, top, claim=not read_only)
    return MailboxView.from_index(bal_id, folder, index, read_only=read_only, version=version,
                                  details=partial(store.details, bal_id, folder.id),
                                  recent_floor=floor)


def _select_responses(view: MailboxView) -> list[Response]:
    # RFC 3501 6.3.1: FLAGS, EXISTS, RECENT, then the UNSEEN, PERMANENTFLAGS, UIDVALIDITY
    # and UIDNEXT response codes.
    flags, permanent = view.flags_responses()
    out: list[Response] = [flags, exists_response(view.exists), recent(len(view.recent))]
    unseen = view.first_unseen()
    if unseen is not None:
        out.append(UntaggedStatus("OK", "First unseen", code("UNSEEN", unseen)))
    out.append(permanent)
    out.append(UntaggedStatus("OK", "UIDs valid", code("UIDVALIDITY", view.folder.uidvalidity)))
    out.append(UntaggedStatus("OK", "Predicted next UID", code("UIDNEXT", view.folder.uidnext)))
    return out


async def list_command(session: ImapSession, command: Command) -> Completion:
    """LIST and LSUB (RFC 3501 6.3.8, 6.3.9)."""
    args = args_of(command, ListArgs)
    bal_id = session.require_principal().bal_id
    folders = await session.store.list_folders(bal_id)
    if command.name == "LSUB":
        subscribed = await session.store.subscriptions(bal_id)
        await session.send(*lsub_responses(subscribed, folders, args.reference, args.pattern))
    else:
        await session.send(*list_responses(folders, args.reference, args.pattern))
    return Completion(f"{command.name} completed")


async def namespace(session: ImapSession, command: Command) -> Completion:
    """NAMESPACE (RFC 2342): one personal namespace, no others."""
    # RFC 2342 5: personal namespace with an empty prefix; other users and shared are NIL.
    personal = ListOf((ListOf((istring(""), istring(DELIMITER))),))
    await session.send(UntaggedData("NAMESPACE", (personal, NIL, NIL)))
    return Completion("NAMESPACE completed")


async def enable(session: ImapSession, command: Command) -> Completion:
    """ENABLE (RFC 5161): no extension offered here needs enabling."""
    await session.send(UntaggedData("ENABLED"))
    return Completion("ENABLE completed")


HANDLERS: dict[str, Handler] = {
    "SELECT": select,
    "EXAMINE": examine,
    "LIST": list_command,
    "LSUB": list_command,
    "NAMESPACE": namespace,
    "ENABLE": enable,
}
