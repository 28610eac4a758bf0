"""Mail client autoconfiguration: Mozilla autoconfig and Microsoft Autodiscover (R11).

Owns: `client_settings(cfg)` (which servers to announce: configured host
names and public ports, else `server.hostname` and the listener ports),
`mozilla_config` (Thunderbird's `config-v1.1.xml`), `parse_autodiscover`
and `autodiscover_response` (Outlook's POX protocol).

Invariants:
- Only TLS is announced: IMAPS 993 `SSL`, IMAP 143 `STARTTLS`, submission 465
  `SSL`, submission 587 `STARTTLS` (R8; RFC 8314 prefers implicit TLS, listed
  first). A disabled listener is not announced.
- An address outside `server.domains` gets no settings (404): we only
  describe our own BALs. The user name is the address (`%EMAILADDRESS%`).
- The Autodiscover request is parsed with expat; a DOCTYPE or ENTITY
  declaration is refused before any expansion.
- Output is built with ElementTree, so every value is escaped.

Ref: R8, R11; Mozilla wiki "Thunderbird:Autoconfiguration:
ConfigFileFormat"; [MS-OXDSCLI] 2.2.3, 2.2.4 (POX Autodiscover); RFC 8314;
RFC 6186 (SRV records, documented in README).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 (building only; parsing uses expat)
from dataclasses import dataclass
from xml.parsers import expat

from policy.address import split_address
from server.config import Config

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
PLACEHOLDER = "%EMAILADDRESS%"


class AutoconfigError(ValueError):
    """A malformed or unsupported Autodiscover request."""


@dataclass(frozen=True)
class MailServer:
    protocol: str  # "imap" or "smtp"
    host: str
    port: int
    socket: str  # "SSL" or "STARTTLS"


@dataclass(frozen=True)
class ClientSettings:
    domains: tuple[str, ...]
    display_name: str
    servers: tuple[MailServer, ...]

    def local_domain_of(self, address: str) -> str | None:
        """The address's domain when it is one of ours (and the address has a local part)."""
        local, domain = split_address(address.strip())
        return domain if local and domain in self.domains else None


def client_settings(cfg: Config) -> ClientSettings:
    """What to announce, from `[http.autoconfig]` and the listener tables."""
    ac, lst = cfg.http.autoconfig, cfg.listeners
    imap_host = ac.imap_host or cfg.server.hostname
    smtp_host = ac.smtp_host or cfg.server.hostname
    plan = (("imap", imap_host, lst.imaps, ac.imaps_port, "SSL"),
            ("imap", imap_host, lst.imap, ac.imap_port, "STARTTLS"),
            ("smtp", smtp_host, lst.submissions, ac.submissions_port, "SSL"),
            ("smtp", smtp_host, lst.submission, ac.submission_port, "STARTTLS"))
    servers = tuple(MailServer(proto, host, public or listener.port, sock)
                    for proto, host, listener, public, sock in plan if listener.enabled)
    name = ac.display_name or f"MSSanté {cfg.server.domains[0]}"
    return ClientSettings(cfg.server.domains, name, servers)


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = text
    return child


def _xml(root: ET.Element) -> bytes:
    body: str = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode()


def mozilla_config(settings: ClientSettings, domain: str, address: str | None) -> bytes:
    """Thunderbird's `clientConfig` for one of our domains."""
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain)
    _text(provider, "domain", domain)
    _text(provider, "displayName", settings.display_name)
    _text(provider, "displayShortName", domain)
    for server in settings.servers:
        kind = "incomingServer" if server.protocol == "imap" else "outgoingServer"
        node = ET.SubElement(provider, kind, type=server.protocol)
        _text(node, "hostname", server.host)
        _text(node, "port", str(server.port))
        _text(node, "socketType", server.socket)
        _text(node, "authentication", "password-cleartext")
        _text(node, "username", address or PLACEHOLDER)
    return _xml(root)


def parse_autodiscover(body: bytes) -> tuple[str, str]:
    """(EMailAddress, AcceptableResponseSchema) of a POX request; AutoconfigError else."""
    found: dict[str, str] = {}
    path: list[str] = []
    parser = expat.ParserCreate(namespace_separator="|")

    def refuse(*_args: object) -> None:
        raise AutoconfigError("DOCTYPE and ENTITY declarations are not accepted")

    def start(name: str, _attrs: dict[str, str]) -> None:
        path.append(name.rpartition("|")[2])

    def end(_name: str) -> None:
        path.pop()

    def chars(data: str) -> None:
        if path and path[-1] in ("EMailAddress", "AcceptableResponseSchema"):
            found[path[-1]] = found.get(path[-1], "") + data

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise AutoconfigError(f"not XML: {exc}") from None
    return found.get("EMailAddress", "").strip(), found.get("AcceptableResponseSchema",
                                                             "").strip()


def _protocol(account: ET.Element, server: MailServer, login: str) -> None:
    node = ET.SubElement(account, "Protocol")
    _text(node, "Type", server.protocol.upper())
    _text(node, "Server", server.host)
    _text(node, "Port", str(server.port))
    _text(node, "DomainRequired", "off")
    _text(node, "LoginName", login)
    _text(node, "SPA", "off")
    _text(node, "SSL", "on")
    _text(node, "Encryption", "SSL" if server.socket == "SSL" else "TLS")
    _text(node, "AuthRequired", "on")
    if server.protocol == "smtp":
        _text(node, "UsePOPAuth", "off")
        _text(node, "SMTPLast", "off")


def autodiscover_response(settings: ClientSettings, address: str) -> bytes:
    """The Outlook `settings` answer for one of our addresses."""
    root = ET.Element("Autodiscover", xmlns=RESPONSE_NS)
    response = ET.SubElement(root, "Response", xmlns=OUTLOOK_NS)
    user = ET.SubElement(response, "User")
    _text(user, "DisplayName", address)
    account = ET.SubElement(response, "Account")
    _text(account, "AccountType", "email")
    _text(account, "Action", "settings")
    for server in settings.servers:
        _protocol(account, server, address)
    return _xml(root)


def autodiscover_error(code: str, message: str) -> bytes:
    """An Autodiscover `Error` answer ([MS-OXDSCLI] 2.2.4.1.1.2)."""
    root = ET.Element("Autodiscover", xmlns=RESPONSE_NS)
    error = ET.SubElement(ET.SubElement(root, "Response"), "Error", Id="0", Time="00:00:00")
    _text(error, "ErrorCode", code)
    _text(error, "Message", message)
    ET.SubElement(error, "DebugData")
    return _xml(root)
