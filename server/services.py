"""The composition root's object graph: one `Services` per process.

Builds the database, key provider, store facades, audit sink, intake, policy
gate and authenticators from the configuration, and hands each protocol the
narrow bundle it needs.

Ref: docs/architecture.md "Top-level layout" (server/ is the composition root).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from directory.local_entries import LOCAL_ENTRIES
from imap_store.store.accounts import Accounts
from imap_store.store.bal_watch import BalWatch
from imap_store.store.change_watch import FolderWatch
from imap_store.store.db import Database
from imap_store.store.delivery import DeliveryStore
from imap_store.store.interfaces import Authenticate
from imap_store.store.keys import DataKeys, KeyWatch
from imap_store.store.logins import LoginChecker
from imap_store.store.mailbox import MailboxStore
from imap_store.store.notify import ChangeNotifier
from imap_store.store.passwords import PasswordVerifier
from imap_store.store.throttle import LoginThrottle, LoginTurns, ThrottleSettings
from imap_store.store.trustlists import TrustListStore
from message.archives import ScanBounds
from policy.content import AttachmentPolicy
from policy.context import PolicyLimits
from policy.engine import PolicyEngine
from policy.rules import DEFAULT_RULES
from smtp_gateway.antivirus import ClamdScanner
from smtp_gateway.content_check import ContentInspection
from smtp_gateway.gate import PolicyGate
from smtp_gateway.intake import Intake
from smtp_gateway.listener import SmtpServices

from .audit import DatabaseAuditSink
from .authn import Authenticator
from .config import Config
from .storage import app_password_key, open_store, password_hashing, quota_defaults
from .tasks import BackgroundTasks
from .trust import TrustState

CHANGE_POLL_INTERVAL = 0.25  # seconds between two reads of the selected folders' markers


@dataclass(frozen=True)
class ImapServices:
    """The `ImapBackend` bundle handed to the IMAP listeners."""

    store: MailboxStore
    authenticate: Authenticate
    audit: DatabaseAuditSink


@dataclass(frozen=True)
class Logins:
    """The login machinery of one process, shared by every protocol's authenticator:
    one pool of argon2 verifications, one table of per-address turns, one throttle."""

    checker: LoginChecker
    throttle: LoginThrottle
    turns: LoginTurns

    def authenticator(self, accounts: Accounts, audit: DatabaseAuditSink,
                      protocol: str) -> Authenticator:
        return Authenticator(accounts, self.checker, self.throttle, self.turns, audit, protocol)


@dataclass
class Services:
    cfg: Config
    db: Database
    keys: DataKeys
    accounts: Accounts
    mailbox: MailboxStore
    delivery: DeliveryStore
    audit: DatabaseAuditSink
    intake: Intake
    smtp: SmtpServices
    imap_backend: ImapServices
    trust: TrustState
    logins: Logins
    background: BackgroundTasks = field(default_factory=BackgroundTasks)

    def authenticator(self, protocol: str) -> Authenticator:
        return self.logins.authenticator(self.accounts, self.audit, protocol)

    async def close(self) -> None:
        await self.background.close()
        await self.trust.stop()
        await self.audit.flush()
        await self.db.dispose()


def policy_limits(cfg: Config) -> PolicyLimits:
    rcpt = cfg.recipients
    return PolicyLimits(max_message_size=cfg.limits.max_message_size,
                        patient_max_message_size=cfg.limits.patient_max_message_size,
                        max_recipients=tuple(sorted(rcpt.max_per_transaction.items())),
                        justify_threshold=rcpt.justify_threshold,
                        daily_recipient_budget=rcpt.daily_budget or None)


def login_machinery(cfg: Config, accounts: Accounts, keys: DataKeys,
                    watch: BalWatch | None = None) -> Logins:
    a = cfg.auth
    wait = a.login_wait_ms / 1000
    verifier = PasswordVerifier(accounts.hashing, a.max_verifications or os.cpu_count() or 1,
                                wait)
    checker = LoginChecker(accounts.db, app_password_key(keys), verifier,
                           password_types=a.password_types,
                           app_password_types=a.app_password_types, watch=watch)
    throttle = LoginThrottle(accounts.db, ThrottleSettings(
        max_failures=a.max_failures, window=float(a.failure_window), lockout=float(a.lockout),
        delay_base=a.delay_base_ms / 1000, delay_cap=a.delay_cap_ms / 1000))
    return Logins(checker, throttle, LoginTurns(wait))


def policy_engine(cfg: Config) -> PolicyEngine:
    return PolicyEngine(DEFAULT_RULES, cfg.policy.modes, cfg.policy.soft_bounce)


def content_inspection(cfg: Config) -> ContentInspection:
    """The `[attachments]` and `[antivirus]` settings the gateway applies at DATA (R26)."""
    a, av = cfg.attachments, cfg.antivirus
    bounds = ScanBounds(max_parts=a.max_parts, max_archive_depth=a.max_archive_depth,
                        max_archive_entries=a.max_archive_entries,
                        max_archive_size=a.max_archive_size,
                        max_archive_ratio=a.max_archive_ratio)
    policy = AttachmentPolicy(allowed=frozenset(a.allow),
                              refuse_malformed=a.malformed == "refuse")
    scanner = ClamdScanner(av.clamd, float(av.timeout)) if av.clamd else None
    return ContentInspection(bounds, policy, scanner)


async def build_services(cfg: Config) -> Services:
    db, keys = open_store(cfg)
    notifier = ChangeNotifier()
    accounts = Accounts(db, keys, LOCAL_ENTRIES, password_hashing(cfg))
    mailbox = MailboxStore(db, keys, notifier, quota=quota_defaults(cfg))
    delivery = DeliveryStore(db, keys, notifier, quota_defaults(cfg))
    audit = DatabaseAuditSink(db)
    watch = BalWatch(db, notifier)
    logins = login_machinery(cfg, accounts, keys, watch)
    intake = Intake(delivery, cfg.server.hostname, frozenset(cfg.server.domains))
    intake.count_recipients = bool(cfg.recipients.daily_budget)
    trust = TrustState(TrustListStore(db))
    await trust.refresh()
    trust.start_polling()
    gate = PolicyGate(local_domains=frozenset(cfg.server.domains), delivery=delivery,
                      limits=policy_limits(cfg), engine=policy_engine(cfg),
                      trust=trust, audit=audit, max_mime_depth=cfg.limits.max_mime_depth,
                      content=content_inspection(cfg))
    smtp = SmtpServices(gate=gate, intake=intake, audit=audit,
                        authenticate=logins.authenticator(accounts, audit, "smtp"))
    imap = ImapServices(store=mailbox,
                        authenticate=logins.authenticator(accounts, audit, "imap"),
                        audit=audit)
    services = Services(cfg, db, keys, accounts, mailbox, delivery, audit, intake, smtp, imap,
                        trust, logins)
    # Changes other processes (admin verbs, the other workers of `mss serve`) make to
    # selected folders reach IMAP sessions within 1 s: a poll every 0.25 s, one indexed
    # SELECT per 500 selected folders.
    services.background.spawn(FolderWatch(db, notifier, CHANGE_POLL_INTERVAL).run(),
                              "folder change watch")
    # Sessions of a BAL suspended, deleted or given a new password elsewhere end within 1 s.
    services.background.spawn(watch.run(), "login standing watch")
    # The key of a BAL deleted by another process leaves memory within 1 s.
    services.background.spawn(KeyWatch(db, keys).run(), "data key watch")
    return services
