"""FETCH and UID FETCH.

Invariants:
- the message is decrypted only when an item needs it, one message at a time,
  and responses are flushed as the output buffer fills, so memory stays
  bounded by one message;
- fetching a body section without .PEEK (or RFC822, RFC822.TEXT) sets
  `\\Seen` first, in one store call, on a read-write mailbox, and FLAGS is
  then included for those messages (RFC 3501 6.4.5);
- UID FETCH always returns UID (RFC 3501 6.4.8);
- a content fetch is audited once per command with the UIDs, never content
  (MSS-RULES R24);
- messages expunged meanwhile are skipped; for FETCH by sequence number the
  command then ends `NO [EXPUNGEISSUED]` (RFC 2180 4.1.2);
- BINARY is refused until the next issue (not advertised).

Ref: RFC 3501 6.4.5, 6.4.8, 7.4.2; RFC 2180 4.1.
"""

from __future__ import annotations

from .command import Command, FetchArgs
from .errors import CommandBad, CommandNo
from .fetch_items import LoadedMessage, item_value
from .fetch_spec import FetchAttribute
from .response import FetchData, Value, code
from .session import Completion, Handler, ImapSession, args_of
from .view import MailboxView, flags_value

_UID = FetchAttribute("UID")


def _attributes(command: Command) -> tuple[FetchAttribute, ...]:
    attributes = args_of(command, FetchArgs).attributes
    if any(a.name.startswith("BINARY") for a in attributes):
        raise CommandBad("BINARY is not supported")
    if command.uid and _UID not in attributes:
        return (_UID, *attributes)
    return attributes


async def fetch(session: ImapSession, command: Command) -> Completion:
    """FETCH / UID FETCH (RFC 3501 6.4.5, 6.4.8)."""
    view = session.require_view()
    attributes = _attributes(command)
    pairs = view.resolve(args_of(command, FetchArgs).sequence, uid=command.uid)
    targets = view.live(pairs)
    seen = await _mark_seen(session, view, [uid for _, uid in targets], attributes)
    sent = [
        uid for msn, uid in targets
        if await _fetch_one(session, view, msn, uid, attributes, seen)
    ]
    if any(a.is_content for a in attributes) and sent:
        peek = not any(a.sets_seen for a in attributes)
        await session.audit("imap.fetch_body", mailbox=view.folder.name, uids=sent, peek=peek)
    if len(sent) < len(targets) or (len(targets) < len(pairs) and not command.uid):
        raise CommandNo("Some messages were expunged meanwhile", code("EXPUNGEISSUED"))
    return Completion(f"{command.key} completed")


async def _mark_seen(
    session: ImapSession, view: MailboxView, uids: list[int], attributes: tuple[FetchAttribute, ...]
) -> set[int]:
    if view.read_only or not any(a.sets_seen for a in attributes):
        return set()
    unseen = [uid for uid in uids if "\\Seen" not in view.rows[uid].flags]
    if not unseen:
        return set()
    seen_flag = frozenset({"\\Seen"})
    rows = await session.store.set_flags(view.bal_id, view.folder.id, unseen, seen_flag, "add")
    view.apply_rows(rows)
    return set(unseen)


async def _fetch_one(
    session: ImapSession, view: MailboxView, msn: int, uid: int,
    attributes: tuple[FetchAttribute, ...], seen: set[int],
) -> bool:
    message = None
    if any(a.needs_message for a in attributes):
        raw = await session.store.fetch_message(view.bal_id, view.folder.id, uid)
        if raw is None:
            return False
        message = LoadedMessage(raw)
    row = view.rows[uid]
    items: list[tuple[str, Value]] = [
        (a.response_name, item_value(a, row, message)) for a in attributes
    ]
    if uid in seen and not any(a.name == "FLAGS" for a in attributes):
        items.append(("FLAGS", flags_value(row.flags)))
    await session.send(FetchData(msn, tuple(items)))
    return True


HANDLERS: dict[str, Handler] = {"FETCH": fetch, "UID FETCH": fetch}
