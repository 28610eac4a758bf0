"""Loading what FETCH and SEARCH need of each message, bounded in memory.

Owns: `MessageLoader`, which hands out one `LoadedMessage` per UID in the
order a command visits them, with the view's row details (size, internal
date, MODSEQ) read a batch ahead when the command needs them (`details`):
nothing more for index-only items, the stored meta
(header, ENVELOPE, BODYSTRUCTURE) read in batches of `CHUNK` messages, or the
whole decrypted messages, in batches of at most `BODY_BATCH` messages and
`BODY_BATCH_OCTETS` octets by their stored sizes (one read transaction each).

Invariants: at most one batch of metas or one batch of whole messages is held
at a time (a message larger than `BODY_BATCH_OCTETS` is a batch alone); a
message expunged meanwhile loads as None; a message whose blob or data key
fails to authenticate raises `DecryptionError` for that message alone (a
batch that fails is read again for that message only); the whole message is
decrypted only when an item needs it (docs/architecture.md "IMAP engine":
listing a mailbox never decrypts whole messages).

Ref: RFC 3501 6.4.4, 6.4.5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from imap_store.imap.render.fetch_items import LoadedMessage

from .backend import DecryptionError, MailboxStore, MessageMeta
from .view import DETAILS_BATCH, MailboxView

Need = Literal["none", "meta", "message"]
CHUNK = 200
BODY_BATCH = 50
BODY_BATCH_OCTETS = 4 * 1024 * 1024
_NOTHING = LoadedMessage()


class MessageLoader:
    """Per-command loader over the selected mailbox."""

    def __init__(self, store: MailboxStore, view: MailboxView, order: Sequence[int],
                 need: Need, *, details: bool = True) -> None:
        self._store, self._view, self.need = store, view, need
        self._details = details or need == "message"  # sizes bound the body batches
        self._order = list(order)
        self._index = {uid: i for i, uid in enumerate(self._order)}
        self._metas: Mapping[int, MessageMeta] = {}
        self._bodies: Mapping[int, bytes] = {}
        self._detailed: set[int] = set()

    async def load(self, uid: int) -> LoadedMessage | None:
        """What the command needs of message `uid`; None when it is gone."""
        view = self._view
        if self._details:
            if uid not in self._detailed:  # size, internal date, MODSEQ: a batch at a time
                start = self._index.get(uid, 0)
                batch = (self._order[start : start + DETAILS_BATCH] if uid in self._index
                         else [uid])
                await view.load_details(batch)
                self._detailed = set(batch)
            if view.rows.missing([uid]):
                return None  # its details are gone from the store: expunged meanwhile
        if self.need == "none":
            return _NOTHING
        if self.need == "message":
            if uid not in self._bodies:
                self._bodies = {}  # the previous batch is let go before the next is read
                batch, octets = self._body_batch(uid)
                try:
                    self._bodies = await self._store.fetch_messages(
                        view.bal_id, view.folder.id, batch, octets=octets)
                except DecryptionError:
                    if len(batch) == 1:
                        raise
                    self._bodies = await self._store.fetch_messages(
                        view.bal_id, view.folder.id, [uid], octets=_known_size(view, uid))
            raw = self._bodies.get(uid)
            return None if raw is None else LoadedMessage(raw)
        if uid not in self._metas:
            start = self._index.get(uid, 0)
            batch = self._order[start : start + CHUNK] if uid in self._index else [uid]
            try:
                self._metas = await self._store.fetch_meta(view.bal_id, view.folder.id, batch)
            except DecryptionError:
                # One unreadable message must not hide the others of its batch.
                self._metas = await self._store.fetch_meta(view.bal_id, view.folder.id, [uid])
        meta = self._metas.get(uid)
        return None if meta is None else LoadedMessage(meta=meta)

    def _body_batch(self, uid: int) -> tuple[list[int], int | None]:
        """`uid` and the messages the command visits next, within the batch bounds
        (a message whose size is not known here yet ends the batch), and their
        stored sizes (None when the size of `uid` is not known)."""
        first = _known_size(self._view, uid)
        if uid not in self._index:
            return [uid], first
        batch = [uid]
        octets = first or 0
        for nxt in self._order[self._index[uid] + 1:self._index[uid] + BODY_BATCH]:
            size = _known_size(self._view, nxt)
            if size is None or octets + size > BODY_BATCH_OCTETS:
                break
            batch.append(nxt)
            octets += size
        return batch, None if first is None else octets


def _known_size(view: MailboxView, uid: int) -> int | None:
    row = view.rows.get(uid)
    if row is None:
        return None
    try:
        return row.size
    except LookupError:  # an index row whose details were not read
        return None
