"""The `quota-warn` job: near-quota notices in the BAL's INBOX (R25).

For every active BAL with a limit, the usage in percent of its nearest limit
(`QuotaState.percent`: octets or messages, whichever is fuller) gives a level,
80 or 95 (`quota.WARN_LEVELS`). When the level is above the one already
warned (`bal.quota_warned`), a bilingual (French, then English) notice is
delivered to the BAL's INBOX through intake, the one way messages enter a
mailbox, as every system notice is (`system_notice`: from postmaster, with
the null reverse-path, marked `Auto-Submitted: auto-generated`, RFC 3834),
and the level recorded; a BAL that went from under 80 % to over
95 % gets the 95 % notice alone. When the usage has dropped under a level,
the recorded level drops with it, so the next crossing warns again.

Invariants: once per crossing: the level is recorded by a compare-and-set
before the notice is delivered (two runs at once cannot both send it), and
put back when the delivery fails (the next run tries again); running the job
twice changes nothing more. The notice names sizes and counts, never a
message. Notices bypass the RCPT quota check (they enter through intake),
so a full BAL is still told.

Ref: R25 (near-quota warning to the user); RFC 3834 (Auto-Submitted);
docs/architecture.md "Time".
"""

from __future__ import annotations

from datetime import datetime

from imap_store.store.delivery import DeliveryStore
from imap_store.store.interfaces import AuditEvent
from imap_store.store.notify import ChangeNotifier
from imap_store.store.quota import QuotaState, QuotaStore, WarnCandidate
from smtp_gateway.intake import Intake, LocalRecipient

from .audit import DatabaseAuditSink
from .job_types import JobContext, JobResult
from .storage import open_store, quota_defaults
from .system_notice import deliver_notice, system_notice

BATCH = 500
MIB = 1024 * 1024


def _mib(octets: int) -> str:
    return f"{octets / MIB:.1f}"


def notice(*, address: str, hostname: str, level: int, state: QuotaState,
           now: datetime) -> bytes:
    """The near-quota notice for `address` at `level` percent (French, then English)."""
    usage = []
    if state.limit_bytes:
        usage.append(f"{_mib(state.used_bytes)} / {_mib(state.limit_bytes)} Mo (MB)")
    if state.limit_messages:
        usage.append(f"{state.used_messages} / {state.limit_messages} messages")
    lines = [
        f"Votre boîte aux lettres {address} est remplie à {state.percent} % "
        "de son quota.",
        "Quand elle sera pleine, les messages qui vous sont adressés seront refusés.",
        "La messagerie sécurisée de santé n'est pas un espace de stockage : supprimez ou",
        "archivez les messages dont vous n'avez plus besoin, et videz la corbeille.",
        "",
        f"Your mailbox {address} is {state.percent}% full.",
        "Once it is full, messages sent to you will be refused.",
        "Secure health messaging is not a storage space: delete or archive the",
        "messages you no longer need, and empty the Trash.",
        "",
        *usage,
    ]
    return system_notice(hostname=hostname, to=address, now=now,
                         subject=f"Boîte aux lettres remplie à {level} % / Mailbox {level}% full",
                         text="\n".join(lines) + "\n")


async def _deliver(intake: Intake, hostname: str, c: WarnCandidate, level: int,
                   now: datetime) -> None:
    content = notice(address=c.address, hostname=hostname, level=level, state=c.state,
                     now=now)
    await deliver_notice(intake, content, session=f"quota-warn-{c.bal_id}", now=now,
                         owner_bal_id=None, local=(LocalRecipient(c.address, c.bal_id),))


async def _one(quotas: QuotaStore, intake: Intake, audit: DatabaseAuditSink, hostname: str,
               c: WarnCandidate, now: datetime) -> bool:
    """Warn one BAL if it crossed a level; True when a notice was delivered."""
    level = c.state.warn_level()
    if level == c.warned:
        return False
    if not await quotas.mark_warned(c.bal_id, c.warned, level) or level < c.warned:
        return False  # another run got there first, or the usage dropped: recorded only
    try:
        await _deliver(intake, hostname, c, level, now)
    except Exception:
        await quotas.mark_warned(c.bal_id, level, c.warned)  # the next run tries again
        raise
    await audit.record(AuditEvent("quota.warning", protocol="job", bal=c.address,
                                  detail={"level": level, "percent": c.state.percent}))
    return True


async def quota_warn(ctx: JobContext, now: datetime) -> JobResult:
    cfg = ctx.cfg
    db, keys = open_store(cfg)
    try:
        quotas = QuotaStore(db, quota_defaults(cfg))
        intake = Intake(DeliveryStore(db, keys, ChangeNotifier()), cfg.server.hostname)
        audit = DatabaseAuditSink(db)
        sent, after = 0, 0
        while True:
            batch = await quotas.candidates(after, BATCH)
            for c in batch:
                sent += await _one(quotas, intake, audit, cfg.server.hostname, c, now)
            if len(batch) < BATCH:
                break
            after = batch[-1].bal_id
    finally:
        await db.dispose()
    return JobResult(True, f"{sent} near-quota notice(s) delivered")
