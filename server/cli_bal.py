"""`mss bal ...`: create, list, show, change password, delete BALs.

Invariants: address and type are fixed at creation (no verb changes them);
a BAL's domain must be one of `[server] domains`; `delete` removes the BAL,
its content and its data keys (crypto-shredding).

Ref: MSS-RULES R12; ARCHITECTURE "Contracts" (`mss bal add`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import asdict
from typing import Any

from imap_store.store.accounts import AccountError, Accounts, BalInfo, validate_new_bal
from imap_store.store.interfaces import AuditEvent
from policy.password_policy import problem

from .audit import DatabaseAuditSink
from .cli_output import emit, emit_record
from .config import Config
from .storage import open_store

LIST_COLUMNS = ("address", "bal_type", "status", "rpps", "structure_id", "last_login_at")


def add_bal_parsers(sub: Any) -> Any:
    bal = sub.add_parser("bal", help="manage BALs (mailboxes)").add_subparsers(
        dest="bal_verb", required=True, metavar="ACTION")
    add = bal.add_parser("add", help="create a BAL")
    add.add_argument("address")
    add.add_argument("--type", required=True, choices=("PER", "ORG", "APP", "CAB"))
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


def _accounts(cfg: Config) -> Accounts:
    db, keys = open_store(cfg)
    return Accounts(db, keys)


def _row(info: BalInfo) -> dict[str, Any]:
    return asdict(info)


async def _audit(accounts: Accounts, event: str, info: BalInfo) -> None:
    await audit_admin(accounts.db, event, info.address, {"type": info.bal_type})


async def audit_admin(db: Any, event: str, bal: str, detail: dict[str, Any]) -> None:
    """Record an admin action (protocol "cli") in the audit trail."""
    await DatabaseAuditSink(db).record(AuditEvent(event, protocol="cli", bal=bal,
                                                  detail=detail))


async def _add(args: argparse.Namespace, cfg: Config) -> int:
    domain = args.address.rsplit("@", 1)[-1].lower()
    if domain not in cfg.server.domains:
        raise AccountError("address", f"domain {domain} is not one of server.domains "
                           f"({', '.join(cfg.server.domains)})")
    if args.cert_file:
        raise AccountError("cert-file", "certificate login for APP BALs is not available yet")
    validate_new_bal(args.address.strip().lower(), args.type, args.rpps, args.structure_id)
    password = read_password(args.password_stdin, cfg, [args.address])
    accounts = _accounts(cfg)
    try:
        info = await accounts.create_bal(args.address, args.type, rpps=args.rpps,
                                         structure_id=args.structure_id, password=password)
        await _audit(accounts, "bal.created", info)
    finally:
        await accounts.db.dispose()
    emit_record(_row(info), args.json)
    return 0


async def _list(args: argparse.Namespace, cfg: Config) -> int:
    accounts = _accounts(cfg)
    try:
        emit((_row(i) for i in await accounts.list()), args.json, LIST_COLUMNS)
    finally:
        await accounts.db.dispose()
    return 0


async def _show(args: argparse.Namespace, cfg: Config) -> int:
    accounts = _accounts(cfg)
    try:
        info = await accounts.get(args.address)
    finally:
        await accounts.db.dispose()
    if info is None:
        raise AccountError("address", f"no BAL {args.address}")
    emit_record(_row(info), args.json)
    return 0


async def _passwd(args: argparse.Namespace, cfg: Config) -> int:
    password = read_password(args.password_stdin, cfg, [args.address])
    accounts = _accounts(cfg)
    try:
        await accounts.set_password(args.address, password)
        info = await accounts.get(args.address)
        if info is not None:
            await _audit(accounts, "bal.password_changed", info)
    finally:
        await accounts.db.dispose()
    print(f"password changed for {args.address.lower()}")
    return 0


async def _delete(args: argparse.Namespace, cfg: Config) -> int:
    accounts = _accounts(cfg)
    try:
        info = await accounts.delete_bal(args.address)
        await _audit(accounts, "bal.deleted", info)
    finally:
        await accounts.db.dispose()
    print(f"deleted {info.address}: its messages and data keys are gone")
    return 0
