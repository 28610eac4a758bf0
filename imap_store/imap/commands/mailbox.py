"""Mailbox management commands of the authenticated state: CREATE, DELETE,
RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS and APPEND (also valid when selected).

Invariants:
- every name is resolved by the store inside the logged-in BAL only; a name
  that names nothing there gets `NO [NONEXISTENT]` (or `[TRYCREATE]` for an
  APPEND target), whatever it looks like (`../x`, `#users/x`, `~x`, another
  BAL's address): no other BAL's folder can be reached or revealed;
- CREATE ignores a trailing hierarchy delimiter (RFC 3501 6.3.3); DELETE of
  the selected mailbox first leaves it (as Dovecot does);
- APPEND stores all its messages in one transaction (MULTIAPPEND, RFC 3502)
  and answers `[APPENDUID uidvalidity uid-set]` (RFC 4315); an empty message
  is refused; binary parts (literal8 with NUL) are stored base64
  (`binary_append`, RFC 3516 4.4); a message whose MIME structure nests
  deeper than `limits.max_mime_depth` is refused `NO [LIMIT]`, none of the
  messages being stored; APPEND and every folder change are audited (R24), never the
  message content.

Ref: RFC 3501 6.3.3-6.3.7, 6.3.10, 6.3.11; RFC 3502; RFC 4315 3; RFC 9208
(STATUS DELETED, DELETED-STORAGE; OVERQUOTA);
RFC 5530 (NONEXISTENT, ALREADYEXISTS, CANNOT, TRYCREATE, LIMIT); RFC 2046 5.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from imap_store.imap.backend import FolderError, NewMessage
from imap_store.imap.binary_append import without_nul
from imap_store.imap.errors import CommandNo
from imap_store.imap.listing import DELIMITER, mailbox_value
from imap_store.imap.parse.command import AppendArgs, Command, MailboxArgs, RenameArgs, StatusArgs
from imap_store.imap.render.response import Atom, ListOf, ResponseCode, UntaggedData, Value, code
from imap_store.imap.session import Completion, Handler, ImapSession, SessionState, args_of
from imap_store.store.interfaces import AuditEvent
from imap_store.store.offload import by_size
from message.meta import depth_and_meta

_CODES = {"nonexistent": "NONEXISTENT", "exists": "ALREADYEXISTS", "invalid": "CANNOT",
          "inbox": "CANNOT", "overquota": "OVERQUOTA"}  # RFC 9208: OVERQUOTA


def folder_refusal(exc: FolderError, *, trycreate: bool = False) -> CommandNo:
    """The NO for a refused folder operation (TRYCREATE for a missing target)."""
    name = "TRYCREATE" if trycreate and exc.reason == "nonexistent" else _CODES[exc.reason]
    return CommandNo(str(exc), code(name))


def uid_set(uids: Sequence[int]) -> Atom:
    """`uid-set` with ranges for consecutive UIDs (RFC 4315 4)."""
    parts: list[str] = []
    start = prev = uids[0]
    for uid in (*uids[1:], None):
        if uid is not None and uid == prev + 1:
            prev = uid
            continue
        parts.append(str(start) if start == prev else f"{start}:{prev}")
        if uid is not None:
            start = prev = uid
    return Atom(",".join(parts))


def _bal(session: ImapSession) -> int:
    return session.require_principal().bal_id


async def create(session: ImapSession, command: Command) -> Completion:
    """CREATE (RFC 3501 6.3.3)."""
    # RFC 3501 6.3.3: a trailing hierarchy delimiter only says more names will follow.
    name = args_of(command, MailboxArgs).mailbox.rstrip(DELIMITER) or DELIMITER
    try:
        folder = await session.store.create_folder(_bal(session), name)
    except FolderError as exc:
        raise folder_refusal(exc) from None
    await session.audit("imap.create", mailbox=folder.name)
    return Completion("CREATE completed")


async def delete(session: ImapSession, command: Command) -> Completion:
    """DELETE (RFC 3501 6.3.4)."""
    name = args_of(command, MailboxArgs).mailbox
    view = session.view
    folder = await session.store.get_folder(_bal(session), name)
    if view is not None and folder is not None and folder.id == view.folder.id:
        session.deselect()  # deleting the selected mailbox leaves it first, as Dovecot does
    try:
        await session.store.delete_folder(_bal(session), name)
    except FolderError as exc:
        raise folder_refusal(exc) from None
    await session.audit("imap.delete", mailbox=name)
    return Completion("DELETE completed")


async def rename(session: ImapSession, command: Command) -> Completion:
    """RENAME (RFC 3501 6.3.5), INBOX included."""
    args = args_of(command, RenameArgs)
    try:
        await session.store.rename_folder(_bal(session), args.old, args.new)
    except FolderError as exc:
        raise folder_refusal(exc) from None
    await session.audit("imap.rename", mailbox=args.old, to=args.new)
    return Completion("RENAME completed")


async def subscribe(session: ImapSession, command: Command) -> Completion:
    """SUBSCRIBE / UNSUBSCRIBE (RFC 3501 6.3.6, 6.3.7)."""
    name = args_of(command, MailboxArgs).mailbox
    try:
        await session.store.subscribe(_bal(session), name, command.name == "SUBSCRIBE")
    except FolderError as exc:
        raise folder_refusal(exc) from None
    return Completion(f"{command.name} completed")


async def status(session: ImapSession, command: Command) -> Completion:
    """STATUS (RFC 3501 6.3.10), from the index only."""
    args = args_of(command, StatusArgs)
    try:
        found = await session.store.status(_bal(session), args.mailbox)
    except FolderError as exc:
        raise folder_refusal(exc) from None
    values = {"MESSAGES": found.messages, "RECENT": found.recent, "UIDNEXT": found.uidnext,
              "UIDVALIDITY": found.uidvalidity, "UNSEEN": found.unseen,
              # RFC 9208: what an EXPUNGE would free, storage in units of 1024 octets
              "DELETED": found.deleted, "DELETED-STORAGE": -(-found.deleted_storage // 1024)}
    items: list[Value] = []
    for item in args.items:
        items += [Atom(item), values[item]]
    name = mailbox_value(args.mailbox)
    await session.send(UntaggedData("STATUS", (name, ListOf(tuple(items)))))
    return Completion("STATUS completed")


async def append(session: ImapSession, command: Command) -> Completion:
    """APPEND with MULTIAPPEND (RFC 3501 6.3.11, RFC 3502), answering APPENDUID."""
    args = args_of(command, AppendArgs)
    if any(not m.data for m in args.messages):
        raise CommandNo("Empty messages cannot be stored", code("CANNOT"))
    # RFC 3516 4.4: parts holding NUL (literal8) are stored in a transfer encoding.
    messages = await _checked(session, [NewMessage(without_nul(m.data), m.flags, m.internaldate)
                                        for m in args.messages])
    sizes = [len(m.data) for m in args.messages]

    def audit(uids: Sequence[int]) -> list[AuditEvent]:  # R24, in the APPEND's transaction
        return [session.audit_event("imap.append", mailbox=args.mailbox, uids=list(uids),
                                    sizes=sizes)]

    view = session.view if session.state is SessionState.SELECTED else None
    try:
        # RFC 3502 6: every message of a MULTIAPPEND in one transaction, or none.
        # RFC 3501 6.3.11: into the selected mailbox, the session is told of them as new
        # (EXISTS, RECENT): their `\Recent` floor moves in the APPEND's transaction.
        writable = view is not None and not view.read_only
        result = await session.store.append(
            _bal(session), args.mailbox, messages, audit=audit,
            claim_for=view.folder.id if writable and view is not None else None,
            own=view.own_write() if writable and view is not None else None)
    except FolderError as exc:
        # RFC 3501 6.3.11: a missing target mailbox is NO [TRYCREATE].
        raise folder_refusal(exc, trycreate=True) from None
    if view is not None and result.recent_floor is not None:
        view.claimed = (max(result.uids), result.recent_floor)
    return Completion("APPEND completed", appenduid(result.uidvalidity, result.uids))


async def _checked(session: ImapSession, messages: Sequence[NewMessage]) -> list[NewMessage]:
    """NO [LIMIT] when a message nests deeper than the limit; otherwise the messages with
    the meta the store keeps, from the same parse (off the loop when large)."""
    limit = session.limits.max_mime_depth
    out = []
    for message in messages:
        depth, meta = await by_size(len(message.raw), depth_and_meta, message.raw)
        if depth > limit:
            # RFC 5530 3: LIMIT, an implementation limit; deeper parts could not be shown.
            raise CommandNo("Message structure nested too deeply", code("LIMIT"))
        out.append(replace(message, meta=meta))
    return out


def appenduid(uidvalidity: int, uids: Sequence[int]) -> ResponseCode:
    """`[APPENDUID uidvalidity uid-set]` (RFC 4315 3)."""
    return code("APPENDUID", uidvalidity, uid_set(uids))


HANDLERS: dict[str, Handler] = {
    "CREATE": create,
    "DELETE": delete,
    "RENAME": rename,
    "SUBSCRIBE": subscribe,
    "UNSUBSCRIBE": subscribe,
    "STATUS": status,
    "APPEND": append,
}
