"""Commands of the not-authenticated state: STARTTLS, LOGIN, AUTHENTICATE.

Invariants:
- without TLS, LOGIN and AUTHENTICATE are refused with `NO [PRIVACYREQUIRED]`
  from every address, loopback included, and the connection stays open
  (R8: LOGINDISABLED before STARTTLS);
- every failed authentication, whatever the reason, gets the same reply
  `NO [AUTHENTICATIONFAILED] Authentication failed`; the backend's callable
  audits it and applies the brute-force rules; an attempt it could not check
  in time (`LoginUnavailable`) gets `NO [UNAVAILABLE]`, a temporary failure;
- STARTTLS answers OK itself, then the channel discards any pipelined
  plaintext before the handshake (RFC 3501 11.1, CVE-2011-0411 class);
- a login on a BAL that already holds its maximum of connections gets
  `NO [UNAVAILABLE]` after the channel's `* BYE`, and the connection ends.

Ref: RFC 3501 6.2.1-6.2.3, RFC 4616 (PLAIN), RFC 4959 (SASL-IR),
RFC 5530 (PRIVACYREQUIRED, AUTHENTICATIONFAILED, UNAVAILABLE); RFC 4616 (authzid =
the BAL a person acts on, checked by the authenticate callable with the grants).
"""

from __future__ import annotations

import binascii

from imap_store.imap.errors import CommandBad, CommandNo
from imap_store.imap.parse.command import AuthenticateArgs, Command, LoginArgs
from imap_store.imap.render.response import Atom, Continuation, Tagged, code
from imap_store.imap.session import Completion, Handler, ImapSession, args_of
from imap_store.store.interfaces import Authenticate, LoginUnavailable, Principal


def _auth_failed() -> CommandNo:
    return CommandNo("Authentication failed", code("AUTHENTICATIONFAILED"))


def _require_tls(session: ImapSession) -> None:
    if not session.channel.tls_active:
        # RFC 3501 6.2.3 (LOGINDISABLED), RFC 5530 3 (PRIVACYREQUIRED); R8.
        raise CommandNo("Use STARTTLS first", code("PRIVACYREQUIRED"))


async def starttls(session: ImapSession, command: Command) -> None:
    """STARTTLS (RFC 3501 6.2.1)."""
    if session.channel.tls_active:
        raise CommandBad("TLS is already active")
    await session.send(Tagged(command.tag, "OK", "Begin TLS negotiation now"))
    # RFC 3501 11.1: the channel drops any pipelined plaintext before the handshake.
    await session.channel.start_tls()


async def login(session: ImapSession, command: Command) -> Completion:
    """LOGIN (RFC 3501 6.2.3)."""
    args = args_of(command, LoginArgs)
    _require_tls(session)
    return _logged_in(session, await _check(session.backend.authenticate, args.username,
                                            args.password, session.channel.peer))


async def _check(auth: Authenticate, login: str, secret: str, peer: str,
                 authzid: str = "") -> Principal | None:
    try:
        return await auth(login, secret, peer, authzid=authzid)
    except LoginUnavailable:
        # RFC 5530 3: UNAVAILABLE, a temporary failure; the client may try again later.
        raise CommandNo("Authentication temporarily unavailable, try again later",
                        code("UNAVAILABLE")) from None


def _logged_in(session: ImapSession, principal: Principal | None) -> Completion:
    if principal is None:
        raise _auth_failed()
    if not session.channel.admit_login(principal):  # RFC 5530 3: UNAVAILABLE
        raise CommandNo("Too many connections for this mailbox", code("UNAVAILABLE"))
    session.log_in(principal)
    caps = tuple(Atom(name) for name in session.capabilities())
    # RFC 3501 7.1: the tagged OK carries the capabilities after login.
    return Completion("Logged in", code("CAPABILITY", *caps))


async def authenticate(session: ImapSession, command: Command) -> Completion:
    """AUTHENTICATE PLAIN, with SASL-IR or one continuation (RFC 3501 6.2.2)."""
    args = args_of(command, AuthenticateArgs)
    _require_tls(session)
    if args.mechanism != "PLAIN":
        raise CommandNo("Unsupported authentication mechanism")
    response = args.initial_response
    if response is None:  # RFC 4959 3: no initial response, so ask with an empty challenge
        response = await _challenge(session)
    authzid, authcid, password = _decode_plain(response)
    return _logged_in(session, await _check(session.backend.authenticate, authcid, password,
                                            session.channel.peer, authzid))


async def _challenge(session: ImapSession) -> bytes:
    await session.send(Continuation())
    await session.channel.flush()
    line = (await session.channel.read_line()).strip()
    if line == b"*":  # RFC 3501 6.2.2: "*" cancels the exchange with BAD
        raise CommandBad("Authentication cancelled")
    return line


def _decode_plain(response: bytes) -> tuple[str, str, str]:
    try:
        # RFC 4959 3: "=" is an empty initial response.
        raw = b"" if response == b"=" else binascii.a2b_base64(response, strict_mode=True)
        parts = raw.decode("utf-8").split("\0")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise CommandBad("Invalid base64 or UTF-8 in SASL response") from exc
    if len(parts) != 3 or not parts[1]:  # RFC 4616 2: [authzid] NUL authcid NUL passwd
        raise _auth_failed()
    return parts[0], parts[1], parts[2]


HANDLERS: dict[str, Handler] = {
    "STARTTLS": starttls,
    "LOGIN": login,
    "AUTHENTICATE": authenticate,
}
