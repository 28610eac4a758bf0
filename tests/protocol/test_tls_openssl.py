"""The TLS profile of every listener as `openssl s_client` sees it, and the suites
every context of the profile can negotiate.

`s_client` offers one thing at a time (TLS 1.1, a DHE suite, a NULL suite, static
RSA, CBC with SHA-1) and must be refused, then the same command line with
`ECDHE-RSA-AES256-GCM-SHA384` must complete. The suite families this OpenSSL
build cannot offer at all (RC4, 3DES, EXPORT) are shown absent from what our
contexts would negotiate.

Ref: R5, R6; acceptance case 5 of the exchange between operators.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from server.tls import R6_CIPHERS, mx_context, relay_context, server_context
from tests.support import Operator

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")

LISTENERS = {"submissions": None, "submission": "smtp", "smtp": "smtp", "imaps": None,
             "imap": "imap", "http": None}
REFUSED_OFFERS = {
    "TLS 1.1": ["-tls1_1", "-cipher", "ALL:@SECLEVEL=0"],
    "DHE": ["-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0"],
    "NULL": ["-tls1_2", "-cipher", "NULL-SHA256:ECDHE-RSA-NULL-SHA:@SECLEVEL=0"],
    "static RSA": ["-tls1_2", "-cipher", "AES256-GCM-SHA384:AES128-SHA256:@SECLEVEL=0"],
    "CBC-SHA1": ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA"],
}
ACCEPTED = ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"]


def s_client(op: Operator, listener: str, offer: list[str]) -> str:
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{op.ports[listener]}",
           "-CAfile", str(op.ca_file), "-verify_return_error", "-servername", "localhost",
           *offer]
    if LISTENERS[listener]:
        cmd += ["-starttls", str(LISTENERS[listener])]
    done = subprocess.run(cmd, input="", capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


def negotiated(output: str) -> str | None:
    for line in output.splitlines():
        if "Cipher is " in line:
            cipher = line.split("Cipher is ", 1)[1].strip()
            return None if cipher == "(NONE)" else cipher
    return None


async def test_s_client_refused_weak_offers_and_served_the_r6_suite(operator: Operator) -> None:
    def run() -> None:
        for listener in LISTENERS:
            for what, offer in REFUSED_OFFERS.items():
                out = s_client(operator, listener, offer)
                assert negotiated(out) is None, (listener, what, out[-400:])
                # refused by the server, not by the client (which did offer it):
                assert "no ciphers available" not in out, (listener, what)
                assert "no protocols available" not in out, (listener, what)
            out = s_client(operator, listener, ACCEPTED)
            assert negotiated(out) == "ECDHE-RSA-AES256-GCM-SHA384", (listener, out[-400:])
            assert "Verify return code: 0 (ok)" in out, listener

    await asyncio.to_thread(run)


def test_every_context_negotiates_only_r6_in_tls12(operator: Operator) -> None:
    weak = ("RC4", "DES", "EXP", "NULL", "PSK", "SRP", "ANON", "MD5")
    for ctx in (server_context(operator.cfg), mx_context(operator.cfg),
                relay_context(operator.cfg)):
        names = {c["name"] for c in ctx.get_ciphers()}
        tls12 = {n for n in names if not n.startswith("TLS_")}
        assert tls12 == set(R6_CIPHERS.split(":"))
        assert not [n for n in names for w in weak if w in n.upper()]
        assert not [n for n in names if n.startswith(("DHE-", "EDH-"))]
