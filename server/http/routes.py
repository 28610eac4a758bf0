"""What the HTTP listener serves: health, metrics, autoconfiguration, directory API.

Owns: `HttpApp` (the pages) and `build_app` (the aiohttp `Application`: its
router, the guard middleware, `client_max_size`).

| path | methods | over |
| --- | --- | --- |
| `/healthz`, `/metrics` | GET, HEAD | plain or TLS |
| `/mail/config-v1.1.xml` and `/.well-known/autoconfig/...` (same) | GET, HEAD | both |
| `/autodiscover/autodiscover.xml` (any case) | POST | plain or TLS |
| `/directory/search?q=&limit=` | GET, HEAD | TLS only, authenticated |

Invariants: the directory API answers 403 on a plain connection without
looking at credentials, 401 with a challenge without valid ones; an unknown
path is 404, a known path with another method 405 with `Allow`; at most
`MAX_QUERY_FIELDS` query parameters (else 400); a body is read within
`request_timeout` (else 408).

Ref: R8, R11, R14; RFC 9110 15.5.6 (405 and Allow), RFC 7617.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from aiohttp import web
from sqlalchemy import text

from directory.service import Directory, QueryError
from imap_store.store.db import Database
from imap_store.store.interfaces import Authenticate
from server.config import Config

from .auth import CHALLENGE, ApiAuth, Peer
from .autoconfig import (
    AutoconfigError,
    autodiscover_error,
    autodiscover_response,
    client_settings,
    mozilla_config,
    parse_autodiscover,
)
from .connection import HttpLimits
from .guard import connection_of, guard
from .metrics import CONTENT_TYPE, Metrics
from .replies import Refusal, text_response

log = logging.getLogger("mss.http")
XML = "application/xml; charset=utf-8"
JSON = "application/json; charset=utf-8"
AUTOCONFIG_PATHS = ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml")
AUTODISCOVER_ROUTE = r"/{a:(?i:autodiscover)}/{b:(?i:autodiscover\.xml)}"
OUTLOOK_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MAX_QUERY_FIELDS = 20


def _json(status: int, value: object) -> web.Response:
    body = json.dumps(value, ensure_ascii=False, default=str).encode()
    return web.Response(status=status, body=body, headers={"Content-Type": JSON})


def _xml(status: int, body: bytes) -> web.Response:
    return web.Response(status=status, body=body, headers={"Content-Type": XML})


def peer(request: web.BaseRequest) -> Peer:
    conn = connection_of(request)
    return Peer(request.remote or "unknown", conn.tls, conn.number)


def query(request: web.BaseRequest, name: str, default: str = "") -> str:
    """The first value of a query parameter; 400 beyond `MAX_QUERY_FIELDS` parameters."""
    params = request.query
    if len(params) > MAX_QUERY_FIELDS:
        raise Refusal(400, "too many query parameters")
    return params.get(name, default)


class HttpApp:
    """The pages; `build_app` routes requests to them."""

    def __init__(self, cfg: Config, db: Database, authenticate: Authenticate,
                 metrics: Metrics) -> None:
        self.cfg, self.db, self.metrics = cfg, db, metrics
        self.directory = Directory(db)
        self.auth = ApiAuth(authenticate, cfg.http.api_tokens)
        self.settings = client_settings(cfg)
        self.request_timeout = float(cfg.http.request_timeout)

    async def health(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(2), self.db.read() as s:
                await s.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 (any failure means unhealthy)
            log.warning("healthz: database check failed: %s", type(exc).__name__)
            return text_response(503, "database unavailable")
        return text_response(200, "ok")

    async def show_metrics(self, request: web.Request) -> web.Response:
        active = await self.directory.active()
        self.metrics.entries.set(float(active.imported) if active else 0.0)
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def autoconfig(self, request: web.Request) -> web.Response:
        address = query(request, "emailaddress").strip()
        domain = self.settings.local_domain_of(address) if address else self._host_domain(request)
        if domain is None:
            return text_response(404, "no configuration for this address")
        return _xml(200, mozilla_config(self.settings, domain, address.lower() or None))

    def _host_domain(self, request: web.Request) -> str:
        host = (request.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        host = host.removeprefix("autoconfig.")
        return host if host in self.settings.domains else self.settings.domains[0]

    async def _body(self, request: web.Request) -> bytes:
        try:
            async with asyncio.timeout(self.request_timeout):
                return await request.read()
        except TimeoutError:
            raise Refusal(408, "request timeout", close=True) from None

    async def autodiscover(self, request: web.Request) -> web.Response:
        try:
            address, schema = parse_autodiscover(await self._body(request))
        except AutoconfigError:
            return _xml(400, autodiscover_error("600", "Invalid Request"))
        if schema and schema.rstrip("/") != OUTLOOK_SCHEMA:
            return _xml(400, autodiscover_error("600", "Invalid Request"))
        if self.settings.local_domain_of(address) is None:
            return _xml(404, autodiscover_error("500", "Unknown e-mail address"))
        return _xml(200, autodiscover_response(self.settings, address.lower()))

    async def search(self, request: web.Request) -> web.Response:
        caller_peer = peer(request)
        if not caller_peer.tls:
            return _json(403, {"error": "the directory API is served over TLS only"})
        caller = await self.auth.check(request, caller_peer)
        if caller is None:
            self.metrics.auth_failures.inc()
            return _json_challenge()
        words, limit = _search_params(request, self.cfg.http.search_limit)
        started = time.perf_counter()
        try:
            answer = await self.directory.search(words, limit)
        except QueryError as exc:
            return _json(400, {"error": str(exc)})
        self.metrics.searches.inc()
        self.metrics.search_seconds.observe(time.perf_counter() - started)
        return _json(200, {"query": answer.query, "words": list(answer.words),
                           "version": answer.version, "count": len(answer.results),
                           "results": [r.as_dict() for r in answer.results]})


def _json_challenge() -> web.Response:
    response = _json(401, {"error": "authentication required"})
    response.headers["WWW-Authenticate"] = CHALLENGE
    return response


def _search_params(request: web.Request, default_limit: int) -> tuple[str, int]:
    words = query(request, "q")
    raw_limit = query(request, "limit", str(default_limit))
    if len(words) > 200:
        raise Refusal(400, "query too long")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise Refusal(400, "limit: expected 1 to 100")
    return words, int(raw_limit)


def build_app(pages: HttpApp, limits: HttpLimits) -> web.Application:
    """The aiohttp application: routes, the guard middleware, the body bound."""
    app = web.Application(middlewares=[guard(limits, pages.metrics)],
                          client_max_size=limits.max_body)
    app.router.add_get("/healthz", pages.health)
    app.router.add_get("/metrics", pages.show_metrics)
    for path in AUTOCONFIG_PATHS:
        app.router.add_get(path, pages.autoconfig)
    app.router.add_post(AUTODISCOVER_ROUTE, pages.autodiscover)
    app.router.add_get("/directory/search", pages.search)
    return app
