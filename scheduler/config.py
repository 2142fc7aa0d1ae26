"""settings.yaml → typed objects. The only module that reads YAML or the environment.

Every mistake is reported as ``FILE:LINE: key: message``, all of them at once: each
top-level section is validated on its own, so a mistake in ``crawl:`` does not hide one in
``topics:``. Relative paths in the file (SQLite database, outbox, state) are taken relative
to the settings file's folder, so the service does not depend on its working directory.

A file that parses but lacks a required section, or that expands through YAML aliases into
more values than any real settings file has (an "alias bomb"), is refused like any other
invalid file — so a half-written file never reaches a running service.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Optional, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from newswatch.alerts.errors import RuleErrors
from newswatch.alerts.health import HealthSettings, Operator
from newswatch.alerts.rules import Rulebook, Topic, cached_rules, compile_rules
from newswatch.alerts.subscriptions import Subscription
from newswatch.alerts.transports import EmailSettings
from newswatch.scheduler.web_settings import WebSettings
from newswatch.spiders.durations import PositiveDuration
from newswatch.spiders.sources import CrawlSettings, Source

ENV_CONFIG = "NEWSWATCH_CONFIG"
ENV_STORAGE = "NEWSWATCH_STORAGE_URL"
MAX_VALUES = 200_000          # a real settings file has a few thousand; an alias bomb has billions
MAX_BYTES = 5_000_000
REQUIRED = ("sources", "topics", "subscribers")


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = "sqlite:///var/newswatch.db"
    retention_days: Optional[int] = Field(default=None, ge=1)
    tombstone_days: int = Field(default=1825, ge=1)
    run_history_days: int = Field(default=90, ge=1)
    state_dir: str = "var"
    busy_timeout: PositiveDuration = timedelta(seconds=30)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    sources: list[Source] = Field(default_factory=list)
    terms: dict[str, list[str]] = Field(default_factory=dict)
    topics: list[Topic] = Field(default_factory=list)
    subscribers: list[Subscription] = Field(default_factory=list)
    email: EmailSettings = Field(default_factory=EmailSettings)
    operators: list[Operator] = Field(default_factory=list)
    health: HealthSettings = Field(default_factory=HealthSettings)
    web: WebSettings = Field(default_factory=WebSettings)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


@dataclass(frozen=True)
class Config:
    """Validated settings plus what was derived from them."""

    path: Path
    settings: Settings
    rulebook: Rulebook
    storage_url: str
    state_dir: Path
    digest: str                           # sha256 of the file: what the watcher compares
    smtp_password: Optional[str] = None
    web_secret: Optional[str] = None

    @property
    def topics(self) -> dict[str, Topic]:
        return {t.id: t for t in self.settings.topics}

    @property
    def enabled_sources(self) -> list[Source]:
        return [s for s in self.settings.sources if s.enabled]

    def source(self, source_id: str) -> Optional[Source]:
        return next((s for s in self.settings.sources if s.id == source_id), None)


# ---- YAML with line numbers ---------------------------------------------------------------
class _Budget:
    def __init__(self, limit: int):
        self.left = limit
        self.alias_line = 1


def _plain(node: Any, loc: tuple, lines: dict[tuple, int], budget: _Budget) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    budget.left -= 1
    if budget.left < 0:
        raise OverflowError
    if isinstance(node, CommentedMap):
        out = {}
        for k in node:
            try:
                lines[loc + (str(k),)] = node.lc.key(k)[0] + 1
            except (KeyError, TypeError, AttributeError):
                lines[loc + (str(k),)] = lines.get(loc, 1)
            out[str(k) if not isinstance(k, str) else k] = _plain(node[k], loc + (str(k),), lines, budget)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, v in enumerate(node):
            try:
                lines[loc + (i,)] = node.lc.item(i)[0] + 1
            except (KeyError, TypeError, AttributeError):
                lines[loc + (i,)] = lines.get(loc, 1)
            items.append(_plain(v, loc + (i,), lines, budget))
        return items
    return node


def _first_alias_line(text: str) -> int:
    for n, line in enumerate(text.splitlines(), 1):
        if "*" in line and ("- *" in line or ": *" in line or "[*" in line or ", *" in line):
            return n
    return 1


def _line(lines: dict[tuple, int], loc: tuple) -> int:
    loc = tuple(str(x) if not isinstance(x, int) else x for x in loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return 1


def _key(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top)"


def _model_at(root: type[BaseModel], loc: tuple) -> Optional[type[BaseModel]]:
    """The settings model that holds the key at ``loc`` (for 'did you mean' hints)."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        f = model.model_fields.get(part) or next((v for v in model.model_fields.values() if v.alias == part), None)
        if f is None:
            return None
        ann = f.annotation
        while get_origin(ann) is not None:
            args = [a for a in get_args(ann) if a is not type(None)]
            ann = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), args[-1] if args else None)
        model = ann
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _known_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _describe(err: Any, prefix: tuple) -> tuple[tuple, str]:
    loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(Settings, loc[:-1])
        known = _known_keys(model) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else (f"; known keys: {', '.join(known)}" if known else "")
        return loc, f"unknown key '{loc[-1]}'{hint}"
    if kind == "missing":
        return loc, "required key is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind == "literal_error":
        msg = msg.replace("Input should be", "must be")
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        msg = f"{msg} (got {err.get('input')!r})"
    return loc, msg


# ---- parsing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Parsed:
    settings: Settings
    rulebook: Rulebook
    lines: dict[tuple, int]


def _read_yaml(text: str, fail: Any, cache: bool = True) -> tuple[dict, dict[tuple, int]]:
    """The settings as plain data, and the line of every key. The round-trip parser that
    gives lines is slow (~0.5 s for the shipped file), so the result is kept in the cache
    folder under the text's hash: an unchanged file is read in milliseconds."""
    cached = _yaml_cache(text) if cache else None
    if cached is not None:
        return cached
    # ruamel is imported here, not at the top: an unchanged file comes from the cache
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise fail(mark.line + 1 if mark else 1, "(yaml)",
                   f"{exc.problem or exc.context}; check indentation and quotes") from None
    except (YAMLError, RecursionError) as exc:
        raise fail(1, "(yaml)", f"not readable YAML: {type(exc).__name__}") from None
    if not isinstance(raw, CommentedMap):
        raise fail(1, "(top)", "the settings file must be a mapping of keys (storage:, sources:, ...)")
    lines: dict[tuple, int] = {}
    try:
        data = _plain(raw, (), lines, _Budget(MAX_VALUES))
    except (OverflowError, RecursionError):
        raise fail(_first_alias_line(text), "(yaml)",
                   f"the file expands through aliases (*name) into more than {MAX_VALUES:,} values; "
                   f"refused (an alias bomb?)") from None
    if cache:
        _yaml_cache(text, (data, lines))
    return data, lines


def _yaml_cache(text: str, value: Optional[tuple[dict, dict[tuple, int]]] = None
                ) -> Optional[tuple[dict, dict[tuple, int]]]:
    """Read (or, given ``value``, write) the parsed form of ``text`` in the cache folder."""
    import json

    root = os.environ.get("NEWSWATCH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "newswatch")
    key = hashlib.sha256(("settings-v1\n" + text).encode("utf-8")).hexdigest()[:32]
    path = Path(root) / "settings" / f"{key}.json"
    if value is None:
        try:
            blob = json.loads(path.read_text("utf-8"))
            return blob["data"], {tuple(k): v for k, v in blob["lines"]}
        except (OSError, ValueError, KeyError, TypeError):
            return None
    try:
        blob = json.dumps({"data": value[0], "lines": [[list(k), v] for k, v in value[1].items()]},
                          ensure_ascii=False)
    except (TypeError, ValueError):        # a value JSON cannot hold (a date): not cached
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(blob, "utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return None


def parse_settings(text: str, filename: str = "settings.yaml", under: Optional[Settings] = None,
                   cache: bool = True) -> Parsed:
    """Validate settings text; ConfigError listing every problem found.

    ``under``: the text is a rules draft laid over these settings — it may hold only
    ``terms:`` and ``topics:``; its term lists replace the ones of the same name, its
    topics the ones of the same id, and new ones are added (see ``load_draft``)."""
    def fail(line: int, key: str, message: str) -> ConfigError:
        return ConfigError([Problem(filename, line, key, message)])

    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        raise fail(1, "(file)", f"the settings file is larger than {MAX_BYTES // 1_000_000} MB; is it the right file?")
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise fail(1, "(file)", "the settings file is empty; it needs at least sources:, topics: and subscribers:")
    data, lines = _read_yaml(text, fail, cache)
    problems: list[Problem] = []

    def report(loc: tuple, message: str) -> None:
        problems.append(Problem(filename, _line(lines, loc), _key(loc), message))

    for section in REQUIRED if under is None else ():
        if section not in data:
            problems.append(Problem(filename, 1, section, f"required section '{section}:' is missing "
                                    f"(write '{section}: []' if it is meant to be empty)"))
    values: dict[str, Any] = {}
    for key, value in data.items():
        field = Settings.model_fields.get(key)
        if field is None:
            close = difflib.get_close_matches(key, list(Settings.model_fields), n=1, cutoff=0.5)
            report((key,), f"unknown key '{key}'" + (f"; did you mean '{close[0]}'?" if close else
                                                     f"; known keys: {', '.join(Settings.model_fields)}"))
            continue
        try:
            values[key] = TypeAdapter(field.annotation).validate_python(value)
        except ValidationError as exc:
            for err in exc.errors():
                loc, msg = _describe(err, (key,))
                report(loc, msg)
    _cross_checks(data, report)
    if under is not None:
        # the draft's own topics first, so that rule errors point at the draft's lines
        own = values.get("topics", [])
        ids = {t.id for t in own}
        values["topics"] = own + [t for t in under.topics if t.id not in ids]
        values["terms"] = {**under.terms, **values.get("terms", {})}
    rulebook = None
    if isinstance(values.get("topics"), list) and "terms" not in {p.key.split(".")[0].split("[")[0] for p in problems}:
        try:
            rulebook = (cached_rules if cache else compile_rules)(values.get("terms", {}), values["topics"])
        except RuleErrors as exc:
            for e in exc.errors:
                report(e.loc, e.message)
    if problems:
        raise ConfigError(_unique(problems))
    if under is not None:
        settings = under.model_copy(update={"terms": values["terms"], "topics": values["topics"]})
    else:
        settings = Settings(**values)
    assert rulebook is not None
    return Parsed(settings, rulebook, lines)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in sorted(problems, key=lambda p: p.line):
        if (p.key, p.message) not in seen:
            seen.add((p.key, p.message))
            out.append(p)
    return out


def _cross_checks(data: dict, report: Any) -> None:
    """Mistakes across entries that no single section can see."""

    def entries(key: str) -> list[tuple[int, dict]]:
        value = data.get(key)
        return [(i, e) for i, e in enumerate(value) if isinstance(e, dict)] if isinstance(value, list) else []

    def dupes(section: str, field: str, what: str) -> None:
        seen: dict[str, int] = {}
        for i, e in entries(section):
            value = e.get(field)
            if isinstance(value, str) and value in seen:
                report((section, i, field), f"duplicate {what} '{value}' (also {section}[{seen[value]}])")
            elif isinstance(value, str):
                seen[value] = i

    dupes("sources", "id", "source id")
    dupes("subscribers", "name", "subscriber name")
    dupes("operators", "email", "operator address")
    topic_ids = sorted(t.get("id") for _, t in entries("topics") if isinstance(t.get("id"), str))
    for i, sub in entries("subscribers"):
        topics = sub.get("topics")
        for j, t in enumerate(topics if isinstance(topics, list) else []):
            if isinstance(t, str) and t not in topic_ids:
                close = difflib.get_close_matches(t, topic_ids, n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else f"; known topics: {', '.join(topic_ids) or 'none'}"
                report(("subscribers", i, "topics", j), f"unknown topic '{t}'{hint}")


# ---- loading ------------------------------------------------------------------------------
def default_path() -> Path:
    return Path(os.environ.get(ENV_CONFIG) or "settings.yaml")


def resolve_storage(url: str, base: Path) -> str:
    # psycopg 3 is the PostgreSQL driver we ship; plain postgresql:// would ask for psycopg2
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url[len(plain):]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        return "sqlite:///" + str((base / url[len("sqlite:///"):]).resolve())
    return url


def read_settings_file(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), 1, "(file)",
                                   "settings file not found; pass --config PATH or set NEWSWATCH_CONFIG")]) from None
    except OSError as exc:
        raise ConfigError([Problem(str(path), 1, "(file)", f"cannot read the settings file: {exc.strerror}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(str(path), 1, "(file)", f"the settings file is not UTF-8 ({exc.reason} at "
                                   f"byte {exc.start})")]) from None


def load_draft(path: str | Path, live: Config) -> Config:
    """The live configuration with the rules of a draft file: a whole settings file (its
    rules replace the live ones), or a file of only ``terms:`` and ``topics:`` laid over the
    live rules (a term list or topic of the same name replaces the live one; new ones are
    added) — the way to try a topic before it goes live."""
    path = Path(path)
    text = read_settings_file(path)
    parsed = parse_settings(text, str(path), under=live.settings)
    whole = any(k in parsed.lines for k in [(s,) for s in REQUIRED if s != "topics"])
    if whole:
        parsed = parse_settings(text, str(path))
    extra = [k[0] for k in parsed.lines if len(k) == 1 and k[0] not in ("terms", "topics")]
    if extra and not whole:
        raise ConfigError([Problem(str(path), parsed.lines[(extra[0],)], extra[0],
                                   "a rules draft holds only terms: and topics: (or is a whole settings file "
                                   "with sources:, topics: and subscribers:)")])
    settings = live.settings.model_copy(update={"terms": parsed.settings.terms, "topics": parsed.settings.topics})
    return replace(live, settings=settings, rulebook=parsed.rulebook)


def load_config(path: Optional[str | Path] = None, environ: Optional[dict] = None,
                text: Optional[str] = None) -> Config:
    environ = dict(os.environ) if environ is None else environ
    path = Path(path) if path else default_path()
    if text is None:
        text = read_settings_file(path)
    parsed = parse_settings(text, str(path))
    settings = parsed.settings
    base = path.resolve().parent
    storage_url = resolve_storage(environ.get(ENV_STORAGE) or settings.storage.url, base)
    email = settings.email
    if not Path(email.outbox_dir).is_absolute():
        settings = settings.model_copy(update={"email": email.model_copy(
            update={"outbox_dir": str((base / email.outbox_dir).resolve())})})
    state_dir = Path(settings.storage.state_dir)
    if not state_dir.is_absolute():
        state_dir = (base / state_dir).resolve()
    password = None
    problems = []
    if settings.email.transport == "smtp" and settings.email.smtp.username:
        password = environ.get(settings.email.smtp.password_env)
        if not password:
            problems.append(Problem(str(path), _line(parsed.lines, ("email", "smtp", "password_env")),
                                    "email.smtp.password_env",
                                    f"environment variable {settings.email.smtp.password_env} is not set, but "
                                    f"email.smtp.username is; export it before starting newswatch"))
    secret = environ.get(settings.web.secret_env) or None
    if problems:
        raise ConfigError(problems)
    return Config(path=path, settings=settings, rulebook=parsed.rulebook, storage_url=storage_url,
                  state_dir=state_dir, digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                  smtp_password=password, web_secret=secret)
