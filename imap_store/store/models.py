"""SQLAlchemy models: the only description of the schema (Alembic migrates it).

Owns: BALs, their wrapped data keys, folders, encrypted message contents, folder
entries (UID, flags), the append-only audit table, the outbound queue.

Invariants:
- Subject, header addresses and body exist only inside `message_content.body`
  and `message_content.meta` (AES-256-GCM ciphertext); SQL columns hold ids,
  sizes, dates, flags.
- `mailbox_entry.uid` is unique per folder and strictly increasing; a folder's
  `uidvalidity` never changes once the folder exists (RFC 3501 2.3.1.1).
- A BAL's data keys (`bal_key`) are the only way to read its contents; deleting
  them crypto-shreds the BAL.

Ref: docs/architecture.md "Storage", "Encryption at rest"; RFC 3501 2.3.1.1; R12, R24.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = BigInteger().with_variant(Integer(), "sqlite")

# Entries flagged \Deleted, entries without \Seen: the terms of the two partial indexes
# of `mailbox_entry`. A query uses such an index only when its WHERE clause carries the
# same term, word for word (SQLite) or provably implied (PostgreSQL), so the store's
# queries use these constants. `ESCAPE '/'`: PostgreSQL's default escape is `\`.
DELETED_TERM = "flags LIKE '%\\Deleted%' ESCAPE '/'"
UNSEEN_TERM = "flags NOT LIKE '%\\Seen%' ESCAPE '/'"


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Bal(Base):
    """A mailbox (Boîte Aux Lettres). Address and type are immutable (R12)."""

    __tablename__ = "bal"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    bal_type: Mapped[str] = mapped_column(String(3))
    rpps: Mapped[str | None] = mapped_column(String(11))
    structure_id: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Moves with every password change (`mss bal passwd`), never with a rehash of the
    same password: a login made with the password stands while it has not moved."""
    status: Mapped[str] = mapped_column(String(16), default="active")
    liste_rouge: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    description: Mapped[str | None] = mapped_column(String(400))
    service: Mapped[str | None] = mapped_column(String(400))
    responsible: Mapped[str | None] = mapped_column(String(400))
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True)
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)
    """Storage quota in octets (R25): None follows `[quota] default_bytes`, 0 is none."""
    quota_messages: Mapped[int | None] = mapped_column(BigInteger)
    """Message quota: None follows `[quota] default_messages`, 0 is none."""
    quota_warned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """The highest near-quota notice level sent (0, 80, 95): `quota-warn` sends each
    once per crossing and lowers this when the usage drops back."""
    # The inactivity lifecycle (R28, `lifecycle.py`): "active" or "unpublished" (idle
    # past `[lifecycle] unpublish_after_days`); the last `mss bal keep`; the smallest
    # `notice_days_before` already sent and when; where notices go (None: the BAL).
    lifecycle_state: Mapped[str] = mapped_column(String(16), default="active",
                                                 server_default="active")
    kept_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notice_days: Mapped[int | None] = mapped_column(Integer)
    notice_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notice_address: Mapped[str | None] = mapped_column(String(320))


class BalKey(Base):
    """One data key of a BAL, wrapped by the KEK (never stored in clear)."""

    __tablename__ = "bal_key"
    bal_id: Mapped[int] = mapped_column(ForeignKey("bal.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Folder(Base):
    """An IMAP folder inside one BAL; names are resolved inside the BAL only."""

    __tablename__ = "folder"
    __table_args__ = (UniqueConstraint("bal_id", "name"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    bal_id: Mapped[int] = mapped_column(ForeignKey("bal.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(400))
    special_use: Mapped[str | None] = mapped_column(String(16))
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uidnext: Mapped[int] = mapped_column(BigInteger, default=1)
    highestmodseq: Mapped[int] = mapped_column(BigInteger, default=1)
    recent_uid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """UIDs above this have been announced to no session yet (\\Recent, RFC 3501 2.3.2)."""
    used_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """The RFC822.SIZE sum of the folder's entries, moved in each write's transaction
    (quota usage, R25; `quota.recount` checks it)."""
    used_messages: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """The folder's entry count, moved with `used_bytes`."""


class FolderSubscription(Base):
    """A subscribed name with no folder of that name (RFC 3501 6.3.6: kept on DELETE).

    Names that are folders are subscribed through `folder.subscribed`.
    """

    __tablename__ = "folder_subscription"
    bal_id: Mapped[int] = mapped_column(ForeignKey("bal.id", ondelete="CASCADE"),
                                        primary_key=True)
    name: Mapped[str] = mapped_column(String(400), primary_key=True)


class FolderCounter(Base):
    """The highest UIDVALIDITY a BAL ever gave a folder, so a recreated or renamed
    name never gets an old value back (RFC 3501 2.3.1.1)."""

    __tablename__ = "folder_counter"
    bal_id: Mapped[int] = mapped_column(ForeignKey("bal.id", ondelete="CASCADE"),
                                        primary_key=True)
    last_uidvalidity: Mapped[int] = mapped_column(BigInteger)


class MessageContent(Base):
    """An encrypted message; `id` is random and bound into the ciphertext's AAD."""

    __tablename__ = "message_content"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    bal_id: Mapped[int] = mapped_column(ForeignKey("bal.id", ondelete="CASCADE"), index=True)
    key_version: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    mss_nil: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    meta: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Header, ENVELOPE, BODYSTRUCTURE (`message_meta`), sealed with AAD id + ":meta"."""
    body: Mapped[bytes] = mapped_column(LargeBinary)
    """Last: on SQLite the columns before it are read without its overflow pages
    (migration 0014)."""


class MailboxEntry(Base):
    """A message as seen in one folder: UID, flags, modseq."""

    __tablename__ = "mailbox_entry"
    __table_args__ = (
        UniqueConstraint("folder_id", "uid"),
        Index("ix_mailbox_entry_content", "content_id"),
        Index("ix_mailbox_entry_folder_modseq", "folder_id", "modseq"),
        # EXPUNGE and STATUS DELETED / UNSEEN read only the entries they count
        # (RFC 3501 6.3.10, 6.4.3; RFC 9208), not the whole folder.
        Index("ix_mailbox_entry_deleted", "folder_id", "uid",
              sqlite_where=sql_text(DELETED_TERM), postgresql_where=sql_text(DELETED_TERM)),
        Index("ix_mailbox_entry_unseen", "folder_id", "uid",
              sqlite_where=sql_text(UNSEEN_TERM), postgresql_where=sql_text(UNSEEN_TERM)),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("folder.id", ondelete="CASCADE"))
    uid: Mapped[int] = mapped_column(BigInteger)
    content_id: Mapped[str] = mapped_column(
        ForeignKey("message_content.id", ondelete="CASCADE"))
    flags: Mapped[str] = mapped_column(Text, default="")
    internaldate: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    modseq: Mapped[int] = mapped_column(BigInteger, default=1)


class AuditRecord(Base):
    """Append-only audit trail (R24): who, when, what, result; never content."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    protocol: Mapped[str] = mapped_column(String(16), default="")
    session: Mapped[str] = mapped_column(String(32), default="")
    peer: Mapped[str] = mapped_column(String(64), default="")
    bal: Mapped[str] = mapped_column(String(320), default="", index=True)
    person: Mapped[str] = mapped_column(String(320), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")


class OutboundMessage(Base):
    """A message accepted for a remote MSSanté domain, waiting for the relay.

    One row per (message, remote domain); the body is encrypted with the
    sending BAL's data key like any stored message. `recipients` holds the
    recipients still to deliver; `claimed_until` is set while one relay
    process sends the row (`outbound.OutboundQueue.claim`).
    """

    __tablename__ = "outbound_queue"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    content_id: Mapped[str] = mapped_column(
        ForeignKey("message_content.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(255), index=True)
    mail_from: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # DSN parameters (RFC 3461) to pass on: RET, ENVID as written (xtext), and NOTIFY/ORCPT
    # per recipient (`message.dsn_params.encode_recipients`); None when not given.
    dsn_ret: Mapped[str | None] = mapped_column(String(4))
    dsn_envid: Mapped[str | None] = mapped_column(String(100))
    dsn_recipients: Mapped[str | None] = mapped_column(Text)
    # Recipients already sent their one delay report (NOTIFY=DELAY), newline-separated.
    dsn_delayed: Mapped[str | None] = mapped_column(Text)


class TrustListVersion(Base):
    """One imported version of the ANS trust list (R1), raw XML compressed.

    Identified by its `DateDeGeneration` and SHA-256; the newest active row is
    the one every process serves.
    """

    __tablename__ = "trustlist_version"
    __table_args__ = (UniqueConstraint("sha256"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    generated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text, default="")
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    domains: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class SentRecipient(Base):
    """Distinct recipients a BAL sent to per UTC day (R18 daily budget).

    Addresses are kept as SHA-256 digests: the count is what matters.
    """

    __tablename__ = "sent_recipient"
    bal_id: Mapped[int] = mapped_column(ForeignKey("bal.id", ondelete="CASCADE"),
                                        primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    rcpt_hash: Mapped[str] = mapped_column(String(64), primary_key=True)


class Person(Base):
    """A human who logs in (R10): own login and credentials, optionally an RPPS."""

    __tablename__ = "person"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    rpps: Mapped[str | None] = mapped_column(String(11))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BalGrant(Base):
    """A person allowed to act on an ORG (or APP) BAL with their own identity (R10)."""

    __tablename__ = "bal_grant"
    bal_id: Mapped[int] = mapped_column(ForeignKey("bal.id", ondelete="CASCADE"),
                                        primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"),
                                           primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AppPassword(Base):
    """A random, revocable secret for one device, bound to (person, BAL).

    Only a keyed hash (HMAC-SHA256 with a key derived from the KEK) is stored.
    """

    __tablename__ = "app_password"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    bal_id: Mapped[int] = mapped_column(ForeignKey("bal.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    """One failed login, for the lockout on (account, client address)."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_key", "account", "peer", "at"),
                      Index("ix_login_failure_peer", "peer", "at"))
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(320))
    peer: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PublicationEvent(Base):
    """Outbox of publication changes, for the connector to the Annuaire Santé (R13).

    One row per change of `bal.published`; `sent_at` is set by the connector.
    The address is kept so the event outlives a deleted BAL.
    """

    __tablename__ = "publication_event"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    bal_id: Mapped[int] = mapped_column(ID, index=True)
    address: Mapped[str] = mapped_column(String(320))
    bal_type: Mapped[str] = mapped_column(String(3))
    published: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class BalRetention(Base):
    """A BAL's own retention period of one folder, in days (0: never purged) (R25)."""

    __tablename__ = "bal_retention"
    bal_id: Mapped[int] = mapped_column(ForeignKey("bal.id", ondelete="CASCADE"),
                                        primary_key=True)
    folder: Mapped[str] = mapped_column(String(400), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)


class AddressReservation(Base):
    """The address of a BAL deleted for inactivity, not handed out again until
    `reserved_until` (R28, `[lifecycle] reserve_days`)."""

    __tablename__ = "address_reservation"
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    reserved_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JobRun(Base):
    """One run of a scheduled job for one period (`job_runs.py`): a job done for a
    period is not done again; `finished_at` is None while it runs."""

    __tablename__ = "job_run"
    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool | None] = mapped_column(Boolean)
    result: Mapped[str] = mapped_column(Text, default="")
    runner: Mapped[str] = mapped_column(String(64), default="")
