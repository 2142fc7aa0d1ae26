"""Readers, one per kind of page, on pages given directly (no network, no Scrapy)."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone

from newswatch.spiders.entry import Entry
from newswatch.spiders.readers import reader_for
from newswatch.spiders.readers.article import ArticleReader
from newswatch.spiders.readers.base import LinkFilter, Page, PageRequest, ReaderContext
from newswatch.spiders.sources import CrawlSettings, Source

UTC = timezone.utc
CRAWL = CrawlSettings()


def ctx(**spec) -> ReaderContext:
    source = Source.model_validate({"id": "s", "url": "https://site.example/", "timezone": "Europe/Minsk", **spec})
    return ReaderContext(source, CRAWL, LinkFilter(source), verbose=True)


def page(body: str | bytes, url: str = "https://site.example/", purpose: str = "page", n: int = 1,
         ctype: str = "text/html; charset=utf-8", kind: str = "listing") -> Page:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return Page(PageRequest(url, purpose=purpose, page=n, kind=kind), url, 200, data, {"content-type": ctype})


# ---- feeds ---------------------------------------------------------------------------------
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://site.example/</link>
<description>d</description>
<item><title>One</title><link>https://site.example/1</link><guid>same</guid><category>Eurasia Daily Monitor</category>
<description>&lt;p&gt;Lede one.&lt;/p&gt; The post One appeared first on Site.</description>
<pubDate>Thu, 30 Oct 2025 10:13:00 +0300</pubDate></item>
<item><title>Two</title><link>https://site.example/2</link><guid>same</guid><category>China Brief</category></item>
</channel></rss>"""


def test_feed_entries_and_a_reused_guid():
    c = ctx(kind="feed")
    out = reader_for(c, c.source).read(page(FEED, kind="feed", ctype="application/rss+xml"))
    assert [e.link for e in out.entries] == ["https://site.example/1", "https://site.example/2"]
    assert all(e.guid is None for e in out.entries)           # the shared GUID is not an identity
    assert any("same GUID" in w for w in out.warnings)
    first = out.entries[0]
    assert first.summary == "Lede one." and first.published == datetime(2025, 10, 30, 7, 13, tzinfo=UTC)
    assert first.categories == ("Eurasia Daily Monitor",)


def test_feed_category_filter():
    c = ctx(kind="feed", include={"categories": ["eurasia daily monitor"]})
    entries = reader_for(c, c.source).read(page(FEED, kind="feed")).entries
    assert [c.links.wanted(e) for e in entries] == [None, "category not in include.categories"]


def test_not_a_feed_says_so():
    c = ctx(kind="feed")
    out = reader_for(c, c.source).read(page(b"\x89PNG\r\n\x1a\n" + bytes(range(256)), kind="feed"))
    assert out.entries == [] and "not" in out.empty_reason and "feed" in out.empty_reason


# ---- listings ------------------------------------------------------------------------------
BELTA = """<html><body><div id="inner">
<div class="news_item lenta_item"><a href="https://site.example/politics/">Политика</a>
 <a href="/politics/view/one-741198-2026/"><span class="lenta_item_title">Первая</span></a></div>
<div class="news_item lenta_item"><a href="https://site.example/economics/">Экономика</a>
 <a href="/economics/view/two-741199-2026/"><span class="lenta_item_title">Вторая</span></a></div>
<div class="news_item lenta_item"><a href="https://site.example/tag/x/">Only a tag</a></div>
</div><a class="next" href="?page=2">next</a></body></html>"""


def test_listing_takes_the_article_link_not_the_rubric():
    c = ctx(kind="listing", link_pattern="/view/",
            listing={"item": "div.lenta_item", "title": "span.lenta_item_title::text", "next": "a.next::attr(href)",
                     "max_pages": 2})
    out = reader_for(c, c.source).read(page(BELTA))
    assert [e.link for e in out.entries] == ["https://site.example/politics/view/one-741198-2026/",
                                             "https://site.example/economics/view/two-741199-2026/"]
    assert [e.title for e in out.entries] == ["Первая", "Вторая"]
    assert any("link_pattern" in w for w in out.warnings)
    assert [r.url for r in out.follow] == ["https://site.example/?page=2"]


REDESIGNED = """<html><body><nav><a href="/a">Home page of the site</a><a href="/b">About the site here</a></nav>
<section>""" + "".join(f"""<article class="event-tile"><time datetime="2026-01-0{i}T10:00:00+03:00">0{i}.01.2026</time>
<h3 class="event-tile__name"><a href="/ru/events/item-{i}">Встреча с делегацией номер {i} в Минске</a></h3></article>"""
                        for i in range(1, 6)) + "</section></body></html>"


def test_a_broken_listing_says_what_the_page_has_now():
    c = ctx(kind="listing", listing={"item": "li.news-card", "link": "a.news-card__title::attr(href)"})
    out = reader_for(c, c.source).read(page(REDESIGNED))
    assert out.entries == []
    reason = out.empty_reason
    assert "item selector 'li.news-card' matched nothing" in reason
    assert "article.event-tile" in reason and "5 ×" in reason and "h3.event-tile__name a::attr(href)" in reason


# ---- sitemaps ------------------------------------------------------------------------------
def sitemap(rows: list[tuple[str, str]], kind: str = "urlset") -> str:
    tag = "url" if kind == "urlset" else "sitemap"
    body = "".join(f"<{tag}><loc>{u}</loc><lastmod>{d}</lastmod></{tag}>" for u, d in rows)
    return f'<?xml version="1.0"?><{kind} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</{kind}>'


def test_sitemap_index_is_followed_and_urls_filtered_by_age_and_pattern():
    now = datetime(2026, 1, 10, tzinfo=UTC)
    c = ctx(kind="sitemap", link_pattern="/events/", sitemap={"max_age": "7d", "max_urls": 2})
    reader = reader_for(c, c.source)
    index = reader.read(page(sitemap([("https://site.example/sitemap.event.xml", "2026-01-09"),
                                      ("https://site.example/sitemap.old.xml", "2020-01-01")], "sitemapindex"),
                             kind="sitemap"), now=now)
    assert [r.url for r in index.follow] == ["https://site.example/sitemap.event.xml"]
    urls = sitemap([("https://site.example/ru/events/a", "2026-01-09T10:00:00+03:00"),
                    ("https://site.example/ru/events/b", "2026-01-08"),
                    ("https://site.example/ru/events/c", "2026-01-07"),
                    ("https://site.example/ru/documents/d", "2026-01-09"),
                    ("https://site.example/ru/events/old", "2025-01-01")])
    out = reader.read(page(gzip.compress(urls.encode()), n=2, kind="sitemap"), now=now)
    assert [e.link for e in out.entries] == ["https://site.example/ru/events/a", "https://site.example/ru/events/b"]


# ---- JSON ----------------------------------------------------------------------------------
def test_json_endpoint_with_a_token_read_first():
    c = ctx(kind="json", url="https://site.example/press/json/?get_more_news&lang=ru",
            json={"items": "news", "link": "url", "title": "title", "date": "date",
                  "token": {"page": "https://site.example/press/news/", "selector": "input#ggtoken::attr(value)",
                            "param": "ggtoken"}})
    reader = reader_for(c, c.source)
    first = reader.start(c.source.url, "primary")
    assert first[0].purpose == "token" and first[0].url == "https://site.example/press/news/"
    token = reader.read(page('<form><input id="ggtoken" value="abc123"></form>', url=first[0].url, purpose="token"))
    assert token.follow[0].url == "https://site.example/press/json/?get_more_news=&lang=ru&ggtoken=abc123"
    answer = '{"news": [{"url": "/press/news_mfa/0a1b2c3d4e5f6a7b.html", "title": "О встрече", "date": "12 марта 2025"}]}'
    out = reader.read(page(answer, url=token.follow[0].url, ctype="application/json"))
    assert out.entries[0].link == "https://site.example/press/news_mfa/0a1b2c3d4e5f6a7b.html"
    assert out.entries[0].published == datetime(2025, 3, 11, 21, 0, tzinfo=UTC)


def test_json_without_the_items_path_explains():
    c = ctx(kind="json", json={"items": "news"})
    out = reader_for(c, c.source).read(page('{"data": []}', ctype="application/json"))
    assert "no list at 'news'" in out.empty_reason and "data" in out.empty_reason


# ---- articles ------------------------------------------------------------------------------
ARTICLE = """<html><head>
<meta property="og:title" content="Встреча с Ли Си | Президент">
<meta property="og:site_name" content="Президент">
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle",
 "headline": "Встреча с членом Постоянного комитета Ли Си", "datePublished": "2025-09-22T13:08:00+03:00"}</script>
</head><body><header><div class="today">Сегодня 29 ноября 2026</div><h1 class="logo">Президент</h1></header>
<main><h1>Встреча с членом Постоянного комитета Ли Си</h1><time data-datetime="2025-09-22T13:08:00+03:00">22 сентября</time>
<section class="page-details__content"><div class="wysiwyg"><p>Новости Беларуси. Лукашенко встретился с Ли Си.</p>
<p>Китай всегда может рассчитывать на Беларусь.</p></div>
<ul class="tag-list"><li class="tag-list__it"><a href="/tags/1">Встречи</a></li></ul>
<div class="share">Поделиться в Telegram</div></section>
<aside><h3>Related</h3><time datetime="2026-11-28T10:00:00+03:00">вчера</time></aside></main></body></html>"""


def test_article_metadata_first_then_selectors():
    c = ctx(kind="listing", listing={"item": "li"},
            article={"body": "section.page-details__content", "remove": ["ul.tag-list", "div.share"],
                     "strip_prefix": "Новости Беларуси."})
    entry, out = ArticleReader(c, c.source.article).read(page(ARTICLE, purpose="article"), Entry("https://site.example/a"))
    assert entry.title == "Встреча с членом Постоянного комитета Ли Си"
    assert entry.methods["title"] == "json-ld headline"
    assert entry.published == datetime(2025, 9, 22, 10, 8, tzinfo=UTC)
    assert entry.methods["date"] == "json-ld datePublished"
    assert entry.body.startswith("Лукашенко встретился") and "рассчитывать на Беларусь" in entry.body
    assert "Встречи" not in entry.body and "Поделиться" not in entry.body


def test_a_local_clock_labelled_utc_is_read_in_the_sources_zone():
    html = ('<html><head><meta name="mediator_published_time" content="2026-10-02T11:54:00+00:00">'
            '<meta property="article:published_time" content="2026-10-02T11:54:00+00:00"></head>'
            '<body><h1>T</h1><div class="js-mediator-article">Body text here.</div></body></html>')
    c = ctx(kind="listing", listing={"item": "li"}, article={"body": "div.js-mediator-article", "date_zone": "Europe/Minsk"})
    entry, _ = ArticleReader(c, c.source.article).read(page(html, purpose="article"), Entry("https://site.example/a"))
    assert entry.published == datetime(2026, 10, 2, 8, 54, tzinfo=UTC)


def test_a_configured_selector_overrides_metadata_and_says_when_it_finds_nothing():
    c = ctx(kind="listing", listing={"item": "li"}, article={"date": "span.date._big::text", "title": "h1.missing"})
    html = ARTICLE.replace("<main>", '<main><span class="date _big">21 сентября 2025</span>')
    entry, out = ArticleReader(c, c.source.article).read(page(html, purpose="article"), Entry("https://site.example/a"))
    assert entry.published == datetime(2025, 9, 20, 21, 0, tzinfo=UTC)
    assert entry.methods["date"] == "selector span.date._big::text"
    assert any("title selector 'h1.missing' matched nothing" in w for w in out.warnings)
    assert entry.methods["title"] == "json-ld headline"
