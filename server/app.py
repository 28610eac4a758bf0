"""Process wiring for `mss serve`: store, audit, intake, gateways, IMAP, signals.

Invariants:
- Every listener uses a TLS 1.2+ context (R5); submission AUTH only over TLS,
  IMAP LOGIN only over TLS (R8).
- SIGTERM/SIGINT stop cleanly: listeners stop accepting, commits in flight
  finish, idle SMTP sessions get `421`, IMAP sessions get `* BYE`, then the
  database is closed. Nothing is half-written (each delivery is one transaction).

Ref: docs/architecture.md "Contracts" (listeners); R5, R8.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from imap_store.imap.listener import (
    ImapLimits,
    ImapListener,
    imap_admission,
    start_imap_listener,
)
from smtp_gateway.listener import SmtpListener, smtp_admission, start_smtp_listener

from .config import Config, ConfigError, load
from .exchange import Exchange, start_exchange
from .http import HttpListener, start_http
from .job_store import JobStore
from .job_types import JobContext
from .runtime_tuning import freeze_startup_heap, tune_process
from .scheduler import Scheduler, start_scheduler
from .services import (
    Services,
    build_services,
    content_inspection,
    policy_engine,
    policy_limits,
)
from .tls import server_context

log = logging.getLogger("mss.server")


@dataclass
class Running:
    services: Services
    tls: ssl.SSLContext
    scheduler: Scheduler | None = None
    smtp: list[SmtpListener] = field(default_factory=list)
    imap: list[tuple[str, ImapListener]] = field(default_factory=list)
    http: HttpListener | None = None
    exchange: Exchange | None = None

    def ports(self) -> dict[str, int]:
        found = {lst.name: lst.port for lst in self.smtp}
        if self.exchange is not None and self.exchange.mx is not None:
            found["smtp"] = self.exchange.mx.port
        found.update({name: lst.sockets[0].getsockname()[1] for name, lst in self.imap})
        if self.http is not None:
            found["http"] = self.http.sockets[0].getsockname()[1]
        return found


def _imap_limits(cfg: Config) -> ImapLimits:
    lim = cfg.limits
    return ImapLimits(max_line=lim.imap_max_line, max_literal=lim.imap_max_literal,
                      idle_timeout=float(lim.imap_idle_timeout),
                      preauth_timeout=float(lim.imap_preauth_timeout),
                      command_line_timeout=float(lim.imap_command_line_timeout),
                      max_connections=lim.imap_max_connections,
                      max_preauth_connections=lim.imap_max_preauth_connections,
                      max_preauth_per_address=lim.imap_max_preauth_per_address,
                      max_connections_per_bal=lim.imap_max_connections_per_bal,
                      max_mime_depth=lim.max_mime_depth)


async def start(cfg: Config, *, sockets: Mapping[str, socket.socket] | None = None,
                primary: bool = True) -> Running:
    """Open the store and start every enabled listener; returns the running set.

    `sockets`: listeners already bound (by `server.supervisor`), served instead of
    binding their `host:port`. Only a `primary` process runs the scheduler and the
    HTTP listener (`server.workers` says why)."""
    tune_process()
    bound = sockets or {}
    services = await build_services(cfg)
    ctx = server_context(cfg)
    running = Running(services, ctx)
    if primary:
        store = JobStore(services.db, services.keys, services.mailbox.notifier,
                         services.intake)
        running.scheduler = start_scheduler(JobContext(cfg, services.trust.store, store),
                                            services.db)
    lst = cfg.listeners
    # One admission per listener kind: its caps count both listeners of the kind.
    smtp_counts, imap_limits = smtp_admission(cfg.limits), _imap_limits(cfg)
    imap_counts = imap_admission(imap_limits)
    for name, implicit in (("submission", False), ("submissions", True)):
        conf = getattr(lst, name)
        if conf.enabled:
            running.smtp.append(await start_smtp_listener(
                name=name, host=conf.host, port=conf.port, implicit_tls=implicit,
                ssl_context=ctx, services=services.smtp, limits=cfg.limits,
                hostname=cfg.server.hostname, admission=smtp_counts, sock=bound.get(name)))
    for name, implicit in (("imap", False), ("imaps", True)):
        conf = getattr(lst, name)
        if conf.enabled:
            imap = await start_imap_listener(
                host=conf.host, port=conf.port, implicit_tls=implicit, ssl_context=ctx,
                backend=services.imap_backend, limits=imap_limits,
                hostname=cfg.server.hostname, admission=imap_counts, sock=bound.get(name))
            running.imap.append((name, imap))
    if lst.http.enabled and primary:
        running.http = await start_http(
            cfg, services.db, services.authenticator("http"),
            ssl_context=ctx if lst.http.tls else None, audit=services.audit,
            sock=bound.get("http"))
    running.exchange = await start_exchange(cfg, services, sock=bound.get("smtp"))  # MX, relay
    log.info("listening: %s", running.ports())
    freeze_startup_heap()  # full collections stop walking the startup objects
    return running


async def stop(running: Running, grace: float) -> None:
    """Clean stop: no new connections, in-flight commits finish, sessions told."""
    if running.scheduler is not None:
        await running.scheduler.shutdown()
    for smtp in running.smtp:
        smtp.close()
    for _name, imap in running.imap:
        imap.close()
    if running.http is not None:
        running.http.close()
    await asyncio.gather(*([running.exchange.stop(grace)] if running.exchange else []),
                         *(s.shutdown(grace) for s in running.smtp),
                         *(i.shutdown(grace) for _n, i in running.imap),
                         *([running.http.shutdown(grace)] if running.http else []))
    await running.services.close()


def reload(running: Running) -> bool:
    """SIGHUP: re-read the config; apply policy, limits, certificates and trust list.

    A bad file keeps the state in force and logs why. Listener addresses and
    the database need a restart.
    """
    services = running.services
    try:
        new = load(services.cfg.path)
        server_context(new)
    except (ConfigError, OSError, ssl.SSLError, ValueError) as exc:
        log.error("reload refused, keeping the configuration in force: %s", exc)
        return False
    gate = services.smtp.gate
    gate.engine, gate.limits = policy_engine(new), policy_limits(new)
    services.intake.count_recipients = bool(new.recipients.daily_budget)
    gate.max_mime_depth = new.limits.max_mime_depth
    gate.content = content_inspection(new)
    running.tls.load_cert_chain(new.resolve(new.tls.cert), new.resolve(new.tls.key))
    if running.exchange is not None:
        running.exchange.reload(new)
    services.cfg = new
    services.trust.refresh_soon()
    log.info("configuration reloaded from %s", new.path)
    return True


async def serve_forever(cfg: Config) -> None:
    """`mss serve`: run until SIGTERM or SIGINT; SIGHUP reloads."""
    running = await start(cfg)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    loop.add_signal_handler(signal.SIGHUP, reload, running)
    print(f"mss: serving {running.ports()}", flush=True)
    await done.wait()
    log.info("stopping")
    await stop(running, float(cfg.limits.shutdown_grace))
