"""Directory tables: imported Annuaire Santé versions, their entries and search words.

Owns: `DirectoryVersion`, `DirectoryEntry`, `DirectoryPosting`,
`DirectoryHomonym`, `DirectoryLocalToken`. They share the store's declarative
`Base` (one schema, one Alembic history); rows that name a local BAL are
removed with it by the database (`ON DELETE CASCADE`).

Ref: R13 (publication of local BALs), R14 (the directory and its file format).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imap_store.store.models import ID, Base

TOKEN = String(160).with_variant(String(160, collation="C"), "postgresql")


class DirectoryVersion(Base):
    """One import of the Annuaire Santé extraction (`loading`, `active`, `retired`).

    At most one row is `active`; searches read it, an import fills a `loading`
    one and switches in one short transaction. Version 0 is never a row: it
    holds the local published BALs' entries.
    """

    __tablename__ = "directory_version"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lines: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    merged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    segments: Mapped[int] = mapped_column(Integer, default=0)


class DirectoryEntry(Base):
    """One BAL of a directory version.

    `fields` keeps the extraction's 31 columns in file order, joined by `|`
    (the file's own separator, which no field can contain); the columns beside
    it are the keys the search and the merge need. `version_id` 0 holds the
    local published BALs (`entry_no` = `bal_id`).
    """

    __tablename__ = "directory_entry"
    version_id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=False)
    entry_no: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=False)
    bal_type: Mapped[str] = mapped_column(String(3))
    address: Mapped[str] = mapped_column(String(320))
    pp_id: Mapped[str | None] = mapped_column(String(400))
    name_key: Mapped[str | None] = mapped_column(TOKEN)
    fields: Mapped[str] = mapped_column(Text)
    bal_id: Mapped[int | None] = mapped_column(ForeignKey("bal.id", ondelete="CASCADE"))


Index("ix_directory_entry_bal", DirectoryEntry.bal_id,
      sqlite_where=DirectoryEntry.bal_id.isnot(None),
      postgresql_where=DirectoryEntry.bal_id.isnot(None))


class DirectoryPosting(Base):
    """The entries of one segment of an imported version that contain a word.

    `postings` packs `entry_no << 4 | field` as little-endian uint32, entries in
    increasing order. An import writes one segment (a block of entries) after
    the other, each in token order, so the table only grows by appends; a
    search seeks each segment. Binary collation so that prefix ranges use the key.
    """

    __tablename__ = "directory_posting"
    version_id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=False)
    segment: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(TOKEN, primary_key=True)
    postings: Mapped[bytes] = mapped_column(LargeBinary)


class DirectoryHomonym(Base):
    """A name (`directory.text.name_key`) that several persons share in a version."""

    __tablename__ = "directory_homonym"
    __table_args__ = {"sqlite_with_rowid": False}
    version_id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=False)
    name_key: Mapped[str] = mapped_column(TOKEN, primary_key=True)
    persons: Mapped[int] = mapped_column(Integer)


class DirectoryLocalToken(Base):
    """A search word of a local published BAL (its entry is version 0)."""

    __tablename__ = "directory_local_token"
    __table_args__ = {"sqlite_with_rowid": False}
    token: Mapped[str] = mapped_column(TOKEN, primary_key=True)
    bal_id: Mapped[int] = mapped_column(ForeignKey("bal.id", ondelete="CASCADE"),
                                        primary_key=True, index=True)
    field: Mapped[int] = mapped_column(Integer)


