"""What the HTTP listener serves: health, metrics, autoconfiguration, directory API.

Owns: `HttpApp`, the request handler: routing, and the pages themselves.

| path | methods | over |
| --- | --- | --- |
| `/healthz`, `/metrics` | GET, HEAD | plain or TLS |
| `/mail/config-v1.1.xml` and `/.well-known/autoconfig/...` (same) | GET, HEAD | both |
| `/autodiscover/autodiscover.xml` (any case) | POST | plain or TLS |
| `/directory/search?q=&limit=` | GET | TLS only, authenticated |

Invariants: the directory API answers 403 on a plain connection without
looking at credentials, 401 with a challenge without valid ones; an unknown
path is 404, a known path with another method 405 with `Allow`.

Ref: R8, R11, R14; RFC 9110 15.5.6 (405 and Allow), RFC 7617.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text

from directory.service import Directory, QueryError
from imap_store.store.db import Database
from server.config import Config

from .auth import CHALLENGE, ApiAuth, Authenticate
from .autoconfig import (
    AutoconfigError,
    autodiscover_error,
    autodiscover_response,
    client_settings,
    mozilla_config,
    parse_autodiscover,
)
from .listener import Peer
from .metrics import Metrics
from .wire import HttpError, Request, Response, text_response

log = logging.getLogger("mss.http")
XML = "application/xml; charset=utf-8"
AUTOCONFIG_PATHS = ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml")
AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"
Page = Callable[[Request, Peer], Awaitable[Response]]


def _json(status: int, value: object) -> Response:
    body = json.dumps(value, ensure_ascii=False, default=str).encode()
    return Response(status, body, "application/json; charset=utf-8")


class HttpApp:
    """The request handler given to the listener."""

    def __init__(self, cfg: Config, db: Database, authenticate: Authenticate,
                 metrics: Metrics) -> None:
        self.cfg, self.db, self.metrics = cfg, db, metrics
        self.directory = Directory(db)
        self.auth = ApiAuth(authenticate, cfg.http.api_tokens)
        self.settings = client_settings(cfg)
        self.routes: dict[str, dict[str, Page]] = {
            "/healthz": {"GET": self.health}, "/metrics": {"GET": self.show_metrics},
            AUTODISCOVER_PATH: {"POST": self.autodiscover},
            "/directory/search": {"GET": self.search},
            **{p: {"GET": self.autoconfig} for p in AUTOCONFIG_PATHS}}

    async def __call__(self, request: Request, peer: Peer) -> Response:
        path = request.path.lower() if request.path.lower() == AUTODISCOVER_PATH else request.path
        methods = self.routes.get(path)
        if methods is None:
            return text_response(404)
        page = methods.get("GET" if request.method == "HEAD" else request.method)
        if page is None:
            allowed = ", ".join(sorted({*methods, *(("HEAD",) if "GET" in methods else ())}))
            return Response(405, b"method not allowed\n", headers=[("Allow", allowed)])
        return await page(request, peer)

    async def health(self, request: Request, peer: Peer) -> Response:
        try:
            async with asyncio.timeout(2), self.db.read() as s:
                await s.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 (any failure means unhealthy)
            log.warning("healthz: database check failed: %s", type(exc).__name__)
            return text_response(503, "database unavailable")
        return text_response(200, "ok")

    async def show_metrics(self, request: Request, peer: Peer) -> Response:
        body = (await self.metrics.render()).encode()
        return Response(200, body, "text/plain; version=0.0.4; charset=utf-8")

    async def autoconfig(self, request: Request, peer: Peer) -> Response:
        address = (request.query.get("emailaddress") or [""])[0].strip()
        domain = self.settings.domain_of(address) if address else self._host_domain(request)
        if domain is None:
            return text_response(404, "no configuration for this address")
        body = mozilla_config(self.settings, domain, address.lower() or None)
        return Response(200, body, XML)

    def _host_domain(self, request: Request) -> str:
        host = (request.header("host") or "").rsplit(":", 1)[0].lower()
        host = host.removeprefix("autoconfig.")
        return host if host in self.settings.domains else self.settings.domains[0]

    async def autodiscover(self, request: Request, peer: Peer) -> Response:
        try:
            address, schema = parse_autodiscover(request.body)
        except AutoconfigError:
            return Response(400, autodiscover_error("600", "Invalid Request"), XML)
        if schema and schema.rstrip("/") != "http://schemas.microsoft.com/exchange/" \
                "autodiscover/outlook/responseschema/2006a":
            return Response(400, autodiscover_error("600", "Invalid Request"), XML)
        if self.settings.domain_of(address) is None:
            return Response(404, autodiscover_error("500", "Unknown e-mail address"), XML)
        return Response(200, autodiscover_response(self.settings, address.lower()), XML)

    async def search(self, request: Request, peer: Peer) -> Response:
        if not peer.tls:
            return _json(403, {"error": "the directory API is served over TLS only"})
        caller = await self.auth.check(request, peer)
        if caller is None:
            self.metrics.count("http_auth_failures_total")
            response = _json(401, {"error": "authentication required"})
            response.headers.append(("WWW-Authenticate", CHALLENGE))
            return response
        query, limit = _search_params(request, self.cfg.http.search_limit)
        started = time.perf_counter()
        try:
            answer = await self.directory.search(query, limit)
        except QueryError as exc:
            return _json(400, {"error": str(exc)})
        self.metrics.count("directory_searches_total")
        self.metrics.add("directory_search_seconds_sum", time.perf_counter() - started)
        return _json(200, {"query": answer.query, "words": list(answer.words),
                           "version": answer.version, "count": len(answer.results),
                           "results": [r.as_dict() for r in answer.results]})


def _search_params(request: Request, default_limit: int) -> tuple[str, int]:
    params = request.query
    query = (params.get("q") or [""])[0]
    raw_limit = (params.get("limit") or [str(default_limit)])[0]
    if len(query) > 200:
        raise HttpError(400, "query too long")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise HttpError(400, "limit: expected 1 to 100")
    return query, int(raw_limit)
