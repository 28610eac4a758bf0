"""`mss bal ...`: create, list, show, change password, delete BALs.

Invariants: address and type are fixed at creation (no verb changes them);
a BAL's domain must be one of `[server] domains`; `delete` removes the BAL,
its content and its data keys (crypto-shredding).

Ref: R12; docs/architecture.md "Contracts" (`mss bal add`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import asdict
from typing import Any

from imap_store.store.accounts import AccountError, BalInfo, validate_address
from imap_store.store.quota import QuotaStore
from policy.address import domain_of
from policy.bal_types import BAL_TYPES, new_bal_problem
from policy.password_policy import problem

from .cli_lifecycle import lifecycle_fields
from .cli_output import emit, emit_record
from .config import Config
from .storage import admin_store, quota_defaults

LIST_COLUMNS = ("address", "bal_type", "status", "rpps", "structure_id", "last_login_at")


def add_bal_parsers(sub: Any) -> Any:
    bal = sub.add_parser("bal", help="manage BALs (mailboxes)").add_subparsers(
        dest="bal_verb", required=True, metavar="ACTION")
    add = bal.add_parser("add", help="create a BAL")
    add.add_argument("address")
    add.add_argument("--type", required=True, choices=BAL_TYPES)
    add.add_argument("--rpps")
    add.add_argument("--structure-id")
    add.add_argument("--cert-file")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=_add)
    bal.add_parser("list", help="list BALs").set_defaults(func=_list)
    for verb, func in (("show", _show), ("delete", _delete)):
        p = bal.add_parser(verb, help=f"{verb} a BAL")
        p.add_argument("address")
        p.set_defaults(func=func)
    pw = bal.add_parser("passwd", help="set a BAL's password")
    pw.add_argument("address")
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(func=_passwd)
    return bal


def read_password(from_stdin: bool, cfg: Config, identities: list[str]) -> str:
    """Read a new human password and apply the password policy (R9, R10)."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("password: ")
    else:
        raise AccountError("password", "give --password-stdin (no terminal to ask)")
    why = problem(password, identities, cfg.auth.min_password_length)
    if why:
        raise AccountError("password", why)
    return password


def check_new_bal(address: str, kind: str, rpps: str | None, structure_id: str | None) -> None:
    """Raise AccountError naming the field when this BAL cannot be created (R12)."""
    validate_address(address.strip().lower())
    found = new_bal_problem(kind, rpps, structure_id)
    if found is not None:
        raise AccountError(found.field, found.message)


def _row(info: BalInfo) -> dict[str, Any]:
    return asdict(info)


async def _add(args: argparse.Namespace, cfg: Config) -> int:
    domain = domain_of(args.address.strip())
    if domain not in cfg.server.domains:
        raise AccountError("address", f"domain {domain} is not one of server.domains "
                           f"({', '.join(cfg.server.domains)})")
    if args.cert_file:
        raise AccountError("cert-file", "certificate login is not supported by this version")
    check_new_bal(args.address, args.type, args.rpps, args.structure_id)
    password = read_password(args.password_stdin, cfg, [args.address])
    async with admin_store(cfg) as st:
        info = await st.accounts.create_bal(args.address, args.type, rpps=args.rpps,
                                            structure_id=args.structure_id, password=password)
        await st.audit("bal.created", info.address, {"type": info.bal_type})
    emit_record(_row(info), args.json)
    return 0


async def _list(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        emit((_row(i) for i in await st.accounts.list()), args.json, LIST_COLUMNS)
    return 0


async def _show(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        info = await st.accounts.get(args.address)
        if info is None:
            raise AccountError("address", f"no BAL {args.address}")
        quota = await QuotaStore(st.db, quota_defaults(cfg)).state(info.id)
        extra = await lifecycle_fields(st, cfg, info.id)
    emit_record(_row(info) | extra | {f"quota_{k}": v for k, v in asdict(quota).items()},
                args.json)
    return 0


async def _passwd(args: argparse.Namespace, cfg: Config) -> int:
    password = read_password(args.password_stdin, cfg, [args.address])
    async with admin_store(cfg) as st:
        await st.accounts.set_password(args.address, password)
        await st.audit("bal.password_changed", args.address.strip().lower(), {})
    print(f"password changed for {args.address.lower()}")
    return 0


async def _delete(args: argparse.Namespace, cfg: Config) -> int:
    async with admin_store(cfg) as st:
        info = await st.accounts.delete_bal(args.address)
        await st.audit("bal.deleted", info.address, {"type": info.bal_type})
    print(f"deleted {info.address}: its messages and data keys are gone")
    return 0
