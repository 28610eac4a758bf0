"""COPY, MOVE and their UID forms (selected state).

Invariants:
- the target is resolved inside the logged-in BAL only; a missing target gets
  `NO [TRYCREATE]` (RFC 3501 6.4.7) and nothing is copied;
- COPY and MOVE are all or nothing: when a message of the set was expunged
  meanwhile, the command ends `NO [EXPUNGEISSUED]` and nothing changes
  (RFC 2180 4.4; Dovecot fails and rolls back COPY the same way, while
  FETCH and STORE answer OK for what is left);
- COPY answers `[COPYUID uidvalidity source-set target-set]` in its tagged OK
  (RFC 4315 3); MOVE sends it in an untagged OK before the EXPUNGEs of the
  moved messages, which the dispatcher's refresh reports before the tagged OK
  (RFC 6851 3.3); MOVE needs a read-write mailbox;
- every COPY and MOVE is audited with the UIDs and folder names (R24).

Ref: RFC 3501 6.4.7, 6.4.8; RFC 4315 3; RFC 6851 3; RFC 2180 4.4.
"""

from __future__ import annotations

from imap_store.imap.backend import CopyResult, FolderError, MessagesGone
from imap_store.imap.errors import CommandNo
from imap_store.imap.parse.command import Command, CopyArgs
from imap_store.imap.render.response import ResponseCode, UntaggedStatus, code
from imap_store.imap.session import Completion, Handler, ImapSession, args_of
from imap_store.imap.view import MailboxView

from .mailbox import folder_refusal, uid_set
from .selected import writable

_GONE = "Some messages were expunged meanwhile"


def copyuid(result: CopyResult) -> ResponseCode:
    """`[COPYUID uidvalidity source-uids target-uids]` (RFC 4315 3)."""
    return code("COPYUID", result.uidvalidity, uid_set(result.source_uids),
                uid_set(result.target_uids))


async def _copy(session: ImapSession, view: MailboxView, uids: list[int], target: str,
                move: bool) -> CopyResult:
    try:
        return await session.store.copy(view.bal_id, view.folder.id, uids, target, move=move)
    except FolderError as exc:
        # RFC 3501 6.4.7: a missing target is NO [TRYCREATE], and nothing is copied.
        raise folder_refusal(exc, trycreate=True) from None
    except MessagesGone:
        raise CommandNo(_GONE, code("EXPUNGEISSUED")) from None


def _uids(view: MailboxView, command: Command, args: CopyArgs) -> list[int]:
    pairs = view.resolve(args.sequence, uid=command.uid)
    if len(view.live(pairs)) < len(pairs):
        # RFC 2180 4.4: all or nothing; a message expunged meanwhile fails the command.
        raise CommandNo(_GONE, code("EXPUNGEISSUED"))
    return [uid for _, uid in pairs]


async def copy(session: ImapSession, command: Command) -> Completion:
    """COPY / UID COPY / MOVE / UID MOVE."""
    view = session.require_view()
    args = args_of(command, CopyArgs)
    move = command.name == "MOVE"
    if move:
        # RFC 6851 3.3: MOVE expunges from the source, so it needs a read-write mailbox.
        writable(view)
    uids = _uids(view, command, args)
    if not uids:
        return Completion(f"{command.key} completed")
    result = await _copy(session, view, uids, args.mailbox, move)
    event = "imap.move" if move else "imap.copy"
    await session.audit(event, mailbox=view.folder.name, to=args.mailbox,
                        uids=list(result.source_uids))
    if not move:
        return Completion(f"{command.key} completed", copyuid(result))
    # RFC 6851 3.3: MOVE sends COPYUID untagged, before the EXPUNGEs of the moved messages.
    await session.send(UntaggedStatus("OK", "Moved", copyuid(result)))
    return Completion(f"{command.key} completed")


HANDLERS: dict[str, Handler] = {
    "COPY": copy,
    "UID COPY": copy,
    "MOVE": copy,
    "UID MOVE": copy,
}
