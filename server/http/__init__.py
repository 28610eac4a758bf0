"""The HTTP side of the operator: health, metrics, client autoconfiguration and the
directory API, on the `[listeners.http]` listener (`tls = true|false`).

`start_http(cfg, db, authenticate)` wires the pieces: `wire` (HTTP/1.1
messages, sans I/O), `listener` (sockets and bounds), `routes` (the pages),
`auth` (Basic over TLS, bearer tokens), `autoconfig` (R11), `metrics`.

Ref: R8, R11, R14; docs/architecture.md "Listeners".
"""

from __future__ import annotations

import logging
import ssl
import time

from directory.service import Directory
from imap_store.store.db import Database
from server.config import Config

from .auth import Authenticate
from .listener import HttpLimits, HttpListener, start_http_listener
from .metrics import Metrics
from .routes import HttpApp
from .wire import WireLimits

__all__ = ["HttpListener", "http_limits", "start_http"]
log = logging.getLogger("mss.http")


def http_limits(cfg: Config) -> HttpLimits:
    h = cfg.http
    return HttpLimits(WireLimits(h.max_header_bytes, h.max_headers, h.max_body),
                      max_connections=h.max_connections,
                      request_timeout=float(h.request_timeout),
                      idle_timeout=float(h.idle_timeout))


def _gauges(metrics: Metrics, directory: Directory, listener: list[HttpListener]) -> None:
    async def entries() -> float:
        active = await directory.active()
        return float(active.imported) if active else 0.0

    async def connections() -> float:
        return float(listener[0].connection_count) if listener else 0.0

    async def uptime() -> float:
        return time.time() - metrics.started

    metrics.gauge("directory_entries", "entries in the served directory version", entries)
    metrics.gauge("http_connections", "open HTTP connections", connections)
    metrics.gauge("uptime_seconds", "seconds since the HTTP listener started", uptime)


async def start_http(cfg: Config, db: Database, authenticate: Authenticate, *,
                     ssl_context: ssl.SSLContext | None) -> HttpListener:
    """Start the `[listeners.http]` listener; TLS with `ssl_context` (the shared
    server context, so a SIGHUP certificate reload applies here too)."""
    conf = cfg.listeners.http
    metrics = Metrics()
    app = HttpApp(cfg, db, authenticate, metrics)
    started: list[HttpListener] = []
    _gauges(metrics, app.directory, started)
    listener = await start_http_listener(
        host=conf.host, port=conf.port, handler=app, limits=http_limits(cfg),
        ssl_context=ssl_context, metrics=metrics)
    started.append(listener)
    listener.run_in_background(_sync_local(app.directory))
    return listener


async def _sync_local(directory: Directory) -> None:
    """Rebuild the local published BALs' entries once at start (R13); never fatal."""
    try:
        seen = await directory.sync_local()
    except Exception:
        log.exception("directory: rebuilding the local entries failed")
        return
    log.info("directory: local entries rebuilt for %d BALs", seen)
