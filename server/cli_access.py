"""`mss person`, and the access verbs of `mss bal`: grant, revoke, app-password,
suspend, resume, set (with `cli_lifecycle`'s options), keep.

Invariants: the address and type of a BAL are never changed (`bal set`
refuses them, exit 1); app-password secrets are printed once and never stored
in clear; every change is audited (protocol "cli").

`bal set --quota-bytes N --quota-messages N` sets the BAL's own quota (0:
no limit; without them the `[quota]` defaults apply, R25).

Ref: R9, R10, R12, R13, R25, R28; docs/architecture.md "Contracts", "Identities".
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from imap_store.store.accounts import AccountError
from imap_store.store.quota import QuotaStore

from .cli_bal import read_password
from .cli_lifecycle import add_lifecycle_parsers, apply_settings
from .cli_output import emit, emit_record
from .config import Config
from .storage import admin_store


def add_person_parsers(sub: Any) -> None:
    person = sub.add_parser("person", help="persons who log in").add_subparsers(
        dest="person_verb", required=True, metavar="ACTION")
    add = person.add_parser("add", help="create a person")
    add.add_argument("login")
    add.add_argument("--name")
    add.add_argument("--rpps")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=_person_add)
    person.add_parser("list", help="list persons").set_defaults(func=_person_list)


def add_access_parsers(bal: Any) -> None:
    for verb, func in (("grant", _grant), ("revoke", _revoke)):
        p = bal.add_parser(verb, help=f"{verb} a person on a shared BAL")
        p.add_argument("bal")
        p.add_argument("person")
        p.set_defaults(func=func)
    for verb in ("suspend", "resume"):
        p = bal.add_parser(verb, help=f"{verb} a BAL")
        p.add_argument("address")
        p.set_defaults(func=_status, status="suspended" if verb == "suspend" else "active")
    st = bal.add_parser("set", help="edit a BAL's description, service, responsible, liste rouge")
    st.add_argument("address")
    for opt in ("--description", "--service", "--responsible", "--type"):
        st.add_argument(opt)
    st.add_argument("--address", dest="new_address", help="refused: addresses are immutable")
    st.add_argument("--liste-rouge", choices=("yes", "no"))
    for opt in ("--quota-bytes", "--quota-messages"):  # R25: 0 = no limit
        st.add_argument(opt, type=_count, metavar="N")
    st.set_defaults(func=_set)
    add_lifecycle_parsers(bal, st)
    app = bal.add_parser("app-password", help="device passwords").add_subparsers(
        dest="app_verb", required=True, metavar="ACTION")
    a = app.add_parser("add", help="create an app password (shown once)")
    a.add_argument("bal")
    a.add_argument("--person")
    a.add_argument("--label", required=True)
    a.set_defaults(func=_app_add)
    ls = app.add_parser("list", help="list a BAL's app passwords")
    ls.add_argument("bal")
    ls.set_defaults(func=_app_list)
    rv = app.add_parser("revoke", help="revoke an app password")
    rv.add_argument("bal")
    rv.add_argument("id", type=int)
    rv.set_defaults(func=_app_revoke)


async def _person_add(args: argparse.Namespace, cfg: Config) -> int:
    password = read_password(args.password_stdin, cfg, [args.login])
    async with admin_store(cfg) as st:
        info = await st.identities.add_person(args.login, password, display_name=args.name,
                                              rpps=args.rpps)
        await st.audit("person.created", "", {"login": info.login})
    emit_record(asdict(info), args.json)
    return 0


async def _person_list(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        rows = [asdict(p) for p in await st.identities.list_persons()]
    emit(rows, args.json, ("login", "display_name", "rpps", "bals"))
    return 0


async def _grant(args: argparse.Namespace, cfg: Config) -> int:
    return await _grant_or_revoke(args, cfg, grant=True)


async def _revoke(args: argparse.Namespace, cfg: Config) -> int:
    return await _grant_or_revoke(args, cfg, grant=False)


async def _grant_or_revoke(args: argparse.Namespace, cfg: Config, grant: bool) -> int:
    bal, person = args.bal.strip().lower(), args.person.strip().lower()
    async with admin_store(cfg) as st:
        op = st.identities.grant if grant else st.identities.revoke
        changed = await op(bal, person)
        if changed:
            await st.audit("bal.granted" if grant else "bal.revoked", bal, {"person": person})
    state = "granted" if grant else "revoked"
    print(f"{person} {state} on {bal}" if changed else f"nothing to do: {person} already {state}")
    return 0


async def _status(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        info, changed = await st.accounts.set_status(args.address, args.status)
        if changed:
            await st.audit(f"bal.{args.status}", info.address, {})
    print(f"{info.address} is {info.status}" + ("" if changed else " (unchanged)"))
    return 0


async def _set(args: argparse.Namespace, cfg: Config) -> int:
    if args.type or args.new_address:
        field = "type" if args.type else "address"
        raise AccountError(field, f"the {field} of a BAL cannot be changed after creation "
                           "(R12): create a new BAL and delete this one")
    changes: dict[str, object] = {k: v for k, v in (
        ("description", args.description), ("service", args.service),
        ("responsible", args.responsible)) if v is not None}
    if args.liste_rouge is not None:
        changes["liste_rouge"] = args.liste_rouge == "yes"
    quota = {k: v for k, v in (("quota_bytes", args.quota_bytes),
                               ("quota_messages", args.quota_messages)) if v is not None}
    async with admin_store(cfg) as st:
        changed = await apply_settings(st, cfg, args)
        info = await st.accounts.set_metadata(args.address, changes)
        if quota:
            await QuotaStore(st.db).set_limits(info.id, quota.get("quota_bytes"),
                                               quota.get("quota_messages"))
        await st.audit("bal.updated", info.address,
                       {"fields": sorted([*changes, *changed, *quota])} | quota)
    emit_record(asdict(info) | quota, args.json)
    return 0


def _count(text: str) -> int:
    """A non-negative integer option (quota limits)."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


async def _app_add(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        info, secret = await st.identities.add_app_password(args.bal, args.person, args.label)
        await st.audit("app_password.created", info.bal,
                       {"id": info.id, "person": info.person, "label": info.label})
    emit_record({**asdict(info), "secret": secret}, args.json)
    if not args.json:
        print("This secret is shown once: enter it in the device's mail settings now.")
    return 0


async def _app_list(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        rows = [asdict(a) for a in await st.identities.list_app_passwords(args.bal)]
    emit(rows, args.json, ("id", "label", "person", "created_at", "last_used_at", "revoked_at"))
    return 0


async def _app_revoke(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        changed = await st.identities.revoke_app_password(args.bal, args.id)
        if changed:
            await st.audit("app_password.revoked", args.bal.strip().lower(), {"id": args.id})
    print(f"app password {args.id} revoked" if changed else f"app password {args.id} was "
          "already revoked")
    return 0
