"""Feeds read in the parent, without a crawl child.

A feed whose entries carry their own text needs one request and feedparser, nothing of
Scrapy's machinery; starting a Scrapy child costs more CPU than parsing a hundred feeds.
So such sources (``kind: feed`` that follows no article pages) are read here: the same
``SourceRun`` and readers as in the crawl child, fed by a plain HTTP client, then stored
and recorded the same way. Only the ordinary case is handled here — a 200 or a 304 from
the feed's own address. Anything else (an error, a redirect to another host, a 429, an
oversized answer, entries that need their article pages, a fallback) hands the source to
the crawl child, which reads it from the start with Scrapy's retries, Retry-After, robots
and size limits and reports it as ever.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import logging
import threading
import time
import urllib.error
import urllib.request
import urllib.robotparser
import zlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Optional
from urllib.parse import urlsplit

from newswatch.spiders.readers.base import Page
from newswatch.spiders.results import SourceResult
from newswatch.spiders.retry import RETRY_CODES, retry_after_seconds
from newswatch.spiders.source_run import SourceRun
from newswatch.spiders.sources import CrawlSettings, Source
from newswatch.spiders.urlpolicy import UrlPolicy
from newswatch.storage.crawl_repo import CrawlRepository
from newswatch.storage.rows import CrawlRun, UpsertState

log = logging.getLogger("newswatch.crawl")
WORKERS = 16
MAX_TIMEOUT = 10.0      # seconds; a slower feed goes to the crawl child, which waits longer


class _HandOver(Exception):
    """This source is for the crawl child."""


def eligible(source: Source) -> bool:
    """A feed that follows no article pages: read from its own entries."""
    return source.kind == "feed" and (source.follow is False or (source.follow is None and source.article is None))


def read_feeds(sources: list[Source], crawl: CrawlSettings, repo: CrawlRepository
               ) -> tuple[list[SourceResult], list[Source]]:
    """(results of the feeds read here, the sources left for the crawl child)."""
    mine = [s for s in sources if eligible(s)]
    if not mine:
        return [], sources
    validators = repo.validators(s.url for s in mine)
    robots = _Robots(crawl)
    host_locks: dict[str, threading.Lock] = {urlsplit(s.url).netloc: threading.Lock() for s in mine}

    def fetch(source: Source) -> tuple[SourceRun, Page]:
        with host_locks[urlsplit(source.url).netloc]:
            if source.obey_robots and not robots.allowed(source.url):
                raise _HandOver("robots.txt")
            run = SourceRun(source, crawl, validators)
            return run, _fetch_page(run, crawl)

    # Pages are fetched side by side; they are parsed and stored one at a time, here:
    # parsing is CPU work, and threads would only take turns at it.
    answers: dict[str, Optional[SourceResult]] = {}
    later: list[CrawlRun] = []
    waiting = iter(mine)
    with ThreadPoolExecutor(min(WORKERS, len(mine))) as pool:
        # a window of fetches, not all at once: fetched pages wait here to be parsed, and a
        # thousand of them would all sit in memory together
        futures = {pool.submit(fetch, s): s for s in itertools.islice(waiting, 2 * WORKERS)}
        while futures:
            future = next(as_completed(futures))
            source = futures.pop(future)
            for more in itertools.islice(waiting, 1):
                futures[pool.submit(fetch, more)] = more
            try:
                run, page = future.result()
                records, follow = run.on_page(page)
                if follow:
                    raise _HandOver("the source asks for more pages")
                answers[source.id] = _store(run, records, repo, later)
            except _HandOver:
                answers[source.id] = None
            except Exception as exc:   # noqa: BLE001 - anything unexpected: the crawl child reads it
                log.debug("source %s: read by the crawl child (%s)", source.id, exc, extra={"source": source.id})
                answers[source.id] = None
    repo.record_runs(later)
    done = [r for r in answers.values() if r is not None]
    return done, [s for s in sources if answers.get(s.id) is None]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the crawl child's to follow (with its URL policy and limits)."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        raise _HandOver(self.reason)


@functools.cache
def _opener(reason: str) -> urllib.request.OpenerDirector:
    """One opener per process and purpose, shared by the fetching threads (its handlers
    keep no state between requests): building one per request cost 0.15 ms, an eighth of
    an unchanged feed's whole cost."""
    return urllib.request.build_opener(_NoRedirects(reason))


def _fetch_page(run: SourceRun, crawl: CrawlSettings) -> Page:
    requests = run.start()
    if len(requests) != 1 or requests[0].purpose != "page" or requests[0].kind != "feed":
        raise _HandOver("not a single feed request")
    req = requests[0]
    status, url, body, headers = _fetch(req.url, run.conditional_headers(req), run.source, crawl)
    return Page(req, url, status, body, headers)


def _fetch(url: str, conditional: dict[str, str], source: Source, crawl: CrawlSettings
           ) -> tuple[int, str, bytes, dict[str, str]]:
    policy = UrlPolicy(source.configured_urls(), allow_private=crawl.allow_private)
    if policy.refusal(url):
        raise _HandOver("refused by the URL policy")
    opener = _opener("redirected")
    headers = {"User-Agent": crawl.user_agent, "Accept-Encoding": "gzip, deflate", **conditional}
    request = urllib.request.Request(url, headers=headers)
    limit = crawl.max_response_size
    try:
        with opener.open(request, timeout=min(MAX_TIMEOUT, crawl.timeout.total_seconds())) as resp:
            status = resp.status
            body = resp.read(limit + 1)
            got = {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        answer = {k.lower(): v for k, v in exc.headers.items()}
        if exc.code in RETRY_CODES and crawl.retries > 0:
            _drain(exc, limit)
            wait = retry_after_seconds((exc.headers.get("Retry-After") or "").encode("latin-1"))
            if wait is None or wait <= crawl.max_retry_wait.total_seconds():
                # the crawl child retries, after the time the server asked for
                time.sleep(wait or 0)
                raise _HandOver(f"HTTP {exc.code}") from None
        # as the crawl child would: an answer that is not retried is the source's answer
        return exc.code, url, _drain(exc, limit), answer
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _HandOver(str(exc)) from None
    if status != 200 or len(body) > limit:
        raise _HandOver(f"HTTP {status}")
    encoding = got.get("content-encoding", "").lower()
    if encoding in ("gzip", "x-gzip"):
        body = _bounded(lambda: gzip.decompress(body), limit)
    elif encoding == "deflate":
        body = _bounded(lambda: zlib.decompress(body), limit)
    elif encoding not in ("", "identity"):
        raise _HandOver(f"content encoding {encoding}")
    return status, url, body, got


def _drain(exc: urllib.error.HTTPError, limit: int = 1_000_000) -> bytes:
    """Read an error answer's body (a connection closed with unread data is reset, which
    some servers log as an error)."""
    try:
        return exc.read(limit) if exc.fp else b""
    except (OSError, ValueError):
        return b""
    finally:
        exc.close()


def _bounded(unpack: Any, limit: int) -> bytes:
    try:
        body = unpack()
    except (OSError, zlib.error, EOFError) as exc:
        raise _HandOver(f"cannot unpack ({exc})") from None
    if len(body) > limit:
        raise _HandOver("larger than crawl.max_response_size")
    return body


def _store(run: SourceRun, records: list[Any], repo: CrawlRepository,
           later: Optional[list[CrawlRun]] = None) -> SourceResult:
    """Store what a source gave and record its run (a run with nothing to store is added to
    ``later``, recorded with the others in one transaction)."""
    if records:
        try:
            for outcome in repo.upsert_items(records):
                if outcome.state is UpsertState.NEW:
                    run.result.items_new += 1
                elif outcome.state is UpsertState.UPDATED:
                    run.result.items_updated += 1
        except Exception:   # noqa: BLE001 - the crawl child stores them one by one and reports
            raise _HandOver("storing failed") from None
    result = run.finish()
    repo.save_validators(run.validators_to_save())
    if later is not None and not records:
        later.append(result.crawl_run())
    else:
        repo.record_run(result.crawl_run())
    return result


class _Robots:
    """robots.txt, read once per host and run (a missing or unreadable file allows all)."""

    def __init__(self, crawl: CrawlSettings):
        self.crawl = crawl
        self.parsers: dict[str, Optional[urllib.robotparser.RobotFileParser] | str] = {}
        self.lock = threading.Lock()

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self.lock:
            if origin not in self.parsers:
                self.parsers[origin] = self._read(origin)
            parser = self.parsers[origin]
        if isinstance(parser, str):
            raise _HandOver(parser)
        return parser is None or parser.can_fetch(self.crawl.user_agent, url)

    def _read(self, origin: str) -> Optional[urllib.robotparser.RobotFileParser] | str:
        """The parsed file; None when there is none; a reason when the crawl child should
        read it (a redirect, a server error)."""

        request = urllib.request.Request(origin + "/robots.txt", headers={"User-Agent": self.crawl.user_agent})
        try:
            with _opener("robots.txt redirects").open(
                    request, timeout=min(MAX_TIMEOUT, self.crawl.timeout.total_seconds())) as r:
                text = r.read(512_000).decode("utf-8", "replace")
        except _HandOver as exc:
            return str(exc)
        except urllib.error.HTTPError as exc:
            _drain(exc)
            return None if 400 <= exc.code < 500 else f"robots.txt answered {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return f"robots.txt: {exc}"
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(text.splitlines())
        return parser
