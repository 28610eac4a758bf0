"""Reading the stored meta of messages, in batches, without their bodies.

Owns: `MetaReader.read(bal_id, folder_id, uids)`: decrypts the meta blobs of
up to `CHUNK` messages per query; a message stored before metas existed (or
whose meta does not decode) is parsed once from its body and its meta is
written back, so the next FETCH finds it.

Invariants: the caller has checked that the folder belongs to `bal_id`; the
query joins on that folder id, so only its entries are read; a meta blob is
opened with AAD (BAL id, content id + ":meta", key version); nothing read
here is logged.

Ref: docs/architecture.md "IMAP engine" (FETCH of ENVELOPE/BODYSTRUCTURE never
decrypts the whole message); RFC 3501 7.4.2.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from message.meta import MessageMeta, compute_meta
from message.meta_codec import decode_meta, encode_meta

from .crypto import DecryptionError
from .db import Database
from .keys import DataKeys
from .message_ops import META_SUFFIX
from .models import MailboxEntry, MessageContent

CHUNK = 500


class MetaReader:
    """Batch reads of message metas for one BAL's folder."""

    def __init__(self, db: Database, keys: DataKeys) -> None:
        self.db = db
        self.keys = keys

    async def read(self, bal_id: int, folder_id: int,
                   uids: Sequence[int]) -> dict[int, MessageMeta]:
        out: dict[int, MessageMeta] = {}
        missing: list[tuple[int, str]] = []
        async with self.db.read() as s:
            for start in range(0, len(uids), CHUNK):
                chunk = list(uids[start : start + CHUNK])
                for uid, cid, version, blob in await self._rows(s, folder_id, chunk):
                    meta = await self._open(s, bal_id, cid, version, blob)
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

    @staticmethod
    async def _rows(s: AsyncSession, folder_id: int,
                    uids: list[int]) -> Sequence[tuple[int, str, int, bytes | None]]:
        rows = (await s.execute(
            select(MailboxEntry.uid, MessageContent.id, MessageContent.key_version,
                   MessageContent.meta)
            .join(MessageContent, MessageContent.id == MailboxEntry.content_id)
            .where(MailboxEntry.folder_id == folder_id, MailboxEntry.uid.in_(uids)))).all()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def _open(self, s: AsyncSession, bal_id: int, cid: str, version: int,
                    blob: bytes | None) -> MessageMeta | None:
        if blob is None:
            return None
        key = await self.keys.get(s, bal_id, version)
        try:
            return decode_meta(key.open(cid + META_SUFFIX, blob))
        except (DecryptionError, ValueError):
            return None

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
