"""The HTTP listener's metrics, through prometheus-client, exposed at `/metrics`.

Owns: `Metrics`, one `CollectorRegistry` per listener (never the library's
global one, so two listeners in one process, as in the tests, never share or
collide) with the counters, the summary and the gauges; `render()` is the
library's `generate_latest` of that registry, served as `CONTENT_TYPE`.

Invariants: no label ever carries an address, a login, a path or a query
(they are personal data): the only label is the status code. The gauges that
need the database (`mss_directory_entries`) are set by the `/metrics` page just
before rendering; the others are read at scrape time.

Ref: Prometheus text exposition format; R24 (no content in logs or metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Summary,
    generate_latest,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The listener's counters and gauges, in a registry of their own."""

    def __init__(self) -> None:
        self.started = time.time()
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter("mss_http_requests", "HTTP requests answered, by status code",
                                ["status"], registry=reg)
        self.refused = Counter("mss_http_connections_refused",
                               "HTTP connections refused over max_connections", registry=reg)
        self.auth_failures = Counter("mss_http_auth_failures",
                                     "directory API requests refused for bad credentials",
                                     registry=reg)
        self.searches = Counter("mss_directory_searches", "directory searches answered",
                                registry=reg)
        self.search_seconds = Summary("mss_directory_search_seconds",
                                      "time spent answering directory searches", registry=reg)
        self.entries = Gauge("mss_directory_entries", "entries in the served directory version",
                             registry=reg)
        self.connections = Gauge("mss_http_connections", "open HTTP connections", registry=reg)
        uptime = Gauge("mss_uptime_seconds", "seconds since the HTTP listener started",
                       registry=reg)
        uptime.set_function(lambda: time.time() - self.started)

    def answered(self, status: int) -> None:
        self.requests.labels(status=str(status)).inc()

    def count_connections(self, read: Callable[[], int]) -> None:
        self.connections.set_function(lambda: float(read()))

    def render(self) -> bytes:
        return generate_latest(self.registry)
