"""Settings validation: the shipped file passes; each mistake is reported with its line."""

from __future__ import annotations

import pytest

from scheduler.config import ConfigError, load_config, parse_settings
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
    ids = {t.id for t in cfg.settings.topics}
    assert {"belarus-iran", "belarus-china", "belarus-sco"} <= ids
    assert len(cfg.settings.sources) >= 16


def test_embedded_defaults_match_shipped_settings():
    # `newswatch demo` runs on scheduler/defaults.yaml; it must be the shipped file.
    assert (ROOT / "scheduler" / "defaults.yaml").read_text("utf-8") == (ROOT / "settings.yaml").read_text("utf-8")


def test_base_is_valid():
    parse_settings(BASE)


# (replace this, with that) → (line, key, words in the message)
BROKEN = [
    ("    timezone: Europe/Minsk\nterms", "    timezone: Europe/Minks\nterms", 7, "sources[0].timezone", "unknown time zone"),
    ("    kind: feed", "    kind: rss", 5, "sources[0].kind", "'feed' or 'listing'"),
    ("    url: https://eng.belta.by/rss", "    url: eng.belta.by/rss", 6, "sources[0].url", "not an http(s) URL"),
    ("  - id: belta-en", "  - id: BelTA EN", 4, "sources[0].id", "a-z, 0-9"),
    ("    all: [belarus, iran]", "    all: [belarus, irn]", 13, "topics[0].all[1]", "unknown term list 'irn'; did you mean 'iran'"),
    ("    topics: [belarus-iran]", "    topics: [belarus-iraq]", 17, "subscribers[0].topics[0]", "unknown topic 'belarus-iraq'"),
    ("    digest: daily 08:00", "    digest: daily 8am", 18, "subscribers[0].digest", "not a cadence"),
    ("    email: analyst@example.org", "    email: analyst-at-example", 16, "subscribers[0].email", "not an email address"),
    ("  transport: outbox", "  transport: pigeon", 21, "email.transport", "'outbox' or 'smtp'"),
    ("  url: sqlite:///x.db", "  url: sqlite:///x.db\n  retention: 30", 3, "storage.retention", "did you mean 'retention_days'"),
    ("  iran: [Iran]", "  iran: ['re:(a+)+(']", 10, "terms.iran[0]", "bad regular expression"),
    ("  iran: [Iran]", "  iran: ['ir*']", 10, "terms.iran[0]", "too much"),
    ("  iran: [Iran]", "  iran: []", 10, "terms.iran", "empty"),
    ("    all: [belarus, iran]", "    none: [iran]", 12, "topics[0]", "neither 'all' nor 'any'"),
    ("sources:\n", "sources:\n  - id: belta-en\n    kind: feed\n    url: https://x.by/rss\n", 7, "sources[1].id", "duplicate source id"),
    ("    kind: feed", "    kind: listing", 4, "sources[0]", "needs a 'listing' block"),
    ("email:\n  transport: outbox", "email:\n  transport: outbox\n  smtp: {port: many}", 22, "email.smtp.port", "integer"),
]


@pytest.mark.parametrize("old,new,line,key,words", BROKEN, ids=[b[3] + ":" + b[4][:20] for b in BROKEN])
def test_mistakes_are_reported_with_line_and_key(old, new, line, key, words):
    assert old in BASE
    text = BASE.replace(old, new, 1)
    with pytest.raises(ConfigError) as exc:
        parse_settings(text, "s.yaml")
    problems = exc.value.problems
    found = [p for p in problems if p.key == key]
    assert found, f"no problem for {key}: {[str(p) for p in problems]}"
    assert found[0].line == line, str(found[0])
    assert words in found[0].message, str(found[0])
    assert str(found[0]).startswith(f"s.yaml:{line}: {key}: ")


def test_yaml_syntax_error_has_a_line():
    with pytest.raises(ConfigError) as exc:
        parse_settings(BASE.replace("  iran: [Iran]", "  iran: [Iran"), "s.yaml")
    assert exc.value.problems[0].line >= 10


def test_all_problems_are_reported_at_once():
    text = (BASE.replace("kind: feed", "kind: rss").replace("transport: outbox", "transport: pigeon")
            .replace("all: [belarus, iran]", "all: [belarus, irn]").replace("topics: [belarus-iran]", "topics: [belarus-iraq]"))
    with pytest.raises(ConfigError) as exc:
        parse_settings(text, "s.yaml")
    problems = exc.value.problems
    assert {p.key for p in problems} >= {"sources[0].kind", "email.transport", "topics[0].all[1]", "subscribers[0].topics[0]"}
    assert [p.line for p in problems] == sorted(p.line for p in problems)


def test_missing_smtp_password_variable(tmp_path):
    text = BASE.replace("  transport: outbox", "  transport: smtp\n  smtp: {host: 127.0.0.1, username: bot, password_env: NW_TEST_PW}")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, environ={})
    assert "NW_TEST_PW is not set" in str(exc.value)
    cfg = load_config(path, environ={"NW_TEST_PW": "secret"})
    assert cfg.smtp_password == "secret"


def test_relative_paths_follow_the_settings_file(tmp_path):
    path = tmp_path / "conf" / "s.yaml"
    path.parent.mkdir()
    path.write_text(BASE)
    cfg = load_config(path, environ={})
    assert cfg.storage_url == f"sqlite:///{tmp_path}/conf/x.db"
    assert cfg.settings.email.outbox_dir == str(tmp_path / "conf" / "var" / "outbox")


def test_check_command(cli, tmp_path):
    ok = cli("check", config=ROOT / "settings.yaml")
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = tmp_path / "broken.yaml"
    bad.write_text((ROOT / "settings.yaml").read_text("utf-8").replace("all: [belarus, iran]", "all: [belarus, irann]"))
    res = cli("check", config=bad)
    assert res.returncode == 2
    line = next(i for i, l in enumerate(bad.read_text("utf-8").splitlines(), 1) if "irann" in l)
    assert f"{bad}:{line}: topics[0].all[1]: unknown term list 'irann'" in res.stderr


def test_config_from_environment(cli, tmp_path):
    res = cli("check", env={"NEWSWATCH_CONFIG": str(ROOT / "settings.yaml")})
    assert res.returncode == 0, res.stderr
    missing = cli("check")   # no ./settings.yaml in the temporary working directory
    assert missing.returncode == 2 and "settings file not found" in missing.stderr


def test_plain_postgresql_url_uses_psycopg3(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace("url: sqlite:///x.db", "url: postgresql://postgres@127.0.0.1/newswatch"))
    assert load_config(path, environ={}).storage_url == "postgresql+psycopg://postgres@127.0.0.1/newswatch"
