"""Shared pieces of the benchmarks: realistic text, local sites, timing, the machine."""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"


def sentences() -> list[dict]:
    rows = [json.loads(l) for l in (ROOT / "tests" / "data" / "headlines" / "labelled.jsonl").read_text("utf-8").splitlines()]
    return [r for r in rows if r["lang"] in ("en", "ru")]


class Texts:
    """Realistic English and Russian news items for feeds: the title, summary and first
    paragraph of the paraphrased news in bench/data/news.jsonl (Belarusian and world news,
    some naming Iran, China or the SCO, as real feeds carry)."""

    def __init__(self, seed: int = 1):
        self.rng = random.Random(seed)
        rows = [json.loads(line) for line in (ROOT / "bench" / "data" / "news.jsonl").read_text("utf-8").splitlines()
                if line.strip()]
        self.rows = [r for r in rows if r["lang"] in ("en", "ru")]

    def item(self, n_ledes: int = 1) -> tuple[str, str]:
        row = self.rng.choice(self.rows)
        paragraphs = [p for p in row["body"].split("\n\n") if p.strip()]
        return row["title"], " ".join([row["summary"]] + paragraphs[:n_ledes])


def rss_feed(base: str, feed_no: int, n_items: int, texts: Texts, article_links: bool = False) -> bytes:
    """A feed; ``article_links``: links without tracking parameters (the pages are served)."""
    items = []
    for i in range(n_items):
        title, text = texts.item()
        # the corpus has 165 articles: number each so that every item is a story of its own
        title = f"{title} ({feed_no}.{i})"
        text = f"Report {feed_no}.{i}. {text}"
        day = 1 + (i % 28)
        link = f"{base}/f{feed_no}/news/{i}" + ("" if article_links else "?utm_source=rss")
        items.append(f"<item><title>{escape(title)}</title><link>{link}</link>"
                     f"<guid isPermaLink=\"false\">f{feed_no}-{i}</guid>"
                     f"<pubDate>Thu, {day:02d} Oct 2025 10:{i % 60:02d}:00 +0300</pubDate>"
                     f"<description>{escape('<p>' + text + '</p>')}</description></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {feed_no}</title>'
            f"<link>{base}/</link><description>bench</description>{''.join(items)}</channel></rss>").encode()


def newswatch_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "newswatch"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "newswatch.scheduler"]


def terms_and_topics() -> str:
    """The shipped term lists and topics, as settings text."""
    shipped = (ROOT / "settings.yaml").read_text("utf-8")
    return "terms:" + shipped.split("\nterms:", 1)[1].split("\nsubscribers:", 1)[0]


def median_of(runs: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(runs))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def emit(name: str, **figures) -> None:
    """One JSON line per benchmark, read by bench/run for its table."""
    print("BENCH " + json.dumps({"bench": name, **figures}), flush=True)


def byte_compile() -> None:
    """Byte-compile newswatch's modules, as `pip install` does: from a source checkout with
    PYTHONDONTWRITEBYTECODE set, every process would otherwise compile them again (about
    0.1 s each), which no installed copy does and no peer pays."""
    import compileall

    root = Path(__file__).resolve().parent.parent
    for folder in ("storage", "spiders", "alerts", "scheduler"):
        compileall.compile_dir(str(root / folder), quiet=1)
