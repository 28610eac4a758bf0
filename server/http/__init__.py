"""The HTTP side of the operator: health, metrics, client autoconfiguration and the
directory API, on the `[listeners.http]` listener (`tls = true|false`).

`start_http(cfg, db, authenticate)` wires the pieces, on aiohttp's server:
`listener` (the socket, the connection cap, background jobs, stop),
`connection` (the per-connection bounds aiohttp has no setting for),
`guard` (framing checks, one reply per refusal, counting), `routes` (the
pages), `auth` (Basic over TLS, bearer tokens), `autoconfig` (R11),
`metrics` (prometheus-client), `replies`. Every bound comes from the `[http]`
section.

Ref: R8, R11, R14; RFC 9110, RFC 9112; docs/architecture.md "Listeners".
"""

from __future__ import annotations

import logging
import socket
import ssl

from directory.service import Directory
from imap_store.store.db import Database
from imap_store.store.interfaces import AuditSink, Authenticate
from imap_store.store.periodic import unbroken
from server.config import Config

from .connection import HttpLimits
from .listener import HttpListener, start_http_listener
from .metrics import Metrics
from .routes import HttpApp, build_app

__all__ = ["HttpListener", "http_limits", "start_http"]
log = logging.getLogger("mss.http")


def http_limits(cfg: Config) -> HttpLimits:
    h = cfg.http
    return HttpLimits(max_header_bytes=h.max_header_bytes, max_headers=h.max_headers,
                      max_body=h.max_body, max_connections=h.max_connections,
                      max_connections_per_address=h.max_connections_per_address,
                      request_timeout=float(h.request_timeout),
                      idle_timeout=float(h.idle_timeout))


async def start_http(cfg: Config, db: Database, authenticate: Authenticate, *,
                     ssl_context: ssl.SSLContext | None, audit: AuditSink,
                     sock: socket.socket | None = None) -> HttpListener:
    """Start the `[listeners.http]` listener; TLS with `ssl_context` (the shared
    server context, so a SIGHUP certificate reload applies here too), each TLS
    session and failed handshake audited in `audit`."""
    conf, limits, metrics = cfg.listeners.http, http_limits(cfg), Metrics()
    pages = HttpApp(cfg, db, authenticate, metrics)
    listener = await start_http_listener(
        host=conf.host, port=conf.port, app=build_app(pages, limits), limits=limits,
        ssl_context=ssl_context, metrics=metrics, audit=audit, sock=sock)
    listener.run_in_background(_sync_local(pages.directory), "directory local entries")
    return listener


async def _sync_local(directory: Directory) -> None:
    """Rebuild the local published BALs' entries once at start (R13); never fatal.

    A stop that comes meanwhile waits for the rebuild to end (`unbroken`): cut in
    the middle of its transaction, it would leave a connection to be reset
    while the engine is being disposed of."""
    try:
        seen = await unbroken(directory.sync_local())
    except Exception:
        log.exception("directory: rebuilding the local entries failed")
        return
    log.info("directory: local entries rebuilt for %d BALs", seen)
