"""Exchange between operators, wired for `mss serve`: the MX, the relay, their TLS.

Owns: `Exchange` (the MX listener's policy gate, the relay worker and the TLS
profile they share), `start_exchange`, and the rebuilding of that profile
after a reload or when the CRLs in force change (`crl-refresh` run by this
process or by `mss jobs run`; checked every `CRL_WATCH_SECONDS`).

Invariants:
- the MX and the relay take their contexts from `server.tls` only, through
  one `TlsProfile`; a profile that fails to build (a certificate or CRL that
  cannot be read) keeps the one in force and is logged;
- the MX uses the same policy engine, trust list, content checks and intake
  as submission, with the listener `mx`;
- the relay runs in every `mss serve` process; rows are claimed, so several
  processes on one PostgreSQL share the queue;
- DKIM: the relay signs with the key `mss dkim keygen` wrote (`[dkim]`; no
  key file, no signature), reloaded with the configuration; the MX verifies
  with `Exchange.dkim`, whose `resolve` (DNS TXT lookups) tests replace.

Ref: R1, R3, R4, R5, R6, R7; docs/architecture.md "Listeners", "Data flow".
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime

from imap_store.store.outbound import OutboundQueue
from imap_store.store.periodic import every
from smtp_gateway.dkim import DkimSigner, DkimVerifier
from smtp_gateway.gate import PolicyGate
from smtp_gateway.listener import SmtpListener
from smtp_gateway.mx import start_mx_listener
from smtp_gateway.relay.notice import Notices
from smtp_gateway.relay.worker import RelaySettings, RelayWorker

from .cli_dkim import load_signer
from .config import Config
from .crl import crl_stamp, refresh_crls
from .services import Services, content_inspection, policy_engine, policy_limits
from .tasks import BackgroundTasks
from .tls import TlsProfile

log = logging.getLogger("mss.exchange")
CRL_WATCH_SECONDS = 5.0


def relay_settings(cfg: Config) -> RelaySettings:
    r = cfg.relay
    return RelaySettings(transport=dict(r.transport), mx_port=r.mx_port,
                         connections=r.connections,
                         retry_base=float(r.retry_base), retry_max=float(r.retry_max),
                         lifetime=float(r.lifetime), timeout=float(r.timeout),
                         lease=float(r.lease), delay_after=float(cfg.dsn.delay_after))


def notices(services: Services) -> Notices:
    return Notices(services.intake, services.cfg.server.hostname)


@dataclass
class Exchange:
    cfg: Config
    profile: TlsProfile
    gate: PolicyGate
    relay: RelayWorker
    dkim: DkimVerifier
    mx: SmtpListener | None = None
    crls: tuple[tuple[str, float], ...] = ()
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)

    def reload(self, cfg: Config) -> bool:
        """Apply a new configuration's TLS material and policy; False keeps the old."""
        try:
            profile = TlsProfile.build(cfg)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.error("TLS profile of the MX and relay not rebuilt, keeping the one in "
                      "force: %s", exc)
            return False
        self.cfg, self.profile, self.crls = cfg, profile, crl_stamp(cfg)
        self.gate.engine, self.gate.limits = policy_engine(cfg), policy_limits(cfg)
        self.gate.max_mime_depth = cfg.limits.max_mime_depth
        self.gate.content = content_inspection(cfg)
        self.relay.settings = relay_settings(cfg)
        self.relay.signer = _signer(cfg)
        self.dkim.authserv_id = cfg.server.hostname
        return True

    async def _watch_crls(self) -> None:
        if crl_stamp(self.cfg) != self.crls and self.reload(self.cfg):
            log.info("CRLs changed: MX and relay TLS contexts rebuilt")

    async def stop(self, grace: float) -> None:
        await self.tasks.close()
        if self.mx is not None:
            self.mx.close()
        await asyncio.gather(*([self.mx.shutdown(grace)] if self.mx else []),
                             self.relay.stop(grace))


def _signer(cfg: Config) -> DkimSigner | None:
    """The DKIM signer of `[dkim]`, None (logged) when its key cannot be read."""
    try:
        return load_signer(cfg)
    except OSError as exc:
        log.error("dkim.key: %s; outbound mail is not signed", exc)
        return None


async def start_exchange(cfg: Config, services: Services, *,
                         sock: socket.socket | None = None) -> Exchange:
    """Refresh the CRLs once, build the TLS profile, start the relay and the MX
    (serving `sock`, already listening, when the supervisor bound it)."""
    if cfg.tls.crl:
        await asyncio.to_thread(refresh_crls, cfg, datetime.now(UTC))
    profile = TlsProfile.build(cfg)
    gate = PolicyGate(local_domains=frozenset(cfg.server.domains), delivery=services.delivery,
                      limits=policy_limits(cfg), engine=policy_engine(cfg),
                      trust=services.trust, audit=services.audit, listener="mx",
                      max_mime_depth=cfg.limits.max_mime_depth,
                      content=content_inspection(cfg))
    worker = RelayWorker(queue=OutboundQueue(services.db, services.keys),
                         notices=notices(services), trust=services.trust,
                         context=lambda: exchange.profile.relay,
                         settings=relay_settings(cfg), ehlo_name=cfg.server.hostname,
                         signer=_signer(cfg), domains=frozenset(cfg.server.domains))
    exchange = Exchange(cfg, profile, gate, worker, DkimVerifier(cfg.server.hostname),
                        crls=crl_stamp(cfg))
    services.intake.queued = worker.wake
    worker.start()
    conf = cfg.listeners.smtp
    if conf.enabled:
        exchange.mx = await start_mx_listener(
            host=conf.host, port=conf.port, context=lambda: exchange.profile.mx, gate=gate,
            intake=services.intake, audit=services.audit, limits=cfg.limits,
            hostname=cfg.server.hostname, dkim=exchange.dkim, sock=sock)
    exchange.tasks.spawn(every(CRL_WATCH_SECONDS, exchange._watch_crls, "CRL watch"),
                         "CRL watch")
    return exchange
