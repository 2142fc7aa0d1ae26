"""One URL policy wherever a URL enters a crawl: source and fallback URLs, next pages,
article links, token pages, redirects.

* Only ``http`` and ``https``: a remote page cannot make newswatch read ``file://`` (or any
  other scheme) however it writes its links.
* Link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10, 100.100.100.200,
  fd00:ec2::254) are always refused.
* Loopback and private addresses (127/8, 10/8, 172.16/12, 192.168/16, ::1, fc00::/7, …)
  are refused unless the request goes to an origin (scheme, host, port) the operator
  configured for a source, or ``crawl.allow_private`` is true. A hostname is judged by the
  addresses it resolves to, so a public name pointing at 127.0.0.1 is refused too.

``static_refusal`` needs no network (used by ``newswatch check``); ``UrlPolicy`` resolves.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Optional
from urllib.parse import urlsplit

Origin = tuple[str, str, int]
_METADATA = {ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")}
_DEFAULT_PORT = {"http": 80, "https": 443}


def origin(url: str) -> Optional[Origin]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return None
    return scheme, host, port or _DEFAULT_PORT.get(scheme, 0)


def _ip(host: str) -> Optional[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def classify(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """``forbidden`` (link-local, metadata, unspecified), ``private`` (loopback, private,
    shared, reserved) or ``public``."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr in _METADATA or addr.is_link_local or addr.is_unspecified or addr.is_multicast:
        return "forbidden"
    if addr.is_loopback or addr.is_private or addr.is_reserved or not addr.is_global:
        return "private"
    return "public"


def static_refusal(url: str) -> Optional[str]:
    """Why a URL is refused whatever it resolves to, or None."""
    scheme = urlsplit(url.strip()).scheme.lower() if "://" in url else ""
    if scheme and scheme not in ("http", "https"):
        return f"only http and https are fetched, not {scheme}: URL {url[:200]!r}"
    parts = origin(url)
    if parts is None or parts[0] not in ("http", "https"):
        return f"{url[:200]!r} is not a URL with a host"
    scheme, host, _port = parts
    addr = _ip(host)
    if addr is not None and classify(addr) == "forbidden":
        return f"{host} is a link-local or cloud metadata address; newswatch never fetches it"
    return None


class UrlPolicy:
    """The policy of one crawl: which origins were configured, and whether private
    addresses are allowed beyond them."""

    def __init__(self, configured_urls: Iterable[str] = (), allow_private: bool = False):
        self.allowed: set[Origin] = {o for o in (origin(u) for u in configured_urls) if o}
        self.allowed_hosts: set[str] = {host for _scheme, host, _port in self.allowed}
        self.allow_private = allow_private
        self._resolved: dict[tuple[str, int], list[str]] = {}

    def refusal(self, url: str, resolve: bool = True) -> Optional[str]:
        """Why this URL must not be fetched, or None."""
        why = static_refusal(url)
        if why:
            return why
        scheme, host, port = origin(url)  # type: ignore[misc]
        addr = _ip(host)
        kinds = [classify(addr)] if addr is not None else ([classify(a) for a in self._addresses(host, port)]
                                                           if resolve else [])
        if "forbidden" in kinds:
            return f"{host} resolves to a link-local or cloud metadata address; newswatch never fetches it"
        if "private" in kinds and not self.allow_private and (scheme, host, port) not in self.allowed:
            return (f"{host}:{port} is a loopback or private address and not a configured source "
                    f"(set crawl.allow_private: true to allow it)")
        return None

    def private_host_allowed(self, host: str) -> bool:
        """May this hostname resolve to a private address at connect time?"""
        return self.allow_private or host.lower().rstrip(".") in self.allowed_hosts

    def _addresses(self, host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        key = (host, port)
        if key not in self._resolved:
            try:
                infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
                self._resolved[key] = sorted({str(i[4][0]) for i in infos})
            except (socket.gaierror, UnicodeError, OSError):
                self._resolved[key] = []          # unresolvable: the fetch itself will say so
        out = []
        for a in self._resolved[key]:
            ip = _ip(a.split("%", 1)[0])
            if ip is not None:
                out.append(ip)
        return out
