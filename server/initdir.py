"""`mss init`: a ready operator directory (config, dev CA and certificate, KEK, database).

Invariants:
- An existing non-empty directory is refused unless `--force`; with `--force`
  the configuration and certificates are rewritten but an existing KEK is kept
  (replacing it would make every stored message unreadable).
- Private keys and the KEK are written 0600; the config holds no secret.
- The `[dsn]` and `[dkim]` values written are the loader's defaults
  (`DsnSection`, `DkimSection`), so the file states what would apply anyway.

Ref: docs/architecture.md "Contracts" (`mss init`, Files, Listeners).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from certs.pki import Issued, load_ca, make_ca, make_server_cert, write_private
from imap_store.store.crypto import generate_kek_file

from .config_sections import DkimSection, DsnSection
from .migrate import upgrade_to_head

STANDARD_PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "imap": 143,
                  "imaps": 993, "http": 8080}
DEV_PORTS = {"smtp": 2525, "submission": 2587, "submissions": 2465, "imap": 2143,
             "imaps": 2993, "http": 8080}
LISTENER_NOTES = {
    "smtp": "inter-operator MX: STARTTLS, operator certificate",
    "submission": "submission: STARTTLS, AUTH",
    "submissions": "submission: implicit TLS, AUTH",
    "imap": "IMAP: STARTTLS, LOGINDISABLED before it",
    "imaps": "IMAP: implicit TLS",
    "http": "health, metrics, autoconfig, directory API",
}


class InitRefused(Exception):
    """`mss init` would overwrite an existing directory."""


@dataclass(frozen=True)
class InitOptions:
    directory: Path
    domain: str
    hostname: str | None = None
    dev_ports: bool = False
    database_url: str | None = None
    ca_cert: Path | None = None
    ca_key: Path | None = None
    force: bool = False


def render_config(opts: InitOptions, hostname: str) -> str:
    ports = DEV_PORTS if opts.dev_ports else STANDARD_PORTS
    url = opts.database_url or "sqlite:///data/mss.sqlite3"
    dsn, dkim = DsnSection(), DkimSection()
    lines = [
        "# mss-server configuration (written by `mss init`).",
        "# Relative paths are relative to this file's folder.",
        "", "[server]", f'hostname = "{hostname}"', f'domains = ["{opts.domain.lower()}"]',
        "", "[database]", f'url = "{url}"',
        "", "[tls]", 'cert = "certs/server.pem"', 'key = "certs/server.key"',
        'ca_bundle = "certs/ca.pem"', "crl = []", "tls13 = true",
        "", "[keys]", 'kek = "keys/kek"',
        "", "[trustlist]", 'source = ""', 'sha256 = ""',
        "", "[relay]", "transport = {}",
        "mx_port = 25  # port of the MX hosts DNS names (RFC 5321: 25; tests move it)",
        "", "[quota]  # per-BAL defaults, 0 = none; `mss bal set --quota-*` per BAL",
        "default_bytes = 0", "default_messages = 0",
        "", "[lifecycle]  # R28: inactivity (days without a login on any protocol)",
        "unpublish_after_days = 60", "notice_days_before = [30, 7]",
        "delete_after_days = 365", "reserve_days = 365",
        "", "[retention]  # R25: days a message stays in a folder (0: never purged)",
        "folders = { Trash = 30, Junk = 30 }", "default_days = 0", "by_type = {}",
        "", "[dsn]  # R22: delivery status notifications",
        f"delay_after = {dsn.delay_after}  # seconds a queued message waits before its delay "
        "report (NOTIFY=DELAY, once)",
        "", "[dkim]  # outbound signatures (RFC 6376): none until `mss dkim keygen` wrote the key",
        "# Choose the selector before keygen: the record to publish is",
        "# <selector>._domainkey.<domain> (keygen prints it).",
        f'selector = "{dkim.selector}"',
        f'key = "{dkim.key}"  # written by `mss dkim keygen` (0600)', "",
    ]
    for name, port in ports.items():
        extra = ["tls = true"] if name == "http" else []
        lines += [f"[listeners.{name}]  # {LISTENER_NOTES[name]}", 'host = "127.0.0.1"',
                  f"port = {port}", *extra, ""]
    return "\n".join(lines)


def _check_target(opts: InitOptions) -> None:
    d = opts.directory
    if d.exists() and not d.is_dir():
        raise InitRefused(f"{d} exists and is not a directory")
    if d.exists() and any(d.iterdir()) and not opts.force:
        raise InitRefused(f"{d} already exists and is not empty (use --force to rewrite "
                          "its configuration and certificates; the KEK and data are kept)")


def _certs(opts: InitOptions, hostname: str) -> Issued:
    certs = opts.directory / "certs"
    certs.mkdir(parents=True, exist_ok=True, mode=0o700)
    org = f"mss-server {opts.domain.lower()}"
    if opts.ca_cert and opts.ca_key:
        ca = load_ca(opts.ca_cert, opts.ca_key)
    else:
        ca = make_ca(org)
        write_private(certs / "ca.key", ca.key_pem)
    (certs / "ca.pem").write_bytes(ca.cert_pem)
    server = make_server_cert(ca, hostname, org)
    (certs / "server.pem").write_bytes(server.cert_pem + ca.cert_pem)
    write_private(certs / "server.key", server.key_pem)
    return server


def init_directory(opts: InitOptions) -> Issued:
    """Create (or with force, refresh) an operator directory; returns the server cert."""
    _check_target(opts)
    hostname = opts.hostname or socket.getfqdn() or "localhost"
    opts.directory.mkdir(parents=True, exist_ok=True)
    server = _certs(opts, hostname)
    kek = opts.directory / "keys" / "kek"
    if not kek.exists():
        generate_kek_file(kek)
    (opts.directory / "data").mkdir(exist_ok=True, mode=0o700)
    config = opts.directory / "mss.toml"
    config.write_text(render_config(opts, hostname), encoding="utf-8")
    upgrade_to_head(opts.database_url or "sqlite:///data/mss.sqlite3", opts.directory.resolve())
    return server
