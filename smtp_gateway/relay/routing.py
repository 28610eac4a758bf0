"""Where mail for a remote domain goes: `[relay] transport` first, then DNS MX.

Owns: `Route` and `routes_for`.

Invariants:
- a domain named in the transport map goes to that `host:port` only;
- otherwise the domain's MX hosts in preference order (RFC 5321 5.1), port
  25; with no MX record, the domain itself (the implicit MX);
- DNS needs the optional `dnspython`; without it, or when the look-up fails
  for the moment, there is no route now (`NoRoute`, a temporary failure).

Ref: RFC 5321 5.1 (locating the target host), 4.5.4 (retries).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


class NoRoute(Exception):
    """No host to try now (a temporary failure)."""


@dataclass(frozen=True)
class Route:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_route(text: str) -> Route:
    """`host:port` (an IPv6 literal in brackets); ValueError when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {text!r}")
    return Route(host.strip("[]"), int(port))


async def _mx_hosts(domain: str) -> list[Route]:
    try:
        resolver: Any = importlib.import_module("dns.asyncresolver")
        exceptions: Any = importlib.import_module("dns.resolver")
    except ImportError:
        raise NoRoute("no transport for this domain and no DNS resolver (dnspython) "
                      "installed") from None
    try:
        answer = await resolver.resolve(domain, "MX")
    except exceptions.NoAnswer:
        return [Route(domain, 25)]
    except Exception as exc:
        raise NoRoute(f"MX look-up for {domain} failed: {type(exc).__name__}") from None
    records = sorted(answer, key=lambda r: r.preference)
    return [Route(str(r.exchange).rstrip("."), 25) for r in records]


async def routes_for(domain: str, transport: dict[str, str]) -> list[Route]:
    """The hosts to try for `domain`, in order."""
    if domain in transport:
        return [parse_route(transport[domain])]
    return await _mx_hosts(domain)
