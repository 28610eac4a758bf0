"""Who may use the directory API: a BAL's credentials (HTTP Basic) or a bearer token.

Owns: `ApiAuth.check(request, peer) -> Caller | None`, `Peer` (who is on a
connection) and the `WWW-Authenticate` challenge.

Invariants:
- Credentials are read only on a TLS connection; the caller refuses plain
  HTTP (403) before calling `check`, so a password sent in clear is never
  even decoded (R8).
- Basic credentials go through the store's one `Authenticate` (built by the
  composition root: argon2id off the event loop, audit, lockout); a
  connection that already proved the same credentials is not asked again (a
  keyed digest is cached per connection, never the password).
- Bearer tokens are compared as SHA-256 digests (`[http] api_tokens`) in
  constant time; the configuration never holds a token itself.
- A request with more than one `Authorization` field is refused (400).
- Credentials that could not be checked in time (`LoginUnavailable`) get 503
  (RFC 9110 15.6.4, a temporary condition), never 401.

Ref: RFC 7617 (Basic, UTF-8), RFC 6750 2.1 (Bearer), RFC 9110 11.6.1;
R8, R9, R10, R24.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web

from imap_store.store.interfaces import Authenticate, LoginUnavailable

from .replies import Refusal

CHALLENGE = 'Basic realm="mss-directory", charset="UTF-8", Bearer realm="mss-directory"'
MAX_CACHED = 1024
MAX_CREDENTIALS = 1024


@dataclass(frozen=True)
class Peer:
    """The client of one connection: address, whether TLS protects it, connection number."""

    ip: str
    tls: bool
    connection: int


@dataclass(frozen=True)
class Caller:
    """An authenticated user of the API: a BAL (and person) or a token."""

    kind: str
    name: str
    person: str | None = None


class ApiAuth:
    """Checks the `Authorization` field of a request on a TLS connection."""

    def __init__(self, authenticate: Authenticate, token_digests: tuple[str, ...]) -> None:
        self._authenticate = authenticate
        self._tokens = tuple(bytes.fromhex(d) for d in token_digests)
        self._key = secrets.token_bytes(32)
        self._proved: OrderedDict[tuple[int, bytes], Caller] = OrderedDict()

    async def check(self, request: web.BaseRequest, peer: Peer) -> Caller | None:
        fields = request.headers.getall("Authorization", [])
        if len(fields) > 1:
            raise Refusal(400, "repeated Authorization header")
        header = fields[0] if fields else ""
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if not value or len(value) > MAX_CREDENTIALS:
            return None
        if scheme.lower() == "bearer":
            return self._bearer(value)
        if scheme.lower() == "basic":
            return await self._basic(value, peer)
        return None

    def _bearer(self, token: str) -> Caller | None:
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        matched = [hmac.compare_digest(digest, known) for known in self._tokens]
        if not any(matched):
            return None
        return Caller("token", f"token-{digest.hex()[:8]}")

    async def _basic(self, value: str, peer: Peer) -> Caller | None:
        raw = value.encode("utf-8", "surrogateescape")
        key = (peer.connection, hmac.digest(self._key, raw, "sha256"))
        if key in self._proved:
            self._proved.move_to_end(key)
            return self._proved[key]
        try:
            login, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
            return None
        try:
            principal = await self._authenticate(login, password, peer.ip) if sep else None
        except LoginUnavailable:
            raise Refusal(503, "authentication temporarily unavailable") from None
        if principal is None:
            return None
        caller = Caller("bal", principal.address, principal.person)
        self._proved[key] = caller
        if len(self._proved) > MAX_CACHED:
            self._proved.popitem(last=False)
        return caller
