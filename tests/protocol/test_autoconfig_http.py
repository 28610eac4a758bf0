"""Client autoconfiguration over HTTP with real clients (R11):
Thunderbird's request (urllib, curl) and Outlook's POX Autodiscover (http.client)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from server.http.autoconfig import OUTLOOK_NS
from tests.protocol.directory_http import connect, http_operator, request
from tests.support import DOMAIN, Operator

PUBLIC = """
[http.autoconfig]
imap_host = "imap.op-a.mssante.fr"
smtp_host = "smtp.op-a.mssante.fr"
imaps_port = 993
imap_port = 143
submissions_port = 465
submission_port = 587
"""
ADDRESS = f"dr.martin@{DOMAIN}"
AUTODISCOVER = f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>{{address}}</EMailAddress>
    <AcceptableResponseSchema>{OUTLOOK_NS}</AcceptableResponseSchema>
  </Request>
</Autodiscover>"""


def servers(doc: bytes) -> list[tuple[str, str, str, str, str]]:
    root = ET.fromstring(doc)
    provider = root.find("emailProvider")
    assert root.tag == "clientConfig" and provider is not None
    assert provider.get("id") == DOMAIN and provider.findtext("domain") == DOMAIN
    return [(node.tag, node.get("type", ""), node.findtext("hostname", ""),
             node.findtext("port", ""), node.findtext("socketType", ""))
            for node in provider if node.tag in ("incomingServer", "outgoingServer")]


def thunderbird(op: Operator, path: str, host: str | None = None) -> tuple[int, str, bytes]:
    url = f"http://127.0.0.1:{op.ports['http']}{path}"
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


async def test_thunderbird_gets_imaps_and_submission(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False, extra_toml=PUBLIC) as op:
        query = f"?emailaddress={ADDRESS.replace('@', '%40')}"
        for path in ("/.well-known/autoconfig/mail/config-v1.1.xml" + query,
                     "/mail/config-v1.1.xml" + query):
            code, ctype, body = await asyncio.to_thread(thunderbird, op, path,
                                                        f"autoconfig.{DOMAIN}")
            assert code == 200 and ctype.startswith("application/xml")
            found = servers(body)
            assert found[0] == ("incomingServer", "imap", "imap.op-a.mssante.fr", "993", "SSL")
            assert ("outgoingServer", "smtp", "smtp.op-a.mssante.fr", "465", "SSL") in found
            assert ("outgoingServer", "smtp", "smtp.op-a.mssante.fr", "587", "STARTTLS") \
                in found
            assert {n.text for n in ET.fromstring(body).iter("username")} == {ADDRESS}
        code, _, body = await asyncio.to_thread(thunderbird, op, "/mail/config-v1.1.xml",
                                                f"autoconfig.{DOMAIN}:8080")
        assert code == 200 and b"%EMAILADDRESS%" in body
        code, _, _ = await asyncio.to_thread(
            thunderbird, op, "/mail/config-v1.1.xml?emailaddress=x%40gmail.com")
        assert code == 404


async def test_without_overrides_the_listener_ports_are_announced(tmp_path: Path) -> None:
    async with http_operator(tmp_path, tls=False) as op:
        code, _, body = await asyncio.to_thread(thunderbird, op, "/mail/config-v1.1.xml")
        ports = {p[3] for p in servers(body)}
        assert code == 200 and ports == {str(op.cfg.listeners.imaps.port)}, \
            "tests bind port 0; a real configuration announces its own ports"


async def test_curl_over_tls(tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("curl is required in CI")
        pytest.skip("curl not installed")
    async with http_operator(tmp_path, extra_toml=PUBLIC) as op:
        url = (f"https://127.0.0.1:{op.ports['http']}/.well-known/autoconfig/mail/"
               f"config-v1.1.xml?emailaddress={ADDRESS}")
        done = await asyncio.to_thread(subprocess.run, [
            curl, "-sS", "--fail", "--cacert", str(op.ca_file), "--tlsv1.2", url],
            capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert ("incomingServer", "imap", "imap.op-a.mssante.fr", "993", "SSL") in \
            servers(done.stdout)


async def test_outlook_autodiscover(tmp_path: Path) -> None:
    async with http_operator(tmp_path, extra_toml=PUBLIC) as op:
        def run() -> list[tuple[int, dict[str, str], bytes]]:
            c = connect(op)
            xml = {"Content-Type": "text/xml"}
            return [request(c, "POST", "/autodiscover/autodiscover.xml", xml,
                            AUTODISCOVER.format(address=ADDRESS).encode()),
                    request(c, "POST", "/Autodiscover/Autodiscover.xml", xml,
                            AUTODISCOVER.format(address="x@gmail.com").encode()),
                    request(c, "POST", "/autodiscover/autodiscover.xml", xml, b"<a>")]

        ok, unknown, broken = await asyncio.to_thread(run)
        assert ok[0] == 200
        ns = f"{{{OUTLOOK_NS}}}"
        account = ET.fromstring(ok[2]).find(f".//{ns}Account")
        assert account is not None and account.findtext(f"{ns}Action") == "settings"
        protocols = {(p.findtext(f"{ns}Type"), p.findtext(f"{ns}Server"),
                      p.findtext(f"{ns}Port"), p.findtext(f"{ns}Encryption"))
                     for p in account.findall(f"{ns}Protocol")}
        assert ("IMAP", "imap.op-a.mssante.fr", "993", "SSL") in protocols
        assert ("SMTP", "smtp.op-a.mssante.fr", "465", "SSL") in protocols
        assert unknown[0] == 404 and b"<ErrorCode>500</ErrorCode>" in unknown[2]
        assert broken[0] == 400 and b"<ErrorCode>600</ErrorCode>" in broken[2]
