"""Scrapy components of newswatch: the URL policy on every request (redirects included),
a resolver that keeps a public name from turning into a private address at connect time,
and retries that honour Retry-After."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from twisted.internet.error import DNSLookupError

from newswatch.spiders.retry import RETRY_CODES, retry_after_seconds
from newswatch.spiders.urlpolicy import UrlPolicy, _ip, classify, static_refusal

log = logging.getLogger("newswatch.crawl")
BASE_BACKOFF = 1.0


def policy_from_settings(settings: Any) -> UrlPolicy:
    spec = settings.getdict("NEWSWATCH_URL_POLICY")
    return UrlPolicy(spec.get("configured", []), bool(spec.get("allow_private")))


class UrlPolicyMiddleware:
    """Refuses what the policy refuses, whether it came from settings, a page or a redirect."""

    def __init__(self, policy: UrlPolicy):
        self.policy = policy
        self.redirects_seen: set[tuple[str, str]] = set()

    @classmethod
    def from_crawler(cls, crawler: Any) -> UrlPolicyMiddleware:
        return cls(policy_from_settings(crawler.settings))

    async def process_request(self, request: Any, spider: Any = None) -> None:
        url = request.url
        why = static_refusal(url)
        if why is None:
            host = urlsplit(url).hostname or ""
            if _ip(host) is not None:
                why = self.policy.refusal(url, resolve=False)
            else:
                why = await asyncio.get_running_loop().run_in_executor(None, self.policy.refusal, url)
        chain = request.meta.get("redirect_urls") or []
        if why:
            via = f" (redirected from {chain[0]})" if chain else ""
            raise IgnoreRequest(f"refused {url[:300]}{via}: {why}")
        if chain:
            a, b = urlsplit(chain[0]).hostname or "", urlsplit(url).hostname or ""
            if a != b and (a, b) not in self.redirects_seen:
                self.redirects_seen.add((a, b))
                sid = request.meta.get("nw", ("?",))[0]
                log.warning("source %s: redirected from host %s to host %s (%s)", sid, a, b, url[:200],
                            extra={"source": sid, "stage": "crawl"})
        return None


class PolicyResolver(CachingThreadedResolver):
    """Resolves as Scrapy does, then refuses a private or link-local answer for a name that
    is not a configured source host (a name that resolved to a public address when the
    policy looked, then to 127.0.0.1 when connecting)."""

    policy: Optional[UrlPolicy] = None

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> PolicyResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.policy = policy_from_settings(crawler.settings)
        return resolver

    def getHostByName(self, name: str, timeout: Any = ()) -> Any:
        d = super().getHostByName(name, timeout)

        def check(address: str) -> str:
            ip = _ip(address)
            if ip is not None and self.policy is not None:
                kind = classify(ip)
                if kind == "forbidden" or (kind == "private" and not self.policy.private_host_allowed(name)):
                    raise DNSLookupError(f"{name} resolved to {address}, a {kind} address; refused by the URL policy")
            return address

        return d.addCallback(check)


class RetryAfterMiddleware:
    """Retries answers with a retryable status (Scrapy's RetryMiddleware keeps retrying
    network errors): after the time a 429/503 asks for in Retry-After, else with exponential
    backoff. A server asking for longer than ``crawl.max_retry_wait`` is not waited for:
    the source is reported and tried again at its next crawl."""

    def __init__(self, crawler: Any):
        settings = crawler.settings
        self.crawler = crawler
        self.codes = set(settings.getlist("NEWSWATCH_RETRY_CODES") or RETRY_CODES)
        self.max_times = settings.getint("RETRY_TIMES")
        self.max_wait = settings.getfloat("NEWSWATCH_MAX_RETRY_WAIT", 120.0)
        self.enabled = settings.getbool("RETRY_ENABLED")

    @classmethod
    def from_crawler(cls, crawler: Any) -> RetryAfterMiddleware:
        return cls(crawler)

    async def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        if not self.enabled or request.meta.get("dont_retry") or response.status not in self.codes:
            return response
        attempt = request.meta.get("retry_times", 0)
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None:
            wait = BASE_BACKOFF * (2 ** attempt)
        if wait > self.max_wait:
            return response
        retry = get_retry_request(request, spider=self.crawler.spider, reason=f"HTTP {response.status}",
                                  max_retry_times=self.max_times)
        if retry is None:
            return response
        await asyncio.sleep(wait)
        return retry
