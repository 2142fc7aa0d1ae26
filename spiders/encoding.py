"""Decoding page bytes: HTTP header, then XML declaration, then <meta charset>, in that
order of trust, with detection when they lie.

Old Belarusian pages are often windows-1251; a header may claim UTF-8 over cp1251 bytes,
or the other way round. A declared UTF-8 that does not decode is not trusted; a declared
single-byte charset over bytes that are valid UTF-8 (with non-ASCII) is not trusted either.
"""

from __future__ import annotations

import codecs
import re
from typing import Optional

_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9_.:-]+)[\"']", re.I)
_META = re.compile(rb"<meta[^>]+charset=[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_HEADER = re.compile(r"charset=[\"']?([A-Za-z0-9_.:-]+)", re.I)


def _known(name: Optional[str]) -> Optional[str]:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None


def declared_charsets(body: bytes, content_type: Optional[str]) -> list[str]:
    found = []
    if content_type:
        m = _HEADER.search(content_type)
        if m:
            found.append(m.group(1))
    m = _XML_DECL.search(body[:200])
    if m:
        found.append(m.group(1).decode("ascii"))
    m = _META.search(body[:4096])
    if m:
        found.append(m.group(1).decode("ascii"))
    out = []
    for name in found:
        known = _known(name)
        if known and known not in out:
            out.append(known)
    return out


def _valid_utf8_with_non_ascii(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return any(b > 127 for b in body[:65536])


def decode_body(body: bytes, content_type: Optional[str] = None) -> tuple[str, str]:
    """Return (text, encoding used)."""
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", "replace"), "utf-8"
    for enc in declared_charsets(body, content_type):
        if enc == "utf-8":
            try:
                return body.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                continue  # the declaration lies
        else:
            if enc not in ("ascii",) and _valid_utf8_with_non_ascii(body):
                return body.decode("utf-8"), "utf-8"
            try:
                return body.decode(enc), enc
            except UnicodeDecodeError:
                continue
    if not any(b > 127 for b in body[:65536]):
        return body.decode("ascii", "replace"), "ascii"
    if _valid_utf8_with_non_ascii(body):
        return body.decode("utf-8"), "utf-8"
    from charset_normalizer import from_bytes  # here: only pages that declare no encoding need it

    best = from_bytes(body[:200_000], cp_isolation=["cp1251", "koi8_r", "utf_8", "iso8859_5", "cp1252", "mac_cyrillic"]).best()
    enc = best.encoding if best else "cp1251"
    return body.decode(enc, "replace"), enc
