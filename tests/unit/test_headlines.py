"""Issue 3, "Done when": the labelled headlines (en/ru/be, positives and near misses) run
against the shipped settings.yaml; precision and recall are at least 0.95 for every topic."""

from __future__ import annotations

import json

from newswatch.alerts.matcher import Matcher
from newswatch.scheduler.config import load_config
from tests.conftest import DATA, ROOT

TOPICS = ("belarus-iran", "belarus-china", "belarus-sco")


def _rows() -> list[dict]:
    lines = (DATA / "headlines" / "labelled.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_labelled_set_is_big_and_balanced():
    rows = _rows()
    assert len(rows) >= 150
    assert {r["lang"] for r in rows} == {"en", "ru", "be"}
    positives = sum(1 for r in rows if r["topics"])
    assert 0.35 <= positives / len(rows) <= 0.65
    for t in TOPICS:
        assert sum(1 for r in rows if t in r["topics"]) >= 30


def test_precision_and_recall_per_topic(capsys):
    matcher = Matcher(load_config(ROOT / "settings.yaml", environ={}).rulebook)
    counts = {t: {"tp": 0, "fp": 0, "fn": 0} for t in TOPICS}
    mistakes = []
    for r in _rows():
        got = {m.topic_id for m in matcher.match({"title": r["title"], "summary": r["lede"]})}
        for t in TOPICS:
            want = t in r["topics"]
            if want and t in got:
                counts[t]["tp"] += 1
            elif t in got:
                counts[t]["fp"] += 1
                mistakes.append(f"false positive {t}: {r['id']} {r['title']}")
            elif want:
                counts[t]["fn"] += 1
                mistakes.append(f"missed {t}: {r['id']} {r['title']}")
    report = []
    for t, c in counts.items():
        precision = c["tp"] / max(1, c["tp"] + c["fp"])
        recall = c["tp"] / max(1, c["tp"] + c["fn"])
        c.update(precision=precision, recall=recall)
        report.append(f"{t:<14} precision {precision:.3f}  recall {recall:.3f}  (tp {c['tp']}, fp {c['fp']}, fn {c['fn']})")
    with capsys.disabled():
        print("\n" + "\n".join(report + mistakes))
    for t, c in counts.items():
        assert c["precision"] >= 0.95 and c["recall"] >= 0.95, report
