"""URL canonicalisation: one spelling per article, so identity does not depend on links."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

# Parameters that only say where a click came from; dropping them never changes the page.
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "_hs")
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "yclid", "msclkid", "igshid",
        "_ga", "_gl", "_openstat", "ref_src", "ref_url", "cmpid", "icid", "ncid",
        "spm", "share", "rss", "from_rss", "s_cid", "wt_mc", "ito",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in TRACKING_PARAMS or low.startswith(TRACKING_PREFIXES)


@lru_cache(maxsize=4096)       # each entry's link is canonicalised when seen and when stored
def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop default port, fragment and tracking parameters.

    The path keeps its case (servers treat it as case-sensitive); remaining query
    parameters are sorted so that the same page has one spelling.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if port and _DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{netloc}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    query.sort()
    # percent-encode what a URL may not hold raw (spaces, Cyrillic), keep existing escapes
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~-._")
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def identity_key(url: str, is_canonical: bool = False) -> str:
    """The part of a canonical URL that names the article: no scheme, no ``www.``.

    ``http://www.belta.by/x/`` and ``https://belta.by/x/`` are one item.
    """
    parts = urlsplit(url if is_canonical else canonical_url(url))
    host = parts.netloc
    if host.startswith("www."):
        host = host[4:]
    key = host + parts.path
    if parts.query:
        key += "?" + parts.query
    return key
