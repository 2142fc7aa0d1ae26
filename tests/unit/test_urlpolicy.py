"""One URL policy wherever a URL enters: schemes, metadata and link-local addresses, private
addresses only for configured origins."""

from __future__ import annotations

import pytest

from newswatch.spiders.urlpolicy import UrlPolicy, static_refusal

POLICY = UrlPolicy(["http://127.0.0.1:8001/rss", "https://news.example.org/feed"])

CASES = [
    # (url, refused?, words)
    ("http://127.0.0.1:8001/next-page", False, None),                 # the configured origin itself
    ("http://127.0.0.1:8002/admin", True, "not a configured source"),  # another local port
    ("http://localhost:8001/x", True, "not a configured source"),     # another spelling, another origin
    ("file:///etc/passwd", True, "only http and https"),
    ("ftp://example.org/x", True, "only http and https"),
    ("gopher://127.0.0.1:6379/_SET", True, "only http and https"),
    ("http://169.254.169.254/latest/meta-data/", True, "metadata"),
    ("http://[fe80::1]/", True, "link-local"),
    ("http://100.100.100.200/", True, "metadata"),
    ("http://10.0.0.5/", True, "private"),
    ("http://192.168.1.1/", True, "private"),
    ("http://[::1]:8001/", True, "not a configured source"),
    ("http://0.0.0.0:8001/", True, "metadata"),
    ("javascript:alert(1)", True, "not a URL with a host"),
    ("http://8.8.8.8/", False, None),
]


@pytest.mark.parametrize("url,refused,words", CASES)
def test_policy(url, refused, words):
    why = POLICY.refusal(url)
    assert (why is not None) is refused, why
    if words:
        assert words in why


def test_allow_private_opens_private_but_never_metadata():
    open_policy = UrlPolicy([], allow_private=True)
    assert open_policy.refusal("http://10.0.0.5/", resolve=False) is None
    assert open_policy.refusal("http://169.254.169.254/", resolve=False) is not None


def test_names_are_judged_by_what_they_resolve_to():
    assert "not a configured source" in UrlPolicy(["http://127.0.0.1:9/"]).refusal("http://localhost:9/x")


def test_static_refusal_needs_no_network():
    assert static_refusal("http://169.254.169.254/") and static_refusal("file:///x")
    assert static_refusal("https://eng.belta.by/rss") is None
