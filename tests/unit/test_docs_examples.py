"""The examples in docs/rules.md are run: every ``$ newswatch …`` line of a ``console``
block is executed (in this process) with the shipped settings.yaml, in a scratch folder
holding docs/examples/ and a store seeded with docs/examples/items.jsonl; every line of
output the doc shows must appear in the real output, in that order."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from newswatch.scheduler.config import load_config
from newswatch.storage.crawl_repo import CrawlRepository
from newswatch.storage.engine import Database
from tests.conftest import ROOT
from tests.helpers import record

DOC = ROOT / "docs" / "rules.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def examples() -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for block in BLOCK.findall(DOC.read_text("utf-8")):
        lines = iter(block.splitlines())
        for line in lines:
            if line.startswith("$ "):
                command = line[2:]
                while not _complete(command):              # a quoted argument over several lines
                    command += "\n" + next(lines)
                out.append((command, []))
            elif out and line.strip():
                out[-1][1].append(line.rstrip())
    return out


def _complete(command: str) -> bool:
    try:
        shlex.split(command)
        return True
    except ValueError:
        return False


EXAMPLES = examples()


def test_the_doc_has_examples_of_every_rules_command():
    commands = " ".join(c for c, _ in EXAMPLES)
    for needed in ("match --explain", "eval ", "test-rule ", "--settings docs/examples/draft.yaml"):
        assert needed in commands, f"docs/rules.md has no example of '{needed.strip()}'"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("docs")
    shutil.copy(ROOT / "settings.yaml", where / "settings.yaml")
    shutil.copytree(ROOT / "docs" / "examples", where / "docs" / "examples")
    cfg = load_config(where / "settings.yaml", environ={})
    db = Database(cfg.storage_url)
    rows = [json.loads(line) for line in (where / "docs" / "examples" / "items.jsonl").read_text("utf-8").splitlines()
            if line.strip()]
    CrawlRepository(db).upsert_items([record(r["source"], r["url"], r["title"], r.get("summary", ""),
                                             r.get("body", "")) for r in rows])
    db.close()
    return where


@pytest.mark.parametrize("command,expected", EXAMPLES, ids=[c[:60] for c, _ in EXAMPLES])
def test_doc_example(folder, command, expected, capsys, monkeypatch):
    from newswatch.scheduler.cli import main

    monkeypatch.chdir(folder)
    monkeypatch.delenv("NEWSWATCH_CONFIG", raising=False)
    argv = shlex.split(command)
    assert argv[0] == "newswatch"
    code = main(argv[1:])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = [line.rstrip() for line in out.splitlines()]
    at = 0
    for want in expected:
        while at < len(lines) and lines[at] != want:
            at += 1
        assert at < len(lines), f"docs/rules.md shows {want!r} for `{command}`; the output is:\n{out}"
        at += 1
