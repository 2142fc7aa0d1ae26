"""HTML crawl: a local site of 2,000 article pages behind 20 listing pages (followed by
their "next" links); pages per second with politeness switched off, through the real
`newswatch crawl`. Median of several runs.

    python bench/html_crawl.py [--articles 2000] [--per-page 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Texts, emit, machine, newswatch_cmd, terms_and_topics  # noqa: E402
from newswatch.scheduler.sample_site import SiteServer  # noqa: E402
from newswatch.storage.crawl_repo import CrawlRepository  # noqa: E402
from newswatch.storage.engine import Database  # noqa: E402

NAV = "".join(f'<li><a href="/section/{i}/">Section {i}</a></li>' for i in range(30))


def listing(page: int, pages: int, per_page: int) -> str:
    items = "".join(
        f'<div class="news_item"><a class="title" href="/news/view/article-{n}/">Article {n}</a>'
        f'<span class="date">{1 + n % 28:02d}.10.2025 10:{n % 60:02d}</span></div>'
        for n in range(page * per_page, (page + 1) * per_page))
    nxt = f'<a class="next" href="/all_news/page/{page + 1}/">Next</a>' if page + 1 < pages else ""
    return f"<html><head><title>News</title></head><body><ul class=nav>{NAV}</ul><div id=inner>{items}</div>{nxt}</body></html>"


def article(n: int, texts: Texts) -> str:
    title, text = texts.item(n_ledes=5)
    # the corpus has 165 articles: number each so that every page is a story of its own
    title, text = f"{title} ({n})", f"Report {n}. {text}"
    paras = "".join(f"<p>{escape(p)}.</p>" for p in text.split(". "))
    return (f"<html><head><title>{escape(title)}</title><script>var x = {n};</script></head><body>"
            f"<ul class=nav>{NAV}</ul><div class=top_date>Thursday, 30 October 2025</div>"
            f"<h1>{escape(title)}</h1><div class=date_full>{1 + n % 28:02d} октября 2025, 10:{n % 60:02d}</div>"
            f'<div itemprop="articleBody">{paras}</div><footer>© BelTA</footer></body></html>')


SETTINGS = """
storage: {{url: "sqlite:///bench.db"}}
crawl: {{delay: 0s, autothrottle: false, retries: 0, concurrency_per_domain: 32, article_limit: {n},
        max_items_per_source: {per_page}}}
sources:
  - id: site
    kind: listing
    url: {base}/all_news/page/0/
    timezone: Europe/Minsk
    obey_robots: false
    listing: {{item: "div.news_item", link: "a.title::attr(href)", title: "a.title::text", date: ".date::text",
              next: "a.next::attr(href)", max_pages: {pages}}}
    article: {{title: h1, date: "div.date_full::text", body: "div[itemprop=articleBody]"}}
{terms_and_topics}
subscribers: []
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=2000)
    ap.add_argument("--per-page", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    pages = args.articles // args.per_page
    texts = Texts()
    rates = []
    with SiteServer() as site:
        for p in range(pages):
            site.add(f"/all_news/page/{p}/", listing(p, pages, args.per_page))
        for n in range(args.articles):
            site.add(f"/news/view/article-{n}/", article(n, texts))
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                cfg = Path(tmp) / "settings.yaml"
                cfg.write_text(SETTINGS.format(n=args.articles, per_page=args.per_page, base=site.base, pages=pages,
                                               terms_and_topics=terms_and_topics()))
                start = time.perf_counter()
                res = subprocess.run(newswatch_cmd() + ["--config", str(cfg), "crawl"], capture_output=True, text=True)
                took = time.perf_counter() - start
                db = Database(f"sqlite:///{tmp}/bench.db")
                stored = CrawlRepository(db).count_items()
                db.close()
            assert stored == args.articles, (stored, res.stdout[-1500:], res.stderr[-1500:])
            rates.append((pages + args.articles) / took)
            print(f"  run: {took:.2f}s for {pages} listing + {args.articles} article pages", file=sys.stderr)
    rate = sorted(rates)[len(rates) // 2]
    print(f"html crawl: {pages} listing pages, {args.articles} articles, politeness off, on {machine()}")
    print(f"  {rate:.0f} pages/s end to end (fetch, decode, select, date, store, match)")
    emit("html_crawl", pages_per_s=round(rate))


if __name__ == "__main__":
    main()
