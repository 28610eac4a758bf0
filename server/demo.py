"""`make run` helper: the demo BAL, the bundled trust list, and how to connect.

Creates the demo BAL once with a random password kept in a 0600 file, imports
the bundled ANS trust-list snapshot when no version is stored yet, and with
`--explain` prints the settings to give Thunderbird or a phone.
Development use only: a real operator creates BALs with `mss bal add`.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from pathlib import Path

from certs.pki import write_private
from directory.local_entries import LOCAL_ENTRIES
from imap_store.store.accounts import Accounts
from imap_store.store.trustlists import TrustListStore

from .cli_bal import check_new_bal
from .config import Config, load
from .storage import open_store, password_hashing
from .trust import import_trust_list

BUNDLED_TRUST_LIST = Path(__file__).parent / "data" / "listeblanchemssante.xml"
DEMO_RPPS = "10000000000"


async def ensure_demo(cfg: Config, address: str, password_file: Path) -> None:
    db, keys = open_store(cfg)
    try:
        accounts = Accounts(db, keys, LOCAL_ENTRIES, password_hashing(cfg))
        if await accounts.get(address) is None:
            check_new_bal(address, "PER", DEMO_RPPS, None)
            password = secrets.token_urlsafe(15)
            await accounts.create_bal(address, "PER", rpps=DEMO_RPPS, password=password)
            write_private(password_file, password.encode())
        store = TrustListStore(db)
        if await store.latest_id() is None:
            await import_trust_list(store, BUNDLED_TRUST_LIST.read_bytes(),
                                    f"bundled:{BUNDLED_TRUST_LIST.name}")
    finally:
        await db.dispose()


def explain(cfg: Config, address: str, password_file: Path) -> None:
    lst = cfg.listeners
    password = (password_file.read_text().strip() if password_file.exists()
                else "(see mss bal passwd)")
    print(f"""
mss-server demo operator ({cfg.path})
  mailbox (BAL): {address}
  password:      {password}
  IMAP:          {lst.imaps.host} port {lst.imaps.port} SSL/TLS, or port {lst.imap.port} STARTTLS
  SMTP:          {lst.submissions.host} port {lst.submissions.port} SSL/TLS, \
or port {lst.submission.port} STARTTLS
  user name:     {address} (normal password)
  certificate:   trust the development CA {cfg.resolve(cfg.tls.ca_bundle)}
                 (Thunderbird: Settings > Privacy & Security > Certificates > Import;
                 a phone: install the CA file as a profile, then use the host's address)
Listeners bind to loopback; edit [listeners.*] host in {cfg.path} to reach them from a phone.
""", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m server.demo")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--address", required=True)
    p.add_argument("--password-file", required=True, type=Path)
    p.add_argument("--explain", action="store_true")
    args = p.parse_args()
    cfg = load(args.config)
    asyncio.run(ensure_demo(cfg, args.address.lower(), args.password_file))
    if args.explain:
        explain(cfg, args.address.lower(), args.password_file)


if __name__ == "__main__":
    main()
