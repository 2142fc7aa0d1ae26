"""Settings validation: the shipped file passes; every mistake is reported with its line, all
at once; hostile or half-written files are refused."""

from __future__ import annotations

import pytest

from newswatch.scheduler.config import ConfigError, load_config, parse_settings
from tests.conftest import ROOT

BASE = """\
storage:
  url: sqlite:///x.db
sources:
  - id: belta-en
    kind: feed
    url: https://eng.belta.by/rss
    timezone: Europe/Minsk
terms:
  belarus: [Belarus, Minsk]
  iran: [Iran]
topics:
  - id: belarus-iran
    all: [belarus, iran]
subscribers:
  - name: analyst
    email: analyst@example.org
    topics: [belarus-iran]
    digest: daily 08:00
    timezone: Europe/Minsk
email:
  transport: outbox
"""


def test_shipped_settings_are_valid():
    cfg = load_config(ROOT / "settings.yaml", environ={})
    assert {"belarus-iran", "belarus-china", "belarus-sco"} <= set(cfg.topics)
    assert len(cfg.settings.sources) >= 16


def test_embedded_defaults_are_the_shipped_settings():
    # `newswatch demo` uses scheduler/defaults.yaml; it must be the shipped file
    assert (ROOT / "scheduler" / "defaults.yaml").read_text("utf-8") == (ROOT / "settings.yaml").read_text("utf-8")


def test_base_is_valid():
    parse_settings(BASE)


# (replace this, with that) → (line, key, words in the message)
BROKEN = [
    ("    timezone: Europe/Minsk\nterms", "    timezone: Europe/Minks\nterms", 7, "sources[0].timezone", "unknown time zone"),
    ("    kind: feed", "    kind: rss", 5, "sources[0].kind", "'feed', 'listing', 'sitemap' or 'json'"),
    ("    url: https://eng.belta.by/rss", "    url: eng.belta.by/rss", 6, "sources[0].url", "not an http(s) URL"),
    ("    url: https://eng.belta.by/rss", "    url: http://169.254.169.254/latest", 6, "sources[0].url", "metadata"),
    ("    url: https://eng.belta.by/rss", "    url: file:///etc/passwd", 6, "sources[0].url", "not an http(s) URL"),
    ("  - id: belta-en", "  - id: BelTA EN", 4, "sources[0].id", "a-z, 0-9"),
    ("    timezone: Europe/Minsk\nterms", "    timezone: Europe/Minsk\n    link_pattern: '(view'\nterms", 8,
     "sources[0].link_pattern", "bad regular expression"),
    ("    all: [belarus, iran]", "    all: [belarus, irn]", 13, "topics[0].all[1]", "unknown term list 'irn'; did you mean 'iran'"),
    ("    topics: [belarus-iran]", "    topics: [belarus-iraq]", 17, "subscribers[0].topics[0]", "unknown topic 'belarus-iraq'"),
    ("    digest: daily 08:00", "    digest: daily 8am", 18, "subscribers[0].digest", "not a cadence"),
    ("    digest: daily 08:00", "    digest: weekly FRIGHTENING 17:00", 18, "subscribers[0].digest", "unknown day"),
    ("    email: analyst@example.org", "    email: analyst-at-example", 16, "subscribers[0].email", "not an email address"),
    ("  - name: analyst", "  - name: \"ana\\r\\nBcc: x@evil.org\"", 15, "subscribers[0].name", "line break"),
    ("  transport: outbox", "  transport: pigeon", 21, "email.transport", "'outbox' or 'smtp'"),
    ("  transport: outbox", "  transport: outbox\n  from: \"nw <a@b.org>\\r\\nBcc: x@evil.org\"", 22, "email.from", "line break"),
    ("  transport: outbox", "  transport: outbox\n  list_id: \"x\\ny\"", 22, "email.list_id", "line break"),
    ("  url: sqlite:///x.db", "  url: sqlite:///x.db\n  retention: 30", 3, "storage.retention", "did you mean 'retention_days'"),
    ("  iran: [Iran]", "  iran: ['re:(a+)+(']", 10, "terms.iran[0]", "bad regular expression"),
    ("  iran: [Iran]", "  iran: ['ir*']", 10, "terms.iran[0]", "too much"),
    ("  iran: [Iran]", "  iran: []", 10, "terms.iran", "empty"),
    ("    all: [belarus, iran]", "    none: [iran]", 12, "topics[0]", "neither 'all' nor 'any'"),
    ("sources:\n", "sources:\n  - id: belta-en\n    kind: feed\n    url: https://x.by/rss\n", 7, "sources[1].id", "duplicate source id"),
    ("    kind: feed", "    kind: listing", 4, "sources[0]", "needs a 'listing' block"),
    ("email:\n  transport: outbox", "email:\n  transport: outbox\n  smtp: {port: many}", 22, "email.smtp.port", "integer"),
    ("storage:\n", "crawl: {interval: 0s}\nstorage:\n", 1, "crawl.interval", "longer than 0s"),
    ("storage:\n", "crawl: {timeout: -5s}\nstorage:\n", 1, "crawl.timeout", "duration"),
    ("    timezone: Europe/Minsk\nterms", "    timezone: Europe/Minsk\n    interval: 0s\nterms", 8, "sources[0].interval", "longer than 0s"),
]


@pytest.mark.parametrize("old,new,line,key,words", BROKEN, ids=[b[3] + ":" + b[4][:20] for b in BROKEN])
def test_mistakes_are_reported_with_line_and_key(old, new, line, key, words):
    assert old in BASE
    text = BASE.replace(old, new, 1)
    with pytest.raises(ConfigError) as exc:
        parse_settings(text, "s.yaml")
    found = [p for p in exc.value.problems if p.key == key]
    assert found, f"no problem for {key}: {[str(p) for p in exc.value.problems]}"
    assert words in found[0].message, str(found[0])
    assert found[0].line == line, str(found[0])
    assert str(found[0]).startswith(f"s.yaml:{line}: {key}: ")


def test_yaml_syntax_error_has_a_line():
    with pytest.raises(ConfigError) as exc:
        parse_settings(BASE.replace("  iran: [Iran]", "  iran: [Iran"), "s.yaml")
    assert exc.value.problems[0].line >= 10


def test_every_problem_is_reported_at_once_whatever_the_section():
    text = (BASE.replace("kind: feed", "kind: rss").replace("transport: outbox", "transport: pigeon")
            .replace("all: [belarus, iran]", "all: [belarus, irn]").replace("topics: [belarus-iran]", "topics: [belarus-iraq]")
            .replace("  iran: [Iran]", "  iran: ['ir*']"))
    with pytest.raises(ConfigError) as exc:
        parse_settings(text, "s.yaml")
    keys = {p.key for p in exc.value.problems}
    assert keys >= {"sources[0].kind", "email.transport", "topics[0].all[1]", "subscribers[0].topics[0]", "terms.iran[0]"}
    assert [p.line for p in exc.value.problems] == sorted(p.line for p in exc.value.problems)


@pytest.mark.parametrize("text,words", [
    ("", "empty"),
    ("# only a comment\n", "empty"),
    ("storage:\n  url: sqlite:///x.db\n", "required section 'sources:'"),
    (BASE.split("topics:")[0], "required section 'topics:'"),
    ("- a\n- b\n", "mapping"),
])
def test_empty_or_half_written_files_are_refused(text, words):
    with pytest.raises(ConfigError) as exc:
        parse_settings(text, "s.yaml")
    assert any(words in p.message for p in exc.value.problems), exc.value


def test_alias_bomb_is_refused_quickly_with_a_line():
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefghij"):
        prev = "abcdefghij"[i]
        levels.append(f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    text = "\n".join(levels) + "\nsources: [*j]\ntopics: []\nsubscribers: []\n"
    assert len(text) < 1000
    import resource
    import time

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(ConfigError) as exc:
        parse_settings(text, "bomb.yaml")
    assert time.monotonic() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000      # KB
    p = exc.value.problems[0]
    assert "alias" in p.message and p.line > 1


def test_missing_smtp_password_variable(tmp_path):
    text = BASE.replace("  transport: outbox", "  transport: smtp\n  smtp: {host: 127.0.0.1, username: bot, password_env: NW_TEST_PW}")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, environ={})
    assert "NW_TEST_PW is not set" in str(exc.value)
    assert load_config(path, environ={"NW_TEST_PW": "secret"}).smtp_password == "secret"


def test_relative_paths_follow_the_settings_file(tmp_path):
    path = tmp_path / "conf" / "s.yaml"
    path.parent.mkdir()
    path.write_text(BASE)
    cfg = load_config(path, environ={})
    assert cfg.storage_url == f"sqlite:///{tmp_path}/conf/x.db"
    assert cfg.settings.email.outbox_dir == str(tmp_path / "conf" / "var" / "outbox")
    assert cfg.state_dir == tmp_path / "conf" / "var"


def test_plain_postgresql_url_uses_psycopg3(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace("url: sqlite:///x.db", "url: postgresql://postgres@127.0.0.1/newswatch"))
    assert load_config(path, environ={}).storage_url == "postgresql+psycopg://postgres@127.0.0.1/newswatch"


def test_check_command(run_cli, tmp_path):
    code, out, err = run_cli("check", config=ROOT / "settings.yaml")
    assert code == 0, err
    assert "settings OK" in out and "3 topics" in out
    bad = tmp_path / "broken.yaml"
    bad.write_text((ROOT / "settings.yaml").read_text("utf-8").replace("all: [belarus, iran]", "all: [belarus, irann]"))
    code, out, err = run_cli("check", config=bad)
    assert code == 2
    line = next(i for i, text in enumerate(bad.read_text("utf-8").splitlines(), 1) if "irann" in text)
    assert f"{bad}:{line}: topics[0].all[1]: unknown term list 'irann'" in err


def test_check_reports_a_corrupt_database_without_writing(run_cli, tmp_path):
    db = tmp_path / "nw.db"
    db.write_bytes(b"this is not a database" * 100)
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace("sqlite:///x.db", "sqlite:///nw.db"))
    code, out, err = run_cli("check", config=path)
    assert code == 1
    assert "corrupt or not a SQLite database" in err and "Traceback" not in err
    assert db.read_bytes() == b"this is not a database" * 100


def test_config_from_environment(run_cli, monkeypatch):
    monkeypatch.setenv("NEWSWATCH_CONFIG", str(ROOT / "settings.yaml"))
    assert run_cli("check")[0] == 0
    monkeypatch.delenv("NEWSWATCH_CONFIG")
    code, _, err = run_cli("check")          # no ./settings.yaml in the temporary working directory
    assert code == 2 and "settings file not found" in err
