"""Matching speed: MB of text per CPU second on one core, with the shipped topics, the
ratio to a bare pyahocorasick scan of the same text, and 10 to 10,000 terms.

Text: bench/data/news.jsonl — news items in English and Russian (some Belarusian)
paraphrased from real published pages (see bench/data/PROVENANCE.md): Belarusian news of
every kind, world news, and the share that names Iran, China or the SCO that such feeds
really carry. The items are repeated in shuffled order up to --mb megabytes.

The baseline is the least any keyword matcher must do: one pyahocorasick automaton holding
every form of every word of the shipped terms, run over the lower-cased text, counting
what it finds. newswatch does that and more (word boundaries, phrases, sentences, the
decision and the evidence); the ratio says what the rest costs.

    python bench/matching.py [--mb 8] [--runs 3] [--lang en,ru]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import ahocorasick

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine  # noqa: E402
from newswatch.alerts.matcher import Matcher  # noqa: E402
from newswatch.alerts.rules import Rulebook, Topic, compile_rules  # noqa: E402
from newswatch.scheduler.config import load_config  # noqa: E402

FIELDS = ("title", "summary", "body")


def corpus(langs: set[str], mb: float, seed: int = 7) -> list[dict[str, str]]:
    path = ROOT / "bench" / "data" / "news.jsonl"
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    rows = [{k: r.get(k, "") for k in FIELDS} for r in rows if r["lang"] in langs]
    rng = random.Random(seed)
    items: list[dict[str, str]] = []
    size = 0
    while size < mb * 1e6:
        rng.shuffle(rows)
        for r in rows:
            items.append(r)
            size += sum(len(v.encode("utf-8")) for v in r.values())
    return items


def size_mb(items: list[dict[str, str]]) -> float:
    return sum(len(v.encode("utf-8")) for it in items for v in it.values()) / 1e6


def time_matcher(matcher: Matcher, items: list[dict[str, str]], runs: int) -> tuple[float, int]:
    """Median CPU seconds of matching every item, and the number of matches."""
    times = []
    found = 0
    for _ in range(runs):
        found = 0
        start = time.process_time()
        for it in items:
            found += len(matcher.match(it))
        times.append(time.process_time() - start)
    return statistics.median(times), found


def time_aho(rulebook: Rulebook, items: list[dict[str, str]], runs: int) -> float:
    automaton = ahocorasick.Automaton()
    for i, term in enumerate(rulebook.terms):
        for word in term.words:
            for key in word.forms or ([word.prefix] if word.prefix else []):
                automaton.add_word(key, i)
    automaton.make_automaton()
    times = []
    for _ in range(runs):
        start = time.process_time()
        n = 0
        for it in items:
            for text in it.values():
                for _ in automaton.iter(text.lower()):
                    n += 1
        times.append(time.process_time() - start)
    return statistics.median(times)


def scaled_rulebook(n_terms: int, shipped: dict[str, list[str]], rng: random.Random) -> Rulebook:
    """The Belarus–Iran topic with a small vocabulary plus filler topics of invented words
    (single words, wildcards, phrases, acronyms) up to ``n_terms`` terms."""
    base = {"belarus": ["Belarus", "Belarusian", "Lukashenk*", "Minsk", "Беларусь", "белорусский", "Лукашенко"],
            "iran": ["Iran", "Iranian", "Tehran"]}
    have = sum(len(v) for v in base.values())
    cyr, lat = "абвгдежзиклмнопрстуфхцчшыэюя", "abcdefghijklmnopqrstuvwxyz"
    extra = []
    while have + len(extra) < n_terms:
        alphabet = cyr if rng.random() < 0.5 else lat
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(5, 10)))
        r = rng.random()
        if r < 0.15:
            word += "*"
        elif r < 0.25:
            word += " " + "".join(rng.choice(alphabet) for _ in range(rng.randint(4, 8)))
        elif r < 0.3:
            word = word[:4].upper()
        extra.append(word)
    lists = dict(base)
    for i in range(0, len(extra), 50):
        lists[f"extra{i // 50}"] = extra[i:i + 50]
    topics = [Topic(id="belarus-iran", all=["belarus", "iran"])]
    topics += [Topic(id=f"t{i}", any=[name]) for i, name in enumerate(k for k in lists if k.startswith("extra"))]
    return compile_rules(lists, topics)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=8.0, help="megabytes of text per run")
    ap.add_argument("--runs", type=int, default=3, help="runs; the median is shown")
    ap.add_argument("--lang", default="en,ru", help="languages of the items (en, ru, be)")
    args = ap.parse_args()
    items = corpus(set(args.lang.split(",")), args.mb)
    mb = size_mb(items)
    cfg = load_config(ROOT / "settings.yaml", environ={})
    start = time.process_time()
    matcher = Matcher(cfg.rulebook)
    compile_s = time.process_time() - start
    matcher.match({"title": "warm-up", "body": "Belarus and Iran"})
    print(f"matching speed — {len(items)} items ({args.lang}), {mb:.1f} MB, median of {args.runs} runs, CPU time "
          f"of one core")
    print(f"machine: {machine()}")
    seconds, found = time_matcher(matcher, items, args.runs)
    aho = time_aho(cfg.rulebook, items, args.runs)
    speed, aho_speed = mb / seconds, mb / aho
    print(f"shipped topics: {len(cfg.rulebook.topics)} topics, {len(cfg.rulebook.terms)} terms "
          f"(compiled in {compile_s:.2f} s)")
    print(f"  newswatch      {speed:7.1f} MB/s   ({found} matches)")
    print(f"  pyahocorasick  {aho_speed:7.1f} MB/s   (every form of every term word, counted)")
    print(f"  ratio          {speed / aho_speed:7.2f}")
    rng = random.Random(11)
    scale = {}
    print(f"{'terms':>8} {'MB/s':>8} {'vs 10 terms':>12}")
    for n in (10, 100, 1000, 10000):
        rb = scaled_rulebook(n, cfg.settings.terms, rng)
        scaled = Matcher(rb)
        scaled.match({"title": "warm-up", "body": "Belarus and Iran"})     # built lazily, as the shipped one
        s, _ = time_matcher(scaled, items, args.runs)
        scale[n] = mb / s
        print(f"{len(rb.terms):>8} {scale[n]:>8.1f} {scale[10] / scale[n]:>11.2f}x")
    print("BENCH " + json.dumps({"bench": "matching", "mb_per_s": round(speed, 1), "aho_mb_per_s": round(aho_speed, 1),
                                 "ratio": round(speed / aho_speed, 3),
                                 "scale_mb_per_s": {str(k): round(v, 1) for k, v in scale.items()}}))
    print("target: >= 25 MB/s with the shipped topics; 10,000 terms about as fast as 10")


if __name__ == "__main__":
    main()
