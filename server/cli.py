"""The `mss` command: argument parsing and dispatch to the verbs.

Exit codes (docs/architecture.md "Contracts"): 0 success; 1 refused or a problem found;
2 usage or configuration error. Errors go to stderr as `mss: error: ...`
naming the field or key. `--json` gives one JSON object per line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from imap_store.store.accounts import AccountError

from . import config as config_mod
from .cli_access import add_access_parsers, add_person_parsers
from .cli_admin import add_admin_parsers
from .cli_bal import add_bal_parsers
from .cli_directory import add_directory_parsers
from .cli_dkim import add_dkim_parsers
from .cli_output import fail
from .cli_queue import add_queue_parsers
from .initdir import InitOptions, InitRefused, init_directory
from .logsetup import setup_logging

Handler = Callable[[argparse.Namespace, config_mod.Config], Coroutine[Any, Any, int]]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mss", description="mss-server: an MSSanté operator's "
                                "mail stack")
    p.add_argument("--config", help="configuration file (else $MSS_CONFIG, ./mss.toml, "
                   "/etc/mss/mss.toml)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    init = sub.add_parser("init", help="create an operator directory")
    init.add_argument("--dir", required=True, type=Path)
    init.add_argument("--domain", required=True)
    init.add_argument("--hostname")
    init.add_argument("--dev-ports", action="store_true")
    init.add_argument("--database-url")
    init.add_argument("--ca-cert", type=Path)
    init.add_argument("--ca-key", type=Path)
    init.add_argument("--force", action="store_true")
    init.set_defaults(func=None)
    serve = sub.add_parser("serve", help="run the listeners")
    serve.set_defaults(func=None)  # not a coroutine: the supervisor forks before any loop
    db = sub.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_verb", required=True, metavar="ACTION")
    db.add_parser("upgrade", help="migrate the database to the newest schema").set_defaults(
        func=_db_upgrade)
    add_access_parsers(add_bal_parsers(sub))
    add_person_parsers(sub)
    add_admin_parsers(sub)
    add_directory_parsers(sub)
    add_queue_parsers(sub)
    add_dkim_parsers(sub)
    return p


def _init(args: argparse.Namespace) -> int:
    if bool(args.ca_cert) != bool(args.ca_key):
        return fail("--ca-cert and --ca-key go together", 2)
    opts = InitOptions(args.dir, args.domain, args.hostname, args.dev_ports,
                       args.database_url, args.ca_cert, args.ca_key, args.force)
    try:
        server = init_directory(opts)
    except InitRefused as exc:
        return fail(str(exc), 1)
    print(f"server certificate subject: {server.subject}")
    print(f"export MSS_CONFIG={(args.dir / 'mss.toml').resolve()}")
    return 0


async def _db_upgrade(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from server.migrate import upgrade_to_head_async
    await upgrade_to_head_async(cfg.database.url, cfg.base_dir)
    print("database is at the newest schema")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verb == "init":
        return _init(args)
    try:
        cfg = config_mod.load(config_mod.discover(args.config))
    except config_mod.ConfigError as exc:
        return fail(str(exc), 2)
    setup_logging(cfg.log.level)
    try:
        if args.verb == "serve":
            from server.supervisor import serve
            return serve(cfg)
        code: int = asyncio.run(args.func(args, cfg))
        return code
    except AccountError as exc:
        return fail(f"{exc.field}: {exc}", 1)
    except config_mod.ConfigError as exc:
        return fail(str(exc), 2)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
