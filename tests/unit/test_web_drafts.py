"""The rules workbench's drafts: a topic as a draft, and a draft saved back into
settings.yaml with the file's comments and layout kept, never an invalid file."""

from __future__ import annotations

import os

import pytest

from newswatch.scheduler.config import ConfigError, load_config
from newswatch.scheduler.web import drafts

SETTINGS = """\
# the desk's settings: this comment must survive a save
storage: {url: "sqlite:///state/nw.db"}
sources:
  - {id: belta, kind: feed, url: "https://eng.belta.by/rss"}   # inline comment kept
terms:
  belarus: [Belarus, Minsk]     # the country
  iran:
    - Iran
    - Tehran

  # partners below
  relations: [talks, visit]
topics:
  - id: belarus-iran
    name: "Belarus – Iran"
    all: [belarus, iran]
    any: [relations]

  - id: belarus-only          # kept as it is
    all: [belarus]
subscribers:
  - {name: desk, email: desk@example.org, topics: [belarus-iran], digest: daily 08:00}
"""


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text(SETTINGS, encoding="utf-8")
    return path


def test_a_topic_as_a_draft_holds_its_entry_and_the_lists_asked_for():
    draft = drafts.topic_draft(SETTINGS, "belarus-iran", ["iran"])
    assert "id: belarus-iran" in draft and "belarus-only" not in draft
    assert "- Tehran" in draft and "Minsk" not in draft


@pytest.mark.parametrize("variant", ["as is", "crlf", "trailing blank lines"])
def test_an_unchanged_draft_leaves_the_file_byte_for_byte(variant):
    draft = drafts.topic_draft(SETTINGS, "belarus-iran", ["iran", "relations"])
    if variant == "crlf":
        draft = draft.replace("\n", "\r\n")
    elif variant == "trailing blank lines":
        draft += "\n\n\n"
    assert drafts.merged(SETTINGS, draft) == SETTINGS


@pytest.mark.parametrize("change, present, absent", [
    # (draft edit, text that must be in the new file, text that must not)
    (("any: [relations]", "any: [relations, [agreement, roadmap]]"), "any: [relations, [agreement, roadmap]]",
     "any: [relations]\n"),
    (("- Tehran", "- Tehran\n    - Isfahan"), "- Isfahan", None),
])
def test_a_changed_draft_changes_only_its_topic_and_lists(change, present, absent):
    draft = drafts.topic_draft(SETTINGS, "belarus-iran", ["iran"]).replace(*change)
    out = drafts.merged(SETTINGS, draft)
    assert present in out
    if absent:
        assert absent not in out
    for kept in ("# the desk's settings: this comment must survive a save", "# inline comment kept",
                 "# the country", "# partners below", "- id: belarus-only          # kept as it is"):
        assert kept in out


def test_a_new_topic_is_appended():
    draft = "topics:\n  - id: belarus-china\n    all: [belarus, [China, Beijing]]\n"
    out = drafts.merged(SETTINGS, draft)
    assert out.index("id: belarus-only") < out.index("id: belarus-china")


def test_save_writes_a_valid_file_and_keeps_its_mode(settings):
    os.chmod(settings, 0o640)
    draft = drafts.topic_draft(SETTINGS, "belarus-iran").replace("any: [relations]", "any: [relations, [deal]]")
    saved = drafts.save(settings, drafts.digest_of(SETTINGS), draft, environ={})
    assert "any: [relations, [deal]]" in settings.read_text()
    assert saved.before == SETTINGS and saved.after == settings.read_text()
    assert load_config(settings, environ={}).rulebook.version == saved.config.rulebook.version
    assert settings.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in settings.parent.iterdir() if p.name.startswith(".settings-")] == []


@pytest.mark.parametrize("draft, words", [
    ("topics:\n  - id: belarus-iran\n    all: [belarus, nosuchlist]\n", "unknown term list 'nosuchlist'"),
    ("topics:\n  - id: belarus-iran\n    all: [belarus\n", "(yaml)"),
    ("topics:\n  - id: Bad Id\n    all: [belarus]\n", "topic id"),
])
def test_an_invalid_draft_is_never_written(settings, draft, words):
    with pytest.raises(ConfigError) as caught:
        drafts.save(settings, drafts.digest_of(SETTINGS), draft, environ={})
    assert words in str(caught.value)
    assert settings.read_text() == SETTINGS


def test_a_file_changed_since_the_page_was_opened_is_not_overwritten(settings):
    settings.write_text(SETTINGS + "# edited on disk\n")
    with pytest.raises(drafts.StaleFile):
        drafts.save(settings, drafts.digest_of(SETTINGS), drafts.topic_draft(SETTINGS, "belarus-iran"), environ={})
    assert settings.read_text().endswith("# edited on disk\n")


def test_a_draft_with_other_sections_is_refused():
    live = load_config_text(SETTINGS)
    with pytest.raises(ConfigError) as caught:
        drafts.parse_draft(live, "sources: []\ntopics:\n  - id: belarus-iran\n    all: [belarus]\n")
    assert "only terms: and topics:" in str(caught.value)


def load_config_text(text: str):
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    (folder / "settings.yaml").write_text(text)
    return load_config(folder / "settings.yaml", environ={})


@pytest.mark.parametrize("draft, words", [
    # an anchor named like one in settings.yaml would change another topic there
    ("topics:\n  - id: belarus-iran\n    all: &a [belarus, iran]\n    any: *a\n", "anchors and aliases"),
    ("terms:\n  iran: !!python/object/apply:os.system [\"true\"]\n", "tag"),
    ("topics:\n  - id: belarus-iran\n    all: [belarus, ['" + "x" * 300 + "']]\n", "at most 200 characters"),
    ("topics:\n  - id: belarus-only\n    all: [iran]\n", "also holds 'belarus-only'"),
])
def test_drafts_that_could_change_more_than_they_show_are_refused(settings, draft, words):
    live = load_config(settings, environ={})
    with pytest.raises(ConfigError) as caught:
        drafts.parse_draft(live, draft, "belarus-iran")
    assert words in str(caught.value)
    if "anchors" in words or "tag" in words:
        with pytest.raises(ConfigError):
            drafts.save(settings, drafts.digest_of(SETTINGS), draft, environ={})
        assert settings.read_text() == SETTINGS


def test_two_saves_at_once_never_both_win(settings):
    import threading

    results: list[str] = []

    def save(term: str) -> None:
        draft = drafts.topic_draft(SETTINGS, "belarus-iran").replace("any: [relations]", f"any: [relations, [{term}]]")
        try:
            drafts.save(settings, drafts.digest_of(SETTINGS), draft, environ={})
            results.append(term)
        except drafts.StaleFile:
            results.append("stale")

    threads = [threading.Thread(target=save, args=(t,)) for t in ("deal", "pact")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results)[-1] == "stale" and len(results) == 2
    (won,) = [r for r in results if r != "stale"]
    assert f"[{won}]" in settings.read_text()


def test_a_file_with_crlf_line_ends_is_saved_and_keeps_them(settings):
    settings.write_bytes(SETTINGS.replace("\n", "\r\n").encode())
    text = settings.read_bytes().decode()
    draft = drafts.topic_draft(SETTINGS, "belarus-iran").replace("any: [relations]", "any: [relations, [deal]]")
    drafts.save(settings, drafts.digest_of(text), draft, environ={})
    out = settings.read_bytes().decode()
    assert "any: [relations, [deal]]\r\n" in out and "\n" not in out.replace("\r\n", "")
