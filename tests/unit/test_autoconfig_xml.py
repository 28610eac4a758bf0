"""Autoconfiguration documents (R11): Mozilla config-v1.1.xml and Outlook POX Autodiscover."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from server.config import Config
from server.config_sections import (
    AutoconfigSection,
    HttpSection,
    Listener,
    ListenersSection,
    ServerSection,
)
from server.http.autoconfig import (
    OUTLOOK_NS,
    RESPONSE_NS,
    AutoconfigError,
    autodiscover_error,
    autodiscover_response,
    client_settings,
    mozilla_config,
    parse_autodiscover,
)

CFG = Config(server=ServerSection("mail.op-a.mssante.fr", ("op-a.mssante.fr",)))
REQUEST = b"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>Dr.Martin@op-a.mssante.fr</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"""


def test_default_settings_follow_the_listeners() -> None:
    servers = client_settings(CFG).servers
    assert [(s.protocol, s.host, s.port, s.socket) for s in servers] == [
        ("imap", "mail.op-a.mssante.fr", 993, "SSL"),
        ("imap", "mail.op-a.mssante.fr", 143, "STARTTLS"),
        ("smtp", "mail.op-a.mssante.fr", 465, "SSL"),
        ("smtp", "mail.op-a.mssante.fr", 587, "STARTTLS")]


def test_overrides_and_disabled_listeners() -> None:
    cfg = replace(CFG, listeners=replace(ListenersSection(), imap=Listener(enabled=False)),
                  http=HttpSection(autoconfig=AutoconfigSection(
                      imap_host="imap.op-a.fr", imaps_port=10993, display_name="Op A")))
    settings = client_settings(cfg)
    assert settings.display_name == "Op A"
    assert [(s.host, s.port) for s in settings.servers] == [
        ("imap.op-a.fr", 10993), ("mail.op-a.mssante.fr", 465), ("mail.op-a.mssante.fr", 587)]


def test_mozilla_document() -> None:
    doc = mozilla_config(client_settings(CFG), "op-a.mssante.fr", None)
    assert doc.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(doc)
    provider = root.find("emailProvider")
    assert root.get("version") == "1.1" and provider is not None
    assert provider.get("id") == "op-a.mssante.fr" and provider.findtext("domain") == \
        "op-a.mssante.fr"
    incoming = provider.findall("incomingServer")
    assert incoming[0].findtext("port") == "993" and incoming[0].findtext("socketType") == "SSL"
    assert incoming[0].findtext("username") == "%EMAILADDRESS%"
    outgoing = provider.findall("outgoingServer")
    assert [(o.findtext("port"), o.findtext("socketType")) for o in outgoing] == [
        ("465", "SSL"), ("587", "STARTTLS")]
    assert {o.findtext("authentication") for o in incoming + outgoing} == {"password-cleartext"}


def test_mozilla_values_are_escaped() -> None:
    cfg = replace(CFG, http=HttpSection(autoconfig=AutoconfigSection(display_name="<A & B>")))
    root = ET.fromstring(mozilla_config(client_settings(cfg), "op-a.mssante.fr", None))
    assert root.findtext("emailProvider/displayName") == "<A & B>"


def test_autodiscover_request_and_answer() -> None:
    address, schema = parse_autodiscover(REQUEST)
    assert address == "Dr.Martin@op-a.mssante.fr" and schema.endswith("responseschema/2006a")
    root = ET.fromstring(autodiscover_response(client_settings(CFG), "dr.martin@op-a.mssante.fr"))
    assert root.tag == f"{{{RESPONSE_NS}}}Autodiscover"
    account = root.find(f"{{{OUTLOOK_NS}}}Response/{{{OUTLOOK_NS}}}Account")
    assert account is not None
    assert account.findtext(f"{{{OUTLOOK_NS}}}Action") == "settings"
    protocols = [(p.findtext(f"{{{OUTLOOK_NS}}}Type"), p.findtext(f"{{{OUTLOOK_NS}}}Port"),
                  p.findtext(f"{{{OUTLOOK_NS}}}Encryption"),
                  p.findtext(f"{{{OUTLOOK_NS}}}LoginName"))
                 for p in account.findall(f"{{{OUTLOOK_NS}}}Protocol")]
    assert protocols[0] == ("IMAP", "993", "SSL", "dr.martin@op-a.mssante.fr")
    assert ("SMTP", "465", "SSL", "dr.martin@op-a.mssante.fr") in protocols
    assert ("SMTP", "587", "TLS", "dr.martin@op-a.mssante.fr") in protocols


@pytest.mark.parametrize("body", [
    b"not xml",
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
    b'<!DOCTYPE a SYSTEM "http://example.test/a.dtd"><a/>',
])
def test_autodiscover_refuses_bad_or_dangerous_xml(body: bytes) -> None:
    with pytest.raises(AutoconfigError):
        parse_autodiscover(body)


def test_autodiscover_error_document() -> None:
    root = ET.fromstring(autodiscover_error("600", "Invalid Request"))
    ns = f"{{{RESPONSE_NS}}}"
    assert root.findtext(f"{ns}Response/{ns}Error/{ns}ErrorCode") == "600"
