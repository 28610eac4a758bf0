"""DKIM with dkimpy: the operator's signature on outbound mail, verification of inbound mail.

Owns: `DkimVerifier` (the MX's check of one message: its outcome and the
`Authentication-Results` field to prepend; `resolve` is the replaceable
key lookup), `DkimSigner` (signs a message with the operator key for one of its
domains; the relay calls `signed` before sending), `verify` (checks every
DKIM-Signature of a message, its key records fetched by an asynchronous
`TxtResolver` that tests replace), `DkimOutcome` (the results, read by the
policy rule `policy.dkim` through `DataContext.dkim`), and
`authentication_results` (the `Authentication-Results` field to prepend,
RFC 8601). `dns_resolver` is the production resolver (dnspython's asyncio
resolver). The fields a sender wrote in our name are removed by the handler
(`message.auth_results`, RFC 8601 5), after verification read the message as
received.

How verification runs: the key records of all signatures are fetched first,
concurrently, on the event loop (the only I/O); then dkimpy verifies each
signature, in a worker thread above `VERIFY_ON_LOOP_MAX` octets, with a DNS
function that answers from what was fetched. So no blocking DNS call runs
at all (dkimpy's own `verify_async` would hash on the loop and needs aiodns).

Measured once (2 cores, RSA-2048, dkimpy's pure-Python RSA and relaxed
canonicalization): signing costs ~10 ms whatever the size (37 ms at 128 KB,
0.85 s at 10 MB), so it always runs in a worker thread; verifying costs
~1 ms up to 16 KB, 5 ms at 64 KB, 19 ms at 128 KB, 1.2 s at 10 MB, so it
stays on the loop up to 32 KB only.

Invariants:
- per signature the result is one of RFC 8601's `pass`, `fail` (the
  signature or body hash does not verify), `permerror` (malformed
  signature, no or bad key record), `temperror` (the key could not be
  fetched in time); a message without a signature is `none`;
- at most `MAX_SIGNATURES` signatures are checked (the first ones), each key
  record lookup is bounded by `timeout`;
- dkimpy's own log lines never reach the server log (a forged message
  must not raise errors in it); the outcome carries the reasons;
- signing never changes the message: `signed` only prepends the
  DKIM-Signature field (relaxed/relaxed canonicalization, RSA-SHA256,
  dkimpy's default header list, which signs From twice so that no From can
  be added).

Ref: RFC 6376 (DKIM; 3.5 tags, 3.7 verification, 6.1 results), RFC 8601
(Authentication-Results; 2.7.1 dkim results), RFC 8463 not used (RSA only).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import dkim

from imap_store.store.offload import by_size, off_loop

MAX_SIGNATURES = 5
DEFAULT_TIMEOUT = 5.0
VERIFY_ON_LOOP_MAX = 32 * 1024

TxtResolver = Callable[[str], Awaitable[bytes | None]]
"""`selector._domainkey.domain.` -> the TXT record's text (strings joined), None when
there is none; raises `DnsUnavailable` when the answer could not be had."""

_dkimpy_log = logging.getLogger("mss.dkim.dkimpy")
_dkimpy_log.propagate = False
_dkimpy_log.disabled = True


class DnsUnavailable(Exception):
    """A key record lookup that failed temporarily (timeout, server failure)."""


async def dns_resolver(name: str, timeout: float = DEFAULT_TIMEOUT) -> bytes | None:
    """The TXT record of `name` from the system's DNS servers (dnspython, asyncio)."""
    import dns.asyncresolver
    import dns.exception
    import dns.resolver

    try:
        answer = await dns.asyncresolver.resolve(name, "TXT", lifetime=timeout,
                                                 raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return None
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise DnsUnavailable(str(exc)) from exc
    for rrset in answer.response.answer:
        for record in rrset:
            strings = getattr(record, "strings", None)
            if strings is not None:
                return b"".join(strings)
    return None


@dataclass(frozen=True)
class SignatureResult:
    """The result of one DKIM-Signature (RFC 8601 2.7.1)."""

    result: str
    domain: str = ""
    selector: str = ""
    b: str = ""
    """The first characters of its `b=` value (RFC 6008), telling signatures apart."""
    reason: str = ""


@dataclass(frozen=True)
class DkimOutcome:
    """Every checked signature of one message; `status` sums them up for the policy."""

    signatures: tuple[SignatureResult, ...] = ()

    @property
    def status(self) -> str:
        """`pass` if any signature passes, else the first of temperror, fail,
        permerror found, else `none` (no signature)."""
        results = {s.result for s in self.signatures}
        for result in ("pass", "temperror", "fail", "permerror"):
            if result in results:
                return result
        return "none"

    @property
    def detail(self) -> str:
        """One line for the audit: each signature's result, domain and reason."""
        return "; ".join(f"{s.result} d={s.domain} s={s.selector}"
                         + (f" ({s.reason})" if s.reason else "") for s in self.signatures)


def _text(value: bytes | None) -> str:
    return value.decode("ascii", "replace") if value else ""


def _signature_tags(message: bytes) -> list[dict[bytes, bytes] | None]:
    """The parsed tags of each DKIM-Signature (None for one that does not parse)."""
    checker = dkim.DKIM(message, logger=_dkimpy_log)
    count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
    tags: list[dict[bytes, bytes] | None] = []
    for idx in range(min(count, MAX_SIGNATURES)):
        try:
            prep = checker.verify_headerprep(idx)
            tags.append(prep[0] if prep else None)
        except dkim.DKIMException:
            tags.append(None)
    return tags


def _key_name(tags: dict[bytes, bytes]) -> str:
    return f"{_text(tags[b's'])}._domainkey.{_text(tags[b'd'])}."


def _verify_all(message: bytes, tags: list[dict[bytes, bytes] | None],
                records: dict[str, bytes | None | DnsUnavailable]) -> tuple[SignatureResult, ...]:
    """dkimpy's verification of each signature, keys answered from `records`."""
    def answer(name: bytes | str, timeout: float = DEFAULT_TIMEOUT) -> bytes | None:
        key = name.decode() if isinstance(name, bytes) else name
        found = records.get(key)
        if isinstance(found, DnsUnavailable):
            raise dkim.DnsTimeoutError(str(found))
        return found

    out: list[SignatureResult] = []
    for idx, sig in enumerate(tags):
        if sig is None:
            out.append(SignatureResult("permerror", reason="malformed signature"))
            continue
        base = {"domain": _text(sig.get(b"d")), "selector": _text(sig.get(b"s")),
                "b": _text(sig.get(b"b", b"").replace(b" ", b""))[:8]}
        found = records.get(_key_name(sig))
        if isinstance(found, DnsUnavailable):
            out.append(SignatureResult("temperror", reason="key lookup failed", **base))
            continue
        if found is None:
            out.append(SignatureResult("permerror", reason="no key record", **base))
            continue
        try:
            dkim.evaluate_pk(_key_name(sig).encode(), found)
        except dkim.DKIMException as exc:
            out.append(SignatureResult("permerror", reason=f"bad key record: {exc}"[:200],
                                       **base))
            continue
        try:
            checker = dkim.DKIM(message, logger=_dkimpy_log)
            ok = checker.verify(idx=idx, dnsfunc=answer)
        except dkim.DnsTimeoutError:
            out.append(SignatureResult("temperror", reason="key lookup failed", **base))
            continue
        except dkim.ValidationError as exc:  # the body hash (or a signed value) differs
            out.append(SignatureResult("fail", reason=str(exc).split(" (")[0][:120], **base))
            continue
        except dkim.DKIMException as exc:
            out.append(SignatureResult("permerror", reason=str(exc)[:200], **base))
            continue
        out.append(SignatureResult("pass", **base) if ok else
                   SignatureResult("fail", reason="signature did not verify", **base))
    return tuple(out)


async def verify(message: bytes, resolve: TxtResolver,
                 timeout: float = DEFAULT_TIMEOUT) -> DkimOutcome:
    """The DKIM results of `message` (bytes as received, trace fields of ours not added)."""
    tags = await by_size(len(message), _signature_tags, message)  # header parsing only
    if not tags:
        return DkimOutcome()
    names = sorted({_key_name(t) for t in tags if t is not None})

    async def fetch(name: str) -> bytes | None | DnsUnavailable:
        try:
            return await asyncio.wait_for(resolve(name), timeout)
        except (DnsUnavailable, TimeoutError) as exc:
            return DnsUnavailable(str(exc) or "timeout")

    answers = await asyncio.gather(*(fetch(n) for n in names))
    records = dict(zip(names, answers, strict=True))
    if len(message) <= VERIFY_ON_LOOP_MAX:
        results = _verify_all(message, tags, records)
    else:
        results = await off_loop(_verify_all, message, tags, records)
    return DkimOutcome(results)


def _printable(value: str) -> str:
    return "".join(c for c in value if c.isascii() and c.isprintable() and c not in '"\\')


def _ptext(value: str) -> str:
    """A value as RFC 8601 allows it after `header.d=` and the like (a token, or quoted)."""
    cleaned = _printable(value)
    return cleaned if cleaned and all(c.isalnum() or c in ".-_+/=" for c in cleaned) \
        else f'"{cleaned}"'


def authentication_results(outcome: DkimOutcome, authserv_id: str) -> bytes:
    """The `Authentication-Results` field (with CRLF) stating `outcome` (RFC 8601)."""
    if not outcome.signatures:
        parts = ["dkim=none"]
    else:
        parts = []
        for s in outcome.signatures:
            item = f"dkim={s.result}"
            if s.reason and s.result != "pass":
                item += f' reason="{_printable(s.reason)[:120]}"'
            if s.domain:
                item += f" header.d={_ptext(s.domain)}"
            if s.selector:
                item += f" header.s={_ptext(s.selector)}"
            if s.b:
                item += f" header.b={_ptext(s.b)}"
            parts.append(item)
    return (f"Authentication-Results: {authserv_id};\r\n\t"
            + ";\r\n\t".join(parts) + "\r\n").encode("ascii", "replace")


@dataclass
class DkimVerifier:
    """The MX's DKIM check: `resolve` fetches key records (tests replace it), results
    are stated under `authserv_id` (our host name, RFC 8601 2.5)."""

    authserv_id: str
    resolve: TxtResolver = dns_resolver
    timeout: float = DEFAULT_TIMEOUT

    async def check(self, message: bytes) -> tuple[DkimOutcome, bytes]:
        """The outcome for `message` and the `Authentication-Results` field stating it."""
        outcome = await verify(message, self.resolve, self.timeout)
        return outcome, authentication_results(outcome, self.authserv_id)


@dataclass(frozen=True)
class DkimSigner:
    """The operator key and selector (`[dkim]`); signs for any of the operator's domains."""

    selector: str
    private_key: bytes
    """PKCS#1 PEM, as `mss dkim keygen` writes it."""

    def signature(self, message: bytes, domain: str) -> bytes:
        """The DKIM-Signature field (with CRLF) of `message` for `domain`."""
        signer = dkim.DKIM(message, logger=_dkimpy_log, linesep=b"\r\n")
        field: bytes = signer.sign(self.selector.encode(), domain.encode(), self.private_key,
                                   canonicalize=(b"relaxed", b"relaxed"))
        return field

    async def signed(self, message: bytes, domain: str) -> bytes:
        """`message` with its signature prepended (in a worker thread: the RSA operation
        alone takes ~10 ms)."""
        field = await off_loop(partial(self.signature, domain=domain), message)
        return field + message


def signing_domain(sender: str, domains: frozenset[str]) -> str | None:
    """The domain to sign for: the envelope sender's, when it is one of ours."""
    domain = sender.rpartition("@")[2].lower()
    return domain if domain in domains else None
