"""Labelled evaluation (issue 17): the shipped topics on the dev split of the blind cases
(written from real news by people who had not read the rules) and on the project's own
older set; the `eval` command and its errors. The test split is not asserted here: it is
reported once, in the README (`newswatch eval tests/data/cases/blind-*.tsv --split test`)."""

from __future__ import annotations

import pytest

from newswatch.alerts.evaluation import CaseFileError, evaluate, load_cases
from newswatch.alerts.matcher import Matcher
from newswatch.scheduler.config import load_config
from tests.conftest import DATA, ROOT

TOPICS = ("belarus-iran", "belarus-china", "belarus-sco")
BLIND = sorted((DATA / "cases").glob("blind*.tsv"))


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_config(ROOT / "settings.yaml", environ={}).rulebook)


def test_the_blind_cases_are_many_split_and_whole_items():
    cases = [c for p in BLIND for c in load_cases(p)]
    assert len(cases) >= 900
    assert {c.lang for c in cases} == {"en", "ru", "be"}
    assert {"dev", "dev2"} <= {c.split for c in cases}
    assert sum(c.kind == "item" for c in cases) >= len(cases) / 2
    # most are paraphrased from real published pages and keep the page's address
    assert sum(c.url.startswith("http") for c in cases) >= 0.6 * len(cases)
    for t in TOPICS:
        assert sum(t in c.topics for c in cases if c.split == "dev") >= 30


def test_dev_splits_precision_and_recall(matcher, capsys):
    # dev2 and dev3 were held out, reported once (docs/eval-test-v1.txt, -v2.txt), then
    # tuned on; the `test` split is reported in the README, not asserted here
    cases = [c for p in BLIND for c in load_cases(p) if c.split.startswith("dev")]
    report = evaluate(matcher, cases)
    with capsys.disabled():
        print("\n" + report.text(limit=20))
    for t in TOPICS:
        c = report.per_topic[t]
        assert c.precision >= 0.95 and c.recall >= 0.95, (t, c)
    for lang, c in report.per_lang.items():
        assert c.recall >= 0.93, (lang, c)


def test_own_older_labelled_set(matcher):
    report = evaluate(matcher, load_cases(DATA / "headlines" / "labelled.jsonl"))
    for t in TOPICS:
        c = report.per_topic[t]
        assert c.precision >= 0.95 and c.recall >= 0.95, (t, c, report.text())


def test_eval_command(run_cli):
    code, out, _ = run_cli("eval", str(ROOT / "docs" / "examples" / "cases.tsv"), "--lang", "en",
                           config=ROOT / "settings.yaml")
    assert code == 0
    assert "belarus-iran         1.000   0.500    1    0    1" in out
    assert "MISS belarus-iran: ex-6" in out and "why: no 'relations' term" in out


@pytest.mark.parametrize("content,words", [
    ("id\tlang\n1\ten\n", "the header must be"),
    ("id\tsplit\tlang\tkind\ttopics\ttitle\ttext\turl\tclass\tnote\nx\tdev\ten\n", "3 columns, expected 10"),
])
def test_bad_case_files_are_refused_with_the_line(tmp_path, run_cli, content, words):
    path = tmp_path / "cases.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CaseFileError, match=words):
        load_cases(path)
    code, _, err = run_cli("eval", str(path), config=ROOT / "settings.yaml")
    assert code == 2 and words in err and "cases.tsv:" in err


def test_a_draft_with_only_a_new_topic_is_evaluated_over_the_live_rules(tmp_path, run_cli):
    draft = tmp_path / "draft.yaml"
    draft.write_text("topics:\n  - id: belarus-only\n    all: [belarus]\n", encoding="utf-8")
    code, out, _ = run_cli("eval", str(ROOT / "docs" / "examples" / "cases.tsv"), "--topic", "belarus-only",
                           "--settings", str(draft), config=ROOT / "settings.yaml")
    assert code == 0 and "belarus-only" in out


def test_a_draft_with_a_mistake_is_reported_with_its_line(tmp_path, run_cli):
    draft = tmp_path / "draft.yaml"
    draft.write_text("topics:\n  - id: x\n    all: [belarus, irann]\n", encoding="utf-8")
    code, _, err = run_cli("match", "--settings", str(draft), "--text", "x", config=ROOT / "settings.yaml")
    assert code == 2
    assert "draft.yaml:3" in err and "did you mean 'iran'" in err
