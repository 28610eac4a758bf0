"""`mss queue list|show|retry|delete`: the outbound queue, as the relay sees it.

`list` shows one row per queued message and remote domain (recipients not
yet delivered, attempts, next attempt, last error; never content); `show`
one row; `retry` makes one waiting row (or all, without an id) due now;
`delete` removes one waiting row and its sealed content, audited. A row that
a relay is sending at that moment is left alone (`delete` exits 1).

Exit codes as for every verb: 0 done, 1 not found or refused, 2 usage.

Ref: docs/architecture.md "Contracts" (verbs, exit codes); R24 (audit).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from imap_store.store.interfaces import AuditEvent
from imap_store.store.outbound import OutboundQueue, QueuedMessage

from .cli_output import emit, emit_record, fail
from .config import Config
from .storage import admin_store

COLUMNS = ("id", "domain", "from", "recipients", "attempts", "next_attempt_at", "last_error")


def add_queue_parsers(sub: Any) -> None:
    q = sub.add_parser("queue", help="the outbound queue").add_subparsers(
        dest="queue_verb", required=True, metavar="ACTION")
    q.add_parser("list", help="list queued messages").set_defaults(func=_list)
    show = q.add_parser("show", help="one queued message")
    show.add_argument("id", type=int)
    show.set_defaults(func=_show)
    retry = q.add_parser("retry", help="try a waiting message (or all) now")
    retry.add_argument("id", type=int, nargs="?")
    retry.set_defaults(func=_retry)
    delete = q.add_parser("delete", help="remove a queued message (its sender is not told)")
    delete.add_argument("id", type=int)
    delete.set_defaults(func=_delete)


def _row(item: QueuedMessage) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"id": item.id, "domain": item.domain, "from": item.mail_from or "<>",
            "recipients": ",".join(item.recipients), "size": item.size,
            "attempts": item.attempts, "created_at": item.created_at.isoformat(),
            "next_attempt_at": item.next_attempt_at.isoformat(),
            "sending": item.claimed_until is not None and item.claimed_until > now,
            "last_error": item.last_error}


async def _list(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        rows = await OutboundQueue(st.db, st.keys).listing()
    emit((_row(r) for r in rows), args.json, COLUMNS)
    return 0


async def _show(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        item = await OutboundQueue(st.db, st.keys).get(args.id)
    if item is None:
        return fail(f"id: no queued message {args.id}", 1)
    emit_record(_row(item), args.json)
    return 0


async def _retry(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        queue = OutboundQueue(st.db, st.keys)
        if args.id is not None and await queue.get(args.id) is None:
            return fail(f"id: no queued message {args.id}", 1)
        count = await queue.retry_now(args.id, datetime.now(UTC))
        await st.audit("queue.retry", "", {"queue_id": args.id, "rows": count})
    emit_record({"due_now": count}, args.json)
    return 0 if count or args.id is None else fail(
        f"id: message {args.id} is being sent right now", 1)


async def _delete(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        queue = OutboundQueue(st.db, st.keys)
        item = await queue.get(args.id)
        if item is None:
            return fail(f"id: no queued message {args.id}", 1)
        event = AuditEvent("queue.deleted", protocol="cli", bal=item.mail_from, detail={
            "queue_id": item.id, "domain": item.domain, "to": list(item.recipients)})
        done = await queue.remove(args.id, datetime.now(UTC), [event])
    if done is None:
        return fail(f"id: no queued message {args.id}", 1)
    if not done:
        return fail(f"id: message {args.id} is being sent right now; try again", 1)
    emit_record({"deleted": args.id}, args.json)
    return 0
