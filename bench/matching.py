"""Matching throughput: MB of text per second on one core, with 10 to 10,000 terms.

Builds its own corpus of news-sized items (title, summary, ~2.5 KB body) in English,
Russian and Belarusian from the labelled headlines' vocabulary plus generated words, and
term lists of 10, 100, 1,000 and 10,000 terms (words, phrases, wildcards, acronyms) that
include the shipped Belarus/partner terms. Prints a table; median of several runs.

    python bench/matching.py [--items 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path

from alerts.matcher import Matcher
from alerts.rules import Topic, compile_rules

ROOT = Path(__file__).resolve().parent.parent
CYR = "абвгдежзиклмнопрстуфхцчшыэюяіў"
LAT = "abcdefghijklmnopqrstuvwxyz"


def vocabulary(rng: random.Random) -> list[str]:
    words = []
    for line in (ROOT / "tests" / "data" / "headlines" / "labelled.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        words += (row["title"] + " " + row["lede"]).split()
    for _ in range(20000):
        alphabet = CYR if rng.random() < 0.6 else LAT
        words.append("".join(rng.choice(alphabet) for _ in range(rng.randint(3, 11))))
    return words


def corpus(rng: random.Random, vocab: list[str], n: int) -> list[dict]:
    items = []
    for _ in range(n):
        body = " ".join(rng.choice(vocab) for _ in range(rng.randint(300, 420)))
        items.append({"title": " ".join(rng.choice(vocab) for _ in range(10)),
                      "summary": " ".join(rng.choice(vocab) for _ in range(30)), "body": body})
    return items


def term_lists(rng: random.Random, n: int) -> dict[str, list[str]]:
    base = {"belarus": ["Belarus", "Belarusian*", "Lukashenk*", "Minsk", "Беларусь", "белорусск*", "Лукашэнк*", "Мінск"],
            "iran": ["Iran", "Iranian*", "Tehran", "Иран", "иранск*", "Іран", "Тегеран"]}
    extra = []
    while len(extra) < max(0, n - 15):
        alphabet = CYR if rng.random() < 0.6 else LAT
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(4, 10)))
        r = rng.random()
        if r < 0.2:
            word += "*"
        elif r < 0.3:
            word += " " + "".join(rng.choice(alphabet) for _ in range(rng.randint(4, 8)))
        elif r < 0.35:
            word = word[:4].upper()
        extra.append(word)
    lists = dict(base)
    for i in range(0, len(extra), 50):
        lists[f"extra{i // 50}"] = extra[i:i + 50]
    return lists


def run(n_terms: int, items: list[dict], runs: int, rng: random.Random) -> tuple[int, float]:
    lists = term_lists(rng, n_terms)
    topics = [Topic(id="belarus-iran", all=["belarus", "iran"])]
    topics += [Topic(id=f"t{i}", any=[name]) for i, name in enumerate(l for l in lists if l.startswith("extra"))]
    rb = compile_rules(lists, topics)
    size_mb = sum(len(f.encode("utf-8")) for it in items for f in it.values()) / 1e6
    speeds = []
    for _ in range(runs):
        matcher = Matcher(rb)          # a cold cache each run
        start = time.perf_counter()
        for it in items:
            matcher.match(it)
        speeds.append(size_mb / (time.perf_counter() - start))
    return len(rb.terms), statistics.median(speeds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(7)
    items = corpus(rng, vocabulary(rng), args.items)
    mb = sum(len(f.encode("utf-8")) for it in items for f in it.values()) / 1e6
    print(f"matching throughput — {args.items} items, {mb:.1f} MB, median of {args.runs} runs, one core")
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'terms':>8} {'MB/s':>8} {'vs 10 terms':>12}")
    first = None
    speeds = {}
    for n in (10, 100, 1000, 10000):
        count, speed = run(n, items, args.runs, rng)
        first = first or speed
        speeds[n] = speed
        print(f"{count:>8} {speed:>8.1f} {first / speed:>11.2f}x")
    print("BENCH " + json.dumps({"bench": "matching", "mb_per_s": {str(k): round(v, 1) for k, v in speeds.items()},
                                 "slowdown_10k": round(speeds[10] / speeds[10000], 2)}))
    print("targets: >= 10 MB/s at 10,000 terms; 10,000 terms no more than 1.5x slower than 10")


if __name__ == "__main__":
    main()
