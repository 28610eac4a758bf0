"""FETCH and UID FETCH.

Invariants:
- ENVELOPE, BODY, BODYSTRUCTURE, RFC822.HEADER and BODY[HEADER...] come from
  the meta stored at delivery, read in batches; the whole message is
  decrypted only when an item needs it (body sections, RFC822, BINARY), one
  message at a time, and responses are flushed as the output buffer fills,
  so memory stays bounded by one message;
- fetching a body section without .PEEK (or RFC822, RFC822.TEXT, BINARY)
  sets `\\Seen` first, in one store call, on a read-write mailbox, and FLAGS
  is then included for those messages (RFC 3501 6.4.5);
- UID FETCH always returns UID (RFC 3501 6.4.8); FLAGS include the session's
  `\\Recent`;
- a content fetch is audited once per command with the UIDs, never content
  (R24);
- a message another session expunged, whose EXPUNGE this session is still
  holding back, is answered as Dovecot answers it: items the session's view holds (UID,
  FLAGS, INTERNALDATE, RFC822.SIZE, MODSEQ) come from the view; when an
  item needs its content, which is gone, no FETCH response is sent for it
  (nothing is made up) and the command ends `OK [EXPUNGEISSUED]` (RFC 2180
  4.1, RFC 5530 3); FETCH never fails because of an expunge;
- a message whose stored blob or data key fails to authenticate is skipped
  and logged (BAL, folder and UID, never content); the others are sent and
  the command ends `NO [CORRUPTION]` (RFC 5530 3);
- BINARY of a part whose transfer encoding is unknown ends `NO [UNKNOWN-CTE]`.

Ref: RFC 3501 6.4.5, 6.4.8, 7.4.1, 7.4.2; RFC 2180 4.1; RFC 3516 4.2, 4.3; RFC 5530 3.
"""

from __future__ import annotations

import logging
from collections.abc import Container

from imap_store.imap.backend import DecryptionError
from imap_store.imap.errors import CommandNo
from imap_store.imap.message_loader import MessageLoader, Need
from imap_store.imap.parse.command import Command, FetchArgs
from imap_store.imap.parse.fetch_spec import FetchAttribute
from imap_store.imap.render.fetch_items import ItemValue, item_function
from imap_store.imap.render.response import FetchData, code
from imap_store.imap.session import Completion, Handler, ImapSession, args_of
from imap_store.imap.view import MailboxView, flags_value

_UID = FetchAttribute("UID")
log = logging.getLogger(__name__)


def _attributes(command: Command) -> tuple[FetchAttribute, ...]:
    attributes = args_of(command, FetchArgs).attributes
    # RFC 3501 6.4.8: UID FETCH always returns UID, asked for or not.
    if command.uid and _UID not in attributes:
        return (_UID, *attributes)
    return attributes


def _need(attributes: tuple[FetchAttribute, ...]) -> Need:
    if any(a.needs_message for a in attributes):
        return "message"
    return "meta" if any(a.needs_meta for a in attributes) else "none"


async def fetch(session: ImapSession, command: Command) -> Completion:
    """FETCH / UID FETCH (RFC 3501 6.4.5, 6.4.8)."""
    view = session.require_view()
    attributes = _attributes(command)
    pairs = view.resolve(args_of(command, FetchArgs).sequence, uid=command.uid)
    need = _need(attributes)
    # Names and value functions once per command, not per message.
    plan = tuple((a.response_name, item_function(a)) for a in attributes)
    live = [uid for _, uid in view.live(pairs)]
    seen = await _mark_seen(session, view, live, attributes)
    loader = MessageLoader(session.store, view, live, need,
                           details=any(a.needs_details for a in attributes))
    # RFC 3501 6.4.5: the \Seen just set is reported with the fetched items.
    flags_added = () if any(a.name == "FLAGS" for a in attributes) else seen
    sent: list[int] = []
    unreadable: list[int] = []
    gone = 0
    for msn, uid in pairs:
        try:
            if need != "none" and uid in view.ghosts:
                gone += 1  # its content went with it: nothing to send
            elif await _fetch_one(session, view, loader, msn, uid, plan, flags_added):
                sent.append(uid)
            else:
                gone += 1
        except DecryptionError:
            unreadable.append(uid)
    if any(a.is_content for a in attributes) and sent:
        peek = not any(a.sets_seen for a in attributes)
        await session.audit_read("imap.fetch_body", mailbox=view.folder.name, uids=sent, peek=peek)
    if unreadable:
        log.error("IMAP FETCH: %d message(s) of BAL %s folder %s failed to decrypt, "
                  "UIDs %s (session %s)", len(unreadable), view.bal_id, view.folder.id,
                  unreadable[:20], session.session_id)
        raise CommandNo("Some messages could not be read", code("CORRUPTION"))
    if gone:
        # RFC 2180 4.1, RFC 5530 3: the others were sent; OK says some had gone.
        return Completion("Some messages were expunged meanwhile", code("EXPUNGEISSUED"))
    return Completion(f"{command.key} completed")


async def _mark_seen(
    session: ImapSession, view: MailboxView, uids: list[int], attributes: tuple[FetchAttribute, ...]
) -> set[int]:
    # RFC 3501 6.4.5: a body fetch without .PEEK sets \Seen (never when read-only).
    if view.read_only or not any(a.sets_seen for a in attributes):
        return set()
    unseen = [uid for uid in uids if "\\Seen" not in view.rows[uid].flags]
    if not unseen:
        return set()
    seen_flag = frozenset({"\\Seen"})
    rows = await session.store.set_flags(view.bal_id, view.folder.id, unseen, seen_flag, "add",
                                         own=view.own_write())
    view.apply_rows(rows)
    return set(unseen)


async def _fetch_one(
    session: ImapSession, view: MailboxView, loader: MessageLoader, msn: int, uid: int,
    plan: tuple[tuple[str, ItemValue], ...], flags_added: Container[int],
) -> bool:
    message = await loader.load(uid)
    if message is None:
        return False
    row = view.rows[uid]
    flags = view.flags_of_row(row)
    items = [(name, value(row, flags, message)) for name, value in plan]
    if uid in flags_added:
        items.append(("FLAGS", flags_value(flags)))
    await session.send(FetchData(msn, tuple(items)))
    return True


HANDLERS: dict[str, Handler] = {"FETCH": fetch, "UID FETCH": fetch}
