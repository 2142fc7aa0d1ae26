"""One conditional request per source before any crawl child starts.

Most crawls of most sources find nothing new: the feed answers 304 to the validators
(ETag, Last-Modified) saved last time. Starting a Scrapy child for that costs a second of
CPU or more, so each source whose address has saved validators is first asked once, from
the parent, with a plain HTTP request: a 304 is recorded as "not modified" and the source
is not crawled; any other answer (200, a redirect, an error) sends it to the crawl as
usual. These requests are one per source and carry no page delay (the politeness delay is
for reading pages, not for asking whether there are any), at most one at a time per host.
The URL policy applies as everywhere; robots.txt was read when the validators were
obtained.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Optional
from urllib.parse import urlsplit

from newswatch.spiders.results import SourceResult, SourceStatus
from newswatch.spiders.sources import CrawlSettings, Source
from newswatch.spiders.urlpolicy import UrlPolicy
from newswatch.storage.crawl_repo import CrawlRepository

log = logging.getLogger("newswatch.crawl")
WORKERS = 16


def preflight(sources: list[Source], crawl: CrawlSettings, repo: CrawlRepository
              ) -> tuple[list[SourceResult], list[Source]]:
    """(results of the sources that answered 304, the sources still to crawl)."""
    known = repo.validators(s.url for s in sources)
    asked = [s for s in sources if any(known.get(s.url, (None, None)))]
    if not asked:
        return [], sources
    host_locks: dict[str, threading.Lock] = {}
    for s in asked:
        host_locks.setdefault(urlsplit(s.url).netloc, threading.Lock())

    def ask(source: Source) -> Optional[SourceResult]:
        etag, modified = known[source.url]
        with host_locks[urlsplit(source.url).netloc]:
            return _ask(source, etag, modified, crawl)

    with ThreadPoolExecutor(min(WORKERS, len(asked))) as pool:
        answers = dict(zip([s.id for s in asked], pool.map(ask, asked)))
    unchanged = [r for r in answers.values() if r is not None]
    repo.record_runs([res.crawl_run() for res in unchanged])
    return unchanged, [s for s in sources if answers.get(s.id) is None]


def _ask(source: Source, etag: Optional[str], modified: Optional[str], crawl: CrawlSettings
         ) -> Optional[SourceResult]:
    """A not-modified result when the source's address answers 304, else None."""
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    policy = UrlPolicy(source.configured_urls(), allow_private=crawl.allow_private)
    if policy.refusal(source.url):
        return None                                      # the crawl reports it properly
    parts = urlsplit(source.url)
    headers = {"User-Agent": crawl.user_agent, "Accept-Encoding": "identity"}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn = conn_type(parts.hostname or "", parts.port, timeout=crawl.timeout.total_seconds())
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            status = resp.status
            # read the answer before closing: a connection closed with unread data is reset
            resp.read(crawl.max_response_size)
            resp.close()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as exc:
        log.debug("preflight %s: %s", source.id, exc, extra={"source": source.id, "stage": "crawl"})
        return None
    if status != 304:
        return None
    res = SourceResult(source_id=source.id, status=SourceStatus.NOT_MODIFIED, http_status=304,
                       started_at=started)
    res.finished_at = datetime.now(timezone.utc)
    res.duration = round(time.monotonic() - clock, 3)
    return res
