"""The composition root's object graph: one `Services` per process.

Builds the database, key provider, store facades, audit sink, intake, policy
gate and authenticators from the configuration, and hands each protocol the
narrow bundle it needs.

Ref: docs/architecture.md "Top-level layout" (server/ is the composition root).
"""

from __future__ import annotations

from dataclasses import dataclass

from directory.local_entries import LOCAL_ENTRIES
from imap_store.store.accounts import Accounts
from imap_store.store.db import Database
from imap_store.store.delivery import DeliveryStore
from imap_store.store.interfaces import Authenticate
from imap_store.store.keys import DataKeys
from imap_store.store.logins import LoginChecker
from imap_store.store.mailbox import MailboxStore
from imap_store.store.notify import ChangeNotifier
from imap_store.store.throttle import LoginThrottle, ThrottleSettings
from imap_store.store.trustlists import TrustListStore
from policy.context import PolicyLimits
from policy.engine import PolicyEngine
from policy.rules import DEFAULT_RULES
from smtp_gateway.gate import PolicyGate
from smtp_gateway.intake import Intake
from smtp_gateway.listener import SmtpServices

from .audit import DatabaseAuditSink
from .authn import Authenticator
from .config import Config
from .storage import app_password_key, open_store
from .trust import TrustState


@dataclass(frozen=True)
class ImapServices:
    """The `ImapBackend` bundle handed to the IMAP listeners."""

    store: MailboxStore
    authenticate: Authenticate
    audit: DatabaseAuditSink


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

    async def close(self) -> None:
        await self.trust.stop()
        await self.db.dispose()


def policy_limits(cfg: Config) -> PolicyLimits:
    rcpt = cfg.recipients
    return PolicyLimits(max_message_size=cfg.limits.max_message_size,
                        patient_max_message_size=cfg.limits.patient_max_message_size,
                        max_recipients=tuple(sorted(rcpt.max_per_transaction.items())),
                        justify_threshold=rcpt.justify_threshold,
                        daily_recipient_budget=rcpt.daily_budget or None)


def authenticator(cfg: Config, accounts: Accounts, keys: DataKeys, audit: DatabaseAuditSink,
                  protocol: str) -> Authenticator:
    a = cfg.auth
    checker = LoginChecker(accounts.db, app_password_key(keys), password_types=a.password_types,
                           app_password_types=a.app_password_types)
    throttle = LoginThrottle(accounts.db, ThrottleSettings(
        max_failures=a.max_failures, window=float(a.failure_window), lockout=float(a.lockout),
        delay_base=a.delay_base_ms / 1000, delay_cap=a.delay_cap_ms / 1000))
    return Authenticator(accounts, checker, throttle, audit, protocol)


def policy_engine(cfg: Config) -> PolicyEngine:
    return PolicyEngine(DEFAULT_RULES, cfg.policy.modes, cfg.policy.soft_bounce)


async def build_services(cfg: Config) -> Services:
    db, keys = open_store(cfg)
    notifier = ChangeNotifier()
    accounts = Accounts(db, keys, LOCAL_ENTRIES)
    mailbox = MailboxStore(db, keys, notifier)
    delivery = DeliveryStore(db, keys, notifier)
    audit = DatabaseAuditSink(db)
    intake = Intake(delivery, cfg.server.hostname)
    trust = TrustState(TrustListStore(db))
    await trust.refresh()
    trust.start_polling()
    gate = PolicyGate(local_domains=frozenset(cfg.server.domains), delivery=delivery,
                      limits=policy_limits(cfg), engine=policy_engine(cfg),
                      trust=trust, audit=audit)
    smtp = SmtpServices(gate=gate, intake=intake, audit=audit,
                        authenticate=authenticator(cfg, accounts, keys, audit, "smtp"))
    imap = ImapServices(store=mailbox,
                        authenticate=authenticator(cfg, accounts, keys, audit, "imap"),
                        audit=audit)
    return Services(cfg, db, keys, accounts, mailbox, delivery, audit, intake, smtp, imap,
                    trust)
