"""A tiny DNS server for the relay's routing tests: UDP on 127.0.0.1, built with
dnspython's message API, answering from a dictionary the test fills.

`names[name][rdtype]` lists the records of `name` as zone-file text (`"10
mx1.example."` for MX); a name absent from `names` is NXDOMAIN; a name
present without the asked type gets an empty NOERROR answer (no data);
`failures[name]` makes every question about it end in `"SERVFAIL"` or
`"TIMEOUT"` (no answer at all), and `otherwise` does the same for every name
absent from `names` ("": NXDOMAIN). `resolver()` is dnspython's real asyncio
resolver pointed at this server, so the tests exercise the same dnspython
path as production.

Ref: RFC 1035 4 (messages), RFC 2308 2 (NXDOMAIN and no-data answers).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import dns.asyncresolver
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


@dataclass
class DnsServer(asyncio.DatagramProtocol):
    names: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    questions: list[tuple[str, str]] = field(default_factory=list)
    otherwise: str = ""
    port: int = 0
    _transport: Any = None

    async def start(self) -> DnsServer:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0))
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def resolver(self) -> dns.asyncresolver.Resolver:
        res = dns.asyncresolver.Resolver(configure=False)
        res.nameservers = ["127.0.0.1"]
        res.port = self.port
        res.timeout, res.lifetime = 0.5, 1.0
        return res

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.questions.append((name, rdtype))
        failure = self.failures.get(name, "" if name in self.names else self.otherwise)
        if failure == "TIMEOUT":
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if failure == "SERVFAIL":
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in self.names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif self.names[name].get(rdtype):
            response.answer.append(dns.rrset.from_text_list(
                question.name, 300, "IN", rdtype, self.names[name][rdtype]))
        assert self._transport is not None
        self._transport.sendto(response.to_wire(), addr)
