"""The QUOTA commands (authenticated and selected states): GETQUOTA,
GETQUOTAROOT, SETQUOTA.

Invariants:
- each BAL has one quota root, named "" (empty), which governs every folder
  of the BAL; it exists only when the BAL has a limit (its own, or the
  `[quota]` default). GETQUOTAROOT of any folder of the BAL answers
  `* QUOTAROOT mailbox ""` and `* QUOTA "" (...)`, or the mailbox alone
  when there is no limit; GETQUOTA of any other root, or of "" without a
  limit, is `NO [NONEXISTENT]`; a folder that is not the BAL's is
  `NO [NONEXISTENT]` (isolation);
- the QUOTA response lists each limited resource: STORAGE in units of 1024
  octets (usage rounded up, limit rounded down, so a full BAL never looks
  under its limit) and MESSAGE in messages;
- SETQUOTA is refused `NO [NOPERM]`: limits are the operator's (`mss bal set
  --quota-bytes/--quota-messages`, R25), and QUOTASET is not advertised;
- APPEND and COPY beyond the quota end `NO [OVERQUOTA]` (the store raises
  `OverQuota`, `commands.mailbox.folder_refusal` maps it); MOVE inside the
  BAL's one root adds no usage and is never refused; STATUS answers DELETED
  and DELETED-STORAGE, which RFC 9208 asks of a server with these resources
  (`commands.mailbox.status`).

Ref: RFC 9208 (GETQUOTA, GETQUOTAROOT, SETQUOTA, QUOTA and QUOTAROOT
responses, STORAGE and MESSAGE resources, OVERQUOTA); RFC 5530 (NOPERM,
NONEXISTENT); R25.
"""

from __future__ import annotations

from imap_store.imap.backend import QuotaInfo
from imap_store.imap.errors import CommandNo
from imap_store.imap.listing import mailbox_value
from imap_store.imap.parse.command import Command, MailboxArgs, QuotaRootArgs
from imap_store.imap.render.response import Atom, ListOf, UntaggedData, Value, code, istring
from imap_store.imap.session import Completion, Handler, ImapSession, args_of

ROOT = ""
KIB = 1024


def quota_list(quota: QuotaInfo) -> ListOf:
    """`(STORAGE used limit MESSAGE used limit)`, the limited resources only."""
    items: list[Value] = []
    if quota.limit_bytes:  # RFC 9208: STORAGE counts units of 1024 octets
        items += [Atom("STORAGE"), -(-quota.used_bytes // KIB), quota.limit_bytes // KIB]
    if quota.limit_messages:
        items += [Atom("MESSAGE"), quota.used_messages, quota.limit_messages]
    return ListOf(tuple(items))


def _response(quota: QuotaInfo) -> UntaggedData:
    return UntaggedData("QUOTA", (istring(ROOT), quota_list(quota)))


async def _quota(session: ImapSession) -> QuotaInfo:
    return await session.store.quota(session.require_principal().bal_id)


async def getquota(session: ImapSession, command: Command) -> Completion:
    """GETQUOTA quota-root (RFC 9208)."""
    root = args_of(command, QuotaRootArgs).root
    quota = await _quota(session)
    if root != ROOT or not (quota.limit_bytes or quota.limit_messages):
        raise CommandNo("No such quota root", code("NONEXISTENT"))
    await session.send(_response(quota))
    return Completion("GETQUOTA completed")


async def getquotaroot(session: ImapSession, command: Command) -> Completion:
    """GETQUOTAROOT mailbox (RFC 9208): the BAL's root "" and its usage."""
    name = args_of(command, MailboxArgs).mailbox
    bal_id = session.require_principal().bal_id
    if await session.store.get_folder(bal_id, name) is None:
        raise CommandNo("Mailbox does not exist", code("NONEXISTENT"))
    quota = await _quota(session)
    limited = bool(quota.limit_bytes or quota.limit_messages)
    roots: tuple[Value, ...] = (istring(ROOT),) if limited else ()
    await session.send(UntaggedData("QUOTAROOT", (mailbox_value(name), *roots)))
    if limited:
        await session.send(_response(quota))
    return Completion("GETQUOTAROOT completed")


async def setquota(session: ImapSession, command: Command) -> Completion:
    """SETQUOTA (RFC 9208): refused, the operator sets limits (R25)."""
    raise CommandNo("Quotas are set by the operator", code("NOPERM"))


HANDLERS: dict[str, Handler] = {
    "GETQUOTA": getquota,
    "GETQUOTAROOT": getquotaroot,
    "SETQUOTA": setquota,
}
