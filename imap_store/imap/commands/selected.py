"""Commands of the selected state (except FETCH): STORE, SEARCH, EXPUNGE,
UID EXPUNGE, CLOSE, UNSELECT, CHECK.

Invariants: a read-only (EXAMINEd) mailbox is never changed; SEARCH on
header fields reads the stored header only, BODY and TEXT decrypt each
message in turn; STORE answers
with the flags the store reports after the change (unless .SILENT) and records
them in the view so they are not echoed again; `\\Deleted` being set and every
expunge are audited with UIDs (R24); CLOSE expunges silently (no untagged
EXPUNGE), UNSELECT does not expunge; the messages EXPUNGE removed are marked
gone in the view, and their untagged EXPUNGEs come from the dispatcher's
refresh that follows; STORE on a message another session expunged (its
EXPUNGE still held back here) changes nothing, sends no FETCH for it and ends `OK`
for the others (RFC 2180 4.2).

Ref: RFC 3501 6.4.1-6.4.8, 7.4.1; RFC 2180 4.2; RFC 3691 (UNSELECT);
RFC 4315 2.1 (UID EXPUNGE); RFC 3501 7.1 (READ-ONLY).
"""

from __future__ import annotations

from collections.abc import Sequence

from imap_store.imap.errors import CommandNo
from imap_store.imap.message_loader import MessageLoader, Need
from imap_store.imap.parse.command import Command, SearchArgs, SequenceArgs, StoreArgs
from imap_store.imap.parse.grammar import CHARSETS
from imap_store.imap.render.response import FetchData, UntaggedData, atoms, code
from imap_store.imap.search_eval import Loader, content_need, run_search
from imap_store.imap.session import Completion, Handler, ImapSession, args_of
from imap_store.imap.view import MailboxView, flags_value
from imap_store.store.interfaces import AuditEvent

_LOADS: dict[str, Need] = {"none": "none", "header": "meta", "body": "message"}


def writable(view: MailboxView) -> None:
    """Refuse changes to an EXAMINEd mailbox (`NO [READ-ONLY]`)."""
    if view.read_only:
        raise CommandNo("Mailbox is read-only", code("READ-ONLY"))


async def check(session: ImapSession, command: Command) -> Completion:
    """CHECK (RFC 3501 6.4.1): nothing to checkpoint; refresh follows."""
    session.require_view()
    return Completion("CHECK completed")


async def close(session: ImapSession, command: Command) -> Completion:
    """CLOSE (RFC 3501 6.4.2)."""
    view = session.require_view()
    if not view.read_only:
        # RFC 3501 6.4.2: CLOSE expunges silently, and never on a read-only mailbox.
        await _expunge(session, view, None)
    session.deselect()
    return Completion("CLOSE completed")


async def unselect(session: ImapSession, command: Command) -> Completion:
    """UNSELECT (RFC 3691)."""
    session.require_view()
    # RFC 3691 2: like CLOSE, but nothing is expunged.
    session.deselect()
    return Completion("UNSELECT completed")


async def expunge(session: ImapSession, command: Command) -> Completion:
    """EXPUNGE (RFC 3501 6.4.3) and UID EXPUNGE (RFC 4315 2.1)."""
    view = session.require_view()
    writable(view)
    if command.uid:
        # RFC 4315 2.1: UID EXPUNGE removes only the \Deleted messages of the UID set.
        uids = [uid for _, uid in view.resolve(args_of(command, SequenceArgs).sequence, uid=True)]
        if uids:
            await _expunge(session, view, uids)
    else:
        await _expunge(session, view, None)
    return Completion(f"{command.key} completed")


async def _expunge(session: ImapSession, view: MailboxView, uids: Sequence[int] | None) -> None:
    name = view.folder.name

    def audit(gone: Sequence[int]) -> list[AuditEvent]:  # R24, in the expunge's transaction
        return [session.audit_event("imap.expunge", mailbox=name, uids=list(gone))]

    gone = await session.store.expunge(view.bal_id, view.folder.id, uids, audit=audit,
                                       own=view.own_write())
    view.ghosts.update(uid for uid in gone if uid in view.rows)


async def store(session: ImapSession, command: Command) -> Completion:
    """STORE / UID STORE (RFC 3501 6.4.6, 6.4.8)."""
    view = session.require_view()
    args = args_of(command, StoreArgs)
    writable(view)
    pairs = view.resolve(args.sequence, uid=command.uid)
    targets = view.live(pairs)
    await _store_flags(session, view, args, [uid for _, uid in targets])
    if not args.silent:
        # RFC 3501 6.4.6: STORE answers with the flags now set, .SILENT suppresses it.
        await session.send(*(_flags_fetch(view, msn, uid, command.uid) for msn, uid in targets))
    # RFC 2180 4.2: a message expunged meanwhile is left alone (there is nothing to
    # store on) and not reported; the command still succeeds, as Dovecot answers.
    return Completion(f"{command.key} completed")


async def _store_flags(
    session: ImapSession, view: MailboxView, args: StoreArgs, uids: list[int]
) -> None:
    if not uids:
        return
    name, audit = view.folder.name, None
    if "\\Deleted" in args.flags and args.mode != "remove":
        def audit(asked: Sequence[int]) -> list[AuditEvent]:  # R24, in the STORE's transaction
            return [session.audit_event("imap.store_deleted", mailbox=name, uids=list(asked))]
    rows = await session.store.set_flags(view.bal_id, view.folder.id, uids, args.flags,
                                         args.mode, audit=audit, own=view.own_write())
    if view.apply_rows(rows):
        await session.send(*view.flags_responses())


def _flags_fetch(view: MailboxView, msn: int, uid: int, with_uid: bool) -> FetchData:
    flags = ("FLAGS", flags_value(view.flags_of(uid)))
    return FetchData(msn, (("UID", uid), flags) if with_uid else (flags,))


def _search_loader(session: ImapSession, view: MailboxView, args: SearchArgs) -> Loader:
    """Header-only keys read the stored header; BODY and TEXT the whole message."""
    need = content_need(args.criteria)
    order = [uid for uid in view.uids if uid not in view.ghosts]
    loader = MessageLoader(session.store, view, order, _LOADS[need])

    async def load(uid: int) -> bytes | None:
        loaded = await loader.load(uid)
        if loaded is None:
            return None
        return loaded.meta.header if need == "header" else loaded.raw

    return load


async def search(session: ImapSession, command: Command) -> Completion:
    """SEARCH / UID SEARCH (RFC 3501 6.4.4, 6.4.8)."""
    view = session.require_view()
    args = args_of(command, SearchArgs)
    if args.charset is not None and args.charset not in CHARSETS:
        # RFC 3501 6.4.4: an unsupported charset is NO [BADCHARSET] with the ones we take.
        raise CommandNo("Unsupported charset", code("BADCHARSET", atoms(CHARSETS)))
    found = await run_search(view, args.criteria, _search_loader(session, view, args))
    # RFC 3501 6.4.8: UID SEARCH answers UIDs, SEARCH sequence numbers.
    numbers = tuple(uid if command.uid else msn for msn, uid in found)
    await session.send(UntaggedData("SEARCH", numbers))
    return Completion(f"{command.key} completed")


HANDLERS: dict[str, Handler] = {
    "CHECK": check,
    "CLOSE": close,
    "UNSELECT": unselect,
    "EXPUNGE": expunge,
    "UID EXPUNGE": expunge,
    "STORE": store,
    "UID STORE": store,
    "SEARCH": search,
    "UID SEARCH": search,
}
