"""Reading the stored meta of messages, in batches, without their bodies.

Owns: `MetaReader.read(bal_id, folder_id, uids)`: decrypts the meta blobs
read by one read unit (`mailbox_sql.sealed_parts`); a message stored before metas existed (or
whose meta does not decode) is parsed once from its body and its meta is
written back, so the next FETCH finds it.

Invariants: the read unit checks that the folder belongs to `bal_id` and
joins on that folder id, so only its entries are read; a meta blob is
opened with AAD (BAL id, content id + ":meta", key version); nothing read
here is logged. Decoded metas are kept in memory (never on disk) for the next
FETCH (and those this process's APPEND sealed, `remember`), at most
`META_CACHE_OCTETS` of sealed blobs, least recently used dropped first; an
entry is used only for a row the read unit returned, of the same BAL,
content id, key version and sealed octets, so it never outlives its row nor
answers another BAL.

Ref: docs/architecture.md "IMAP engine" (FETCH of ENVELOPE/BODYSTRUCTURE never
decrypts the whole message); RFC 3501 7.4.2.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from functools import partial

from sqlalchemy import update

from message.meta import MessageMeta, compute_meta
from message.meta_codec import decode_meta, encode_meta

from . import mailbox_sql
from .crypto import DecryptionError
from .db import Database
from .keys import DataKeys
from .message_ops import META_SUFFIX
from .models import MessageContent
from .read_pool import INLINE_ROWS

META_CACHE_OCTETS = 16 * 1024 * 1024
_Key = tuple[int, str, int]


class MetaReader:
    """Batch reads of message metas for one BAL's folder."""

    def __init__(self, db: Database, keys: DataKeys) -> None:
        self.db = db
        self.keys = keys
        self._cache: OrderedDict[_Key, tuple[bytes, MessageMeta]] = OrderedDict()
        self._cached_octets = 0

    async def read(self, bal_id: int, folder_id: int,
                   uids: Sequence[int]) -> dict[int, MessageMeta]:
        """The metas of the entries `uids` still in the folder (one read unit, which
        checks that the folder is the BAL's: `FolderError` otherwise)."""
        out: dict[int, MessageMeta] = {}
        missing: list[tuple[int, str]] = []
        rows = await self.db.reader.run(
            partial(mailbox_sql.sealed_parts, "meta", bal_id, folder_id, list(uids)),
            large=len(uids) > INLINE_ROWS, single=mailbox_sql.one_statement(uids))
        for uid, cid, version, blob in rows:
            meta = await self._open(bal_id, cid, version, blob)
            if meta is None:
                missing.append((uid, cid))
            else:
                out[uid] = meta
        for uid, cid in missing:
            try:
                out[uid] = await self._backfill(bal_id, cid)
            except LookupError:
                continue
        return out

    async def _open(self, bal_id: int, cid: str, version: int,
                    blob: bytes | None) -> MessageMeta | None:
        if blob is None:
            return None
        known = self._cache.get((bal_id, cid, version))
        if known is not None and known[0] == blob:
            self._cache.move_to_end((bal_id, cid, version))
            return known[1]
        key = await self.keys.read_key(self.db.reader.run, bal_id, version)
        try:
            meta = decode_meta(key.open(cid + META_SUFFIX, blob))
        except (DecryptionError, ValueError):
            return None
        self._keep((bal_id, cid, version), blob, meta)
        return meta

    def remember(self, bal_id: int, cid: str, version: int, blob: bytes,
                 meta: MessageMeta) -> None:
        """The meta a writer of this process sealed as `blob` and stored (APPEND): the
        first FETCH of that message then finds it decoded. Used, like every entry, only
        for a row read back with the same BAL, content id, key version and octets."""
        self._keep((bal_id, cid, version), blob, meta)

    def _keep(self, key: _Key, blob: bytes, meta: MessageMeta) -> None:
        old = self._cache.pop(key, None)
        if old is not None:
            self._cached_octets -= len(old[0])
        self._cache[key] = (blob, meta)
        self._cached_octets += len(blob)
        while self._cached_octets > META_CACHE_OCTETS and self._cache:
            _, (dropped, _) = self._cache.popitem(last=False)
            self._cached_octets -= len(dropped)

    async def _backfill(self, bal_id: int, cid: str) -> MessageMeta:
        async with self.db.write() as s:
            content = await s.get(MessageContent, cid)
            if content is None or content.bal_id != bal_id:
                raise LookupError("message content is gone")
            key = await self.keys.get(s, bal_id, content.key_version)
            meta = compute_meta(key.open(cid, content.body))
            sealed = key.seal(cid + META_SUFFIX, encode_meta(meta))
            await s.execute(update(MessageContent).where(MessageContent.id == cid)
                            .values(meta=sealed))
        return meta
