"""A few counters and gauges, exposed in the Prometheus text format at `/metrics`.

Owns: `Metrics` (in-process counters with labels, gauges computed at scrape
time) and its rendering. No label ever carries an address, a login or a query
(they are personal data): labels are status codes and route names only.

Ref: Prometheus exposition format 0.0.4; R24 (no content in logs or
metrics).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Gauge = Callable[[], Awaitable[float]]
HELP = {
    "http_requests_total": "HTTP requests answered, by status code",
    "http_connections_refused_total": "HTTP connections refused over max_connections",
    "http_auth_failures_total": "directory API requests refused for bad credentials",
    "directory_searches_total": "directory searches answered",
    "directory_search_seconds_sum": "time spent answering directory searches",
}


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


@dataclass
class Metrics:
    """Counters (`count`, `add`) and gauges (`gauge`), rendered by `render`."""

    started: float = field(default_factory=time.time)
    _counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    _gauges: dict[str, tuple[str, Gauge]] = field(default_factory=dict)

    def add(self, name: str, amount: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        self._counters[key] = self._counters.get(key, 0.0) + amount

    def count(self, name: str, **labels: str) -> None:
        self.add(name, 1.0, **labels)

    def value(self, name: str, **labels: str) -> float:
        return self._counters.get((name, tuple(sorted(labels.items()))), 0.0)

    def gauge(self, name: str, help_text: str, read: Gauge) -> None:
        self._gauges[name] = (help_text, read)

    async def render(self) -> str:
        lines: list[str] = []
        for name in sorted({n for n, _ in self._counters}):
            lines += [f"# HELP mss_{name} {HELP.get(name, name)}", f"# TYPE mss_{name} counter"]
            lines += [f"mss_{n}{_labels(dict(lb))} {v:g}"
                      for (n, lb), v in sorted(self._counters.items()) if n == name]
        for name, (help_text, read) in sorted(self._gauges.items()):
            lines += [f"# HELP mss_{name} {help_text}", f"# TYPE mss_{name} gauge",
                      f"mss_{name} {await read():g}"]
        return "\n".join(lines) + "\n"
