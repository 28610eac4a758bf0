"""Where mail for a remote domain goes: `[relay] transport` first, then DNS MX.

Owns: `Route`, `routes_for`, the two ways of having no route (`NoRoute`, for
now; `Unroutable`, for good) and `Resolver` (what is asked about DNS; by
default dnspython's asyncio resolver with the system's configuration, and a
resolver pointed at a test name server in tests).

Invariants:
- a domain named in the transport map goes to that `host:port` only;
- otherwise the domain's MX hosts, lowest preference first, hosts of equal
  preference in random order (RFC 5321 5.1), at most `MAX_ROUTES`, each on
  port `mx_port` (`[relay] mx_port`, 25 unless a test moves it);
- no MX record (the name exists, the answer is empty): the domain itself is
  the implicit MX, provided it has an A or AAAA record (RFC 5321 5.1);
- permanent (`Unroutable`: the sender is told at once, RFC 5321 5.1 "MUST
  be reported as an error"): the domain does not exist (NXDOMAIN); it has no
  MX and no address; it publishes a null MX (`0 .`: it accepts no mail,
  RFC 7505 3, whatever other MX it lists);
- temporary (`NoRoute`: the message waits for the next attempt, RFC 5321
  4.5.4.1): a time-out, SERVFAIL or any other failure of the look-up, and no
  DNS resolver (dnspython missing or no resolver configuration).

Ref: RFC 5321 5.1 (locating the target host), 4.5.4 (retries); RFC 7505 (null MX).
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

MAX_ROUTES = 10
"""At most this many MX hosts are tried per attempt (a bound on a peer's DNS answer)."""


class NoRoute(Exception):
    """No host to try now (a temporary failure)."""


class Unroutable(Exception):
    """The domain accepts no mail, or does not exist (a permanent failure); `status`
    is the enhanced code of the failure report (RFC 3463 3.2, RFC 7505 4.2)."""

    def __init__(self, reason: str, status: str = "5.1.2") -> None:
        super().__init__(reason)
        self.status = status


class Resolver(Protocol):
    """The one DNS operation used: dnspython's `asyncresolver.Resolver.resolve`."""

    async def resolve(self, qname: str, rdtype: str) -> Iterable[Any]: ...


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


def _dns() -> tuple[Any, Any]:
    """dnspython's resolver exceptions and its default asyncio resolver."""
    try:
        exceptions: Any = importlib.import_module("dns.resolver")
        asyncresolver: Any = importlib.import_module("dns.asyncresolver")
    except ImportError:
        raise NoRoute("no transport for this domain and no DNS resolver (dnspython) "
                      "installed") from None
    return exceptions, asyncresolver


class _Lookup:
    """The look-ups for one domain, their failures sorted into permanent and temporary."""

    def __init__(self, domain: str, resolver: Resolver | None) -> None:
        self.domain = domain
        self.errors, asyncresolver = _dns()
        if resolver is None:
            try:
                resolver = asyncresolver.get_default_resolver()
            except Exception as exc:  # no /etc/resolv.conf or no name server in it
                raise NoRoute(f"no DNS resolver configured: {type(exc).__name__}") from None
        self.resolver: Any = resolver

    async def records(self, rdtype: str) -> list[Any] | None:
        """The records of `rdtype`; None when the name exists without any."""
        try:
            return list(await self.resolver.resolve(self.domain, rdtype))
        except self.errors.NoAnswer:
            return None
        except self.errors.NXDOMAIN:
            raise Unroutable(f"domain {self.domain} does not exist (NXDOMAIN)") from None
        except Exception as exc:  # time-out, SERVFAIL, no name server answered
            raise NoRoute(f"{rdtype} look-up for {self.domain} failed: "
                          f"{type(exc).__name__}") from None


async def _mx_routes(domain: str, port: int, resolver: Resolver | None) -> list[Route]:
    lookup = _Lookup(domain, resolver)
    records = await lookup.records("MX")
    if records is None:  # RFC 5321 5.1: the implicit MX, if the domain has an address
        if await lookup.records("A") is None and await lookup.records("AAAA") is None:
            raise Unroutable(f"domain {domain} has no MX and no address record")
        return [Route(domain, port)]
    if any(str(r.exchange) == "." for r in records):  # RFC 7505 3
        raise Unroutable(f"domain {domain} accepts no mail (null MX)", "5.1.10")
    ordered = sorted(records, key=lambda r: (r.preference, random.random()))  # noqa: S311
    return [Route(str(r.exchange).rstrip("."), port) for r in ordered[:MAX_ROUTES]]


async def routes_for(domain: str, transport: dict[str, str], *, mx_port: int = 25,
                     resolver: Resolver | None = None) -> list[Route]:
    """The hosts to try for `domain`, in order; `Unroutable` or `NoRoute` when none."""
    if domain in transport:
        return [parse_route(transport[domain])]
    return await _mx_routes(domain, mx_port, resolver)
