"""Labelled evaluation: how well the topics do on cases a person labelled.

A case file is tab-separated with a header line and the columns
``id split lang kind topics title text url class note`` (``topics`` is a comma-separated
list of topic ids, or ``-`` for none; ``text`` is the lede and any further sentences, on one
line). ``split`` is ``dev`` (tune on it) or ``test`` (report on it). The older JSON-lines
form (``id lang title lede topics``) is read too. Analysts' verdicts from digests
(``relevant`` / ``not relevant``) are cases as well (see ``feedback_cases``).

``evaluate`` scores every topic: precision and recall overall, per language and per kind
(headline or whole item), and lists every false alarm and every miss with the matcher's
reason (why it matched, or which requirement failed).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from newswatch.alerts.matcher import Matcher
from newswatch.storage.rows import FeedbackRow, StoredItem

COLUMNS = ("id", "split", "lang", "kind", "topics", "title", "text", "url", "class", "note")


class CaseFileError(ValueError):
    pass


@dataclass(frozen=True)
class Case:
    id: str
    lang: str
    title: str
    text: str
    topics: frozenset[str]
    split: str = "dev"
    kind: str = "headline"          # headline | item
    url: str = ""
    cls: str = ""
    note: str = ""
    judged: Optional[frozenset[str]] = None   # the topics this case speaks for (None: every topic)

    def fields(self) -> dict[str, str]:
        return {"title": self.title, "body": self.text}


def load_cases(path: Path | str) -> list[Case]:
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseFileError(f"cannot read {path}: {exc.strerror}") from None
    if path.suffix == ".jsonl":
        out = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                out.append(Case(r["id"], r["lang"], r["title"], r.get("lede", r.get("text", "")),
                                frozenset(r.get("topics") or ()), r.get("split", "own"), r.get("kind", "headline"),
                                r.get("url", ""), r.get("class", ""), r.get("note", "")))
            except (ValueError, KeyError) as exc:
                raise CaseFileError(f"{path}:{n}: not a case ({exc})") from None
        return out
    rows = list(csv.reader(raw.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or [c.strip() for c in rows[0]][:len(COLUMNS)] != list(COLUMNS):
        raise CaseFileError(f"{path}:1: the header must be: {' '.join(COLUMNS)} (tab-separated)")
    out = []
    for n, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(COLUMNS):
            raise CaseFileError(f"{path}:{n}: {len(row)} columns, expected {len(COLUMNS)}")
        r = dict(zip(COLUMNS, row))
        topics = frozenset(t.strip() for t in r["topics"].split(",") if t.strip() and t.strip() != "-")
        out.append(Case(r["id"], r["lang"], r["title"], r["text"], topics, r["split"], r["kind"], r["url"],
                        r["class"], r["note"]))
    return out


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def row(self) -> str:
        """precision, recall, tp, fp, fn — a figure with nothing to measure is shown as '-'."""
        p = f"{self.precision:>9.3f}" if self.tp + self.fp else f"{'-':>9}"
        r = f"{self.recall:>7.3f}" if self.tp + self.fn else f"{'-':>7}"
        return f"{p} {r} {self.tp:>4} {self.fp:>4} {self.fn:>4}"

    def add(self, want: bool, got: bool) -> None:
        if want and got:
            self.tp += 1
        elif got:
            self.fp += 1
        elif want:
            self.fn += 1
        else:
            self.tn += 1


@dataclass
class Mistake:
    case: Case
    topic: str
    kind: str                       # false alarm | miss
    reason: str


@dataclass
class Report:
    topics: list[str]
    cases: int = 0
    per_topic: dict[str, Counts] = field(default_factory=dict)
    per_lang: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    per_kind: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    per_topic_kind: dict[tuple[str, str], Counts] = field(default_factory=lambda: defaultdict(Counts))
    mistakes: list[Mistake] = field(default_factory=list)

    def text(self, details: bool = True, limit: Optional[int] = None) -> str:
        lines = [f"{self.cases} case(s)"]
        lines.append(f"{'topic':<16} {'precision':>9} {'recall':>7}   tp   fp   fn")
        for t in self.topics:
            c = self.per_topic[t]
            lines.append(f"{t:<16} {c.row()}")
        for title, table in (("language", self.per_lang), ("kind", self.per_kind)):
            for key in sorted(table):
                c = table[key]
                lines.append(f"{title + ' ' + key:<16} {c.row()}")
        if details and self.mistakes:
            lines.append("")
            for m in self.mistakes[:limit]:
                lines.append(f"{m.kind.upper()} {m.topic}: {m.case.id} [{m.case.lang}/{m.case.kind}] {m.case.title}")
                lines.append(f"    why: {m.reason}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        def c(x: Counts) -> dict:
            return {"precision": round(x.precision, 4), "recall": round(x.recall, 4), "tp": x.tp, "fp": x.fp,
                    "fn": x.fn}
        return {"cases": self.cases, "topics": {t: c(self.per_topic[t]) for t in self.topics},
                "languages": {k: c(v) for k, v in self.per_lang.items()},
                "kinds": {k: c(v) for k, v in self.per_kind.items()},
                "mistakes": [{"case": m.case.id, "topic": m.topic, "kind": m.kind, "reason": m.reason}
                             for m in self.mistakes]}


def evaluate(matcher: Matcher, cases: Iterable[Case], topics: Optional[list[str]] = None) -> Report:
    topic_ids = topics or matcher.rulebook.topic_ids
    report = Report(topic_ids, per_topic={t: Counts() for t in topic_ids})
    for case in cases:
        report.cases += 1
        decisions = {d.topic_id: d for d in matcher.explain(case.fields(), topic_ids)}
        for t in topic_ids:
            if case.judged is not None and t not in case.judged:
                continue            # an analyst's verdict on one topic says nothing of the others
            d = decisions.get(t)
            got = bool(d and d.matched)
            want = t in case.topics
            report.per_topic[t].add(want, got)
            report.per_topic_kind[(t, case.kind)].add(want, got)
            if want or got:
                report.per_lang[case.lang].add(want, got)
                report.per_kind[case.kind].add(want, got)
            if want != got:
                reason = d.reason if d else "no term of the topic in the item"
                report.mistakes.append(Mistake(case, t, "false alarm" if got else "miss", reason))
    return report


def feedback_cases(rows: Iterable[FeedbackRow], stored: dict[int, StoredItem]) -> list[Case]:
    """Analysts' verdicts as cases, each about its one topic: "relevant" and a reported
    missed story say the topic should match, "not relevant" that it should not. An
    analyst's later verdict on the same item and topic replaces the earlier one; a missed
    story that is not in the store counts with the title the analyst gave, or not at all."""
    latest: dict[tuple, FeedbackRow] = {}
    for r in sorted(rows, key=lambda r: (r.created_at, r.id)):
        if not r.topic_id or r.verdict not in ("relevant", "not_relevant", "missed"):
            continue
        latest[(r.subscriber, r.item_id or r.url, r.topic_id)] = r
    out = []
    for r in latest.values():
        topic = r.topic_id or ""
        item = stored.get(r.item_id) if r.item_id is not None else None
        if item is not None:
            lang, title, text, url = item.language, item.title, " ".join(x for x in (item.summary, item.body) if x), item.url
        elif r.title:
            lang, title, text, url = "?", r.title, "", r.url or ""
        else:
            continue
        want: frozenset[str] = frozenset() if r.verdict == "not_relevant" else frozenset([topic])
        out.append(Case(f"feedback-{r.id}", lang, title, text, want, split="feedback", kind="item", url=url,
                        cls="feedback", note=f"{r.subscriber}: {r.verdict.replace('_', ' ')} "
                                             f"({r.created_at:%Y-%m-%d})", judged=frozenset([topic])))
    return out
