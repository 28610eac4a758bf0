"""`mss bal keep`, and the lifecycle and retention parts of `mss bal show|set`.

- `mss bal keep ADDRESS`: an objection to deletion for inactivity (R28): the
  clock restarts now, and a BAL the lifecycle unpublished is published again
  (unless liste rouge); audited.
- `mss bal set ADDRESS --notice-address A`: where deletion notices go; another
  MSSanté address: a BAL of ours, or an address whose domain is in the trust
  list (R1); `--notice-address ""` goes back to the BAL itself.
- `mss bal set ADDRESS --retention FOLDER=DAYS` (repeatable): the BAL's own
  retention period of a folder (R25), 0 for never.
- `mss bal show` adds `state` (lifecycle: active or unpublished),
  `next_step` and `next_step_at`, `notice_address` and `retention`.

Ref: R1, R25, R28; docs/architecture.md "Contracts" (verbs).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from directory.local_entries import LOCAL_ENTRIES
from imap_store.store.accounts import AccountError, validate_address
from imap_store.store.lifecycle import Lifecycle
from imap_store.store.notify import ChangeNotifier
from imap_store.store.retention import Purger, own_settings, set_own
from imap_store.store.trustlists import TrustListStore
from policy.address import domain_of
from policy.lifecycle import next_step
from policy.retention import parse_setting
from policy.trust_list import parse_trust_list

from .config import Config
from .lifecycle_jobs import clock_of
from .storage import AdminStore, admin_store


def add_lifecycle_parsers(bal: Any, set_parser: Any) -> None:
    keep = bal.add_parser("keep", help="object to a BAL's deletion for inactivity (R28)")
    keep.add_argument("address")
    keep.set_defaults(func=_keep)
    set_parser.add_argument("--notice-address", help="where deletion notices go (R28)")
    set_parser.add_argument("--retention", action="append", metavar="FOLDER=DAYS",
                            help="this BAL's retention period of a folder (R25)")


def lifecycle_store(st: AdminStore) -> Lifecycle:
    return Lifecycle(st.db, st.keys, LOCAL_ENTRIES, Purger(st.db, ChangeNotifier()))


async def _keep(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        info = await st.accounts.get(args.address)
        if info is None:
            raise AccountError("address", f"no BAL {args.address.strip().lower()}")
        await lifecycle_store(st).keep(info.id, datetime.now(UTC))
    print(f"{info.address} kept: its inactivity clock starts again now")
    return 0


async def _check_notice_address(st: AdminStore, cfg: Config, own: str, address: str) -> None:
    validate_address(address)
    if address == own:
        return
    domain = domain_of(address)
    if domain in cfg.server.domains:
        if await st.accounts.get(address) is None:
            raise AccountError("notice-address", f"no BAL {address} on this server")
        return
    store = TrustListStore(st.db)
    latest = await store.latest_id()
    loaded = await store.load(latest) if latest is not None else None
    if loaded is None or not parse_trust_list(loaded[1]).is_trusted(domain, cfg.server.domains):
        raise AccountError("notice-address", f"{domain} is not in the MSSanté trust list (R1)")


async def apply_settings(st: AdminStore, cfg: Config, args: argparse.Namespace) -> list[str]:
    """The `--notice-address` and `--retention` options of `mss bal set`; the fields changed."""
    if args.notice_address is None and not args.retention:
        return []
    info = await st.accounts.get(args.address)
    if info is None:
        raise AccountError("address", f"no BAL {args.address.strip().lower()}")
    settings = []
    for text in args.retention or ():
        try:
            settings.append(parse_setting(text))
        except ValueError as exc:
            raise AccountError("retention", str(exc)) from None
    changed = []
    if args.notice_address is not None:
        notice = args.notice_address.strip().lower() or None
        if notice is not None:
            await _check_notice_address(st, cfg, info.address, notice)
        await lifecycle_store(st).set_notice_address(info.id, notice)
        changed.append("notice_address")
    for folder, days in settings:
        await set_own(st.db, info.id, folder, days)
        changed.append(f"retention.{folder}")
    return changed


async def lifecycle_fields(st: AdminStore, cfg: Config, bal_id: int) -> dict[str, object]:
    """What `mss bal show` adds: lifecycle state, next step and its date, settings."""
    facts = next(iter(await lifecycle_store(st).scan(bal_id - 1, 1)), None)
    if facts is None or facts.id != bal_id:
        return {}
    step, at = next_step(cfg.lifecycle.rules(), clock_of(facts))
    own = (await own_settings(st.db, [bal_id])).get(bal_id, {})
    return {"state": facts.lifecycle_state, "last_activity_at": facts.last_activity,
            "next_step": step.value, "next_step_at": at,
            "notice_address": facts.notice_address or facts.address, "retention": own}
