"""SMTP AUTH mechanisms PLAIN and LOGIN as async handler methods.

aiosmtpd calls `auth_<MECH>(server, args)` on the handler; the password check
is the injected `Authenticate` callable (argon2id verified in a worker thread,
audit and brute-force rules inside it), so hashing never blocks the loop.
aiosmtpd itself refuses AUTH before TLS (`538 5.7.11`) and does not advertise
it there; the mechanisms also check TLS themselves (defence in depth). A login
that could not be checked in time (`LoginUnavailable`) gets `454 4.7.0`; a
login on a BAL that already holds `limits.smtp_max_connections_per_bal`
connections gets `421 4.7.0` and the connection is closed.

Ref: RFC 4954 (SMTP AUTH; 6: 454 4.7.0 temporary authentication failure);
RFC 4616 (PLAIN); R8, R10.
"""

from __future__ import annotations

import base64
import binascii

from aiosmtpd.smtp import AuthResult

from imap_store.store.interfaces import Authenticate, LoginUnavailable

from .protocol import MssSMTP
from .replies import (
    AUTH_FAILED,
    AUTH_MALFORMED,
    AUTH_NOT_TLS,
    AUTH_TEMPORARY,
    TOO_MANY_FOR_MAILBOX,
)


def split_plain(blob: bytes) -> tuple[str, str, str] | None:
    """`authzid NUL authcid NUL passwd` (RFC 4616 2) or None when malformed."""
    parts = blob.split(b"\x00")
    if len(parts) != 3:
        return None
    try:
        authzid, authcid, passwd = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        return None
    return (authzid, authcid, passwd) if authcid and passwd else None


async def _initial(server: MssSMTP, args: list[str], prompt: str) -> bytes | None:
    """The initial response or the answer to a challenge; None once answered with an error."""
    if len(args) > 1:
        if args[1] == "=":
            return b""
        try:
            return base64.b64decode(args[1], validate=True)
        except binascii.Error:
            await server.push(AUTH_MALFORMED.line())
            return None
    reply = await server.challenge_auth(prompt)
    return reply if isinstance(reply, bytes) else None


class SaslMechanisms:
    """Mixin for the gateway handler: PLAIN and LOGIN over an `Authenticate`."""

    authenticate: Authenticate

    async def _login(self, server: MssSMTP, authzid: str, login: str,
                     secret: str) -> AuthResult:
        client = server.client_session()
        if not client.tls:
            return AuthResult(success=False, handled=False, message=AUTH_NOT_TLS.line())
        try:
            principal = await self.authenticate(login, secret, client.peer_ip, authzid=authzid)
        except LoginUnavailable:  # RFC 4954 6: 454 4.7.0, the client may try again later
            return AuthResult(success=False, handled=False, message=AUTH_TEMPORARY.line())
        if principal is None:
            return AuthResult(success=False, handled=False, message=AUTH_FAILED.line())
        if not server.admit_login(principal):  # the BAL holds its maximum of connections
            server.close_with(TOO_MANY_FOR_MAILBOX)
            return AuthResult(success=False, handled=True)
        return AuthResult(success=True, auth_data=principal)

    async def auth_PLAIN(self, server: MssSMTP, args: list[str]) -> AuthResult:
        blob = await _initial(server, args, "")
        if blob is None:
            return AuthResult(success=False, handled=True)
        parts = split_plain(blob)
        if parts is None:
            return AuthResult(success=False, handled=False, message=AUTH_MALFORMED.line())
        return await self._login(server, *parts)

    async def auth_LOGIN(self, server: MssSMTP, args: list[str]) -> AuthResult:
        user = await _initial(server, args, "Username:")
        if user is None:
            return AuthResult(success=False, handled=True)
        secret = await server.challenge_auth("Password:")
        if not isinstance(secret, bytes):
            return AuthResult(success=False, handled=True)
        try:
            return await self._login(server, "", user.decode(), secret.decode())
        except UnicodeDecodeError:
            return AuthResult(success=False, handled=False, message=AUTH_MALFORMED.line())
