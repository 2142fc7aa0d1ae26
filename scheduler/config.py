"""settings.yaml → typed objects. The only module that reads YAML or the environment.

Every mistake is reported as ``FILE:LINE: key: message``, all of them at once, before
anything runs. Relative paths in the file (SQLite database, outbox) are taken relative
to the settings file's folder, so the service does not depend on its working directory.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from alerts.delivery import EmailSettings
from alerts.digest import Subscription
from alerts.health import HealthSettings, Operator
from alerts.errors import RuleError
from alerts.rules import Rulebook, Topic, compile_rules
from spiders.sources import CrawlSettings, Source

ENV_CONFIG = "NEWSWATCH_CONFIG"
ENV_STORAGE = "NEWSWATCH_STORAGE_URL"


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = "sqlite:///var/newswatch.db"
    retention_days: Optional[int] = Field(default=None, ge=1)


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


@dataclass
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


@dataclass
class Config:
    """Validated settings plus what was derived from them."""
    path: Path
    settings: Settings
    rulebook: Rulebook
    storage_url: str
    smtp_password: Optional[str] = None
    warnings: list[str] = field(default_factory=list)

    @property
    def topics(self) -> dict[str, Topic]:
        return {t.id: t for t in self.settings.topics}

    @property
    def sources(self) -> list[Source]:
        return [s for s in self.settings.sources if s.enabled]


# ---- YAML with line numbers ---------------------------------------------------------------
def _plain(node: Any, loc: tuple, lines: dict[tuple, int]) -> Any:
    if isinstance(node, CommentedMap):
        out = {}
        for k in node:
            try:
                lines[loc + (str(k),)] = node.lc.key(k)[0] + 1
            except (KeyError, TypeError, AttributeError):
                lines[loc + (str(k),)] = lines.get(loc, 1)
            out[str(k) if not isinstance(k, str) else k] = _plain(node[k], loc + (str(k),), lines)
        return out
    if isinstance(node, CommentedSeq):
        out = []
        for i, v in enumerate(node):
            try:
                lines[loc + (i,)] = node.lc.item(i)[0] + 1
            except (KeyError, TypeError, AttributeError):
                lines[loc + (i,)] = lines.get(loc, 1)
            out.append(_plain(v, loc + (i,), lines))
        return out
    return node


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


def _model_at(loc: tuple) -> Optional[type[BaseModel]]:
    """The settings model that holds the key at ``loc`` (for 'did you mean' hints)."""
    model: Any = Settings
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


def _describe(err: dict) -> tuple[tuple, str]:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
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


# ---- loading ------------------------------------------------------------------------------
def default_path() -> Path:
    return Path(os.environ.get(ENV_CONFIG) or "settings.yaml")


def _resolve_storage(url: str, base: Path) -> str:
    # psycopg 3 is the PostgreSQL driver we ship; plain postgresql:// would ask for psycopg2
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url[len(plain):]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        return "sqlite:///" + str((base / url[len("sqlite:///"):]).resolve())
    return url


def parse_settings(text: str, filename: str = "settings.yaml") -> tuple[Settings, Rulebook, dict]:
    """Validate settings text; raises ConfigError listing every problem found."""
    yaml = YAML(typ="rt")
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([Problem(filename, line, "(yaml)", f"{exc.problem or exc.context}; check indentation and quotes")])
    if raw is None:
        raw = CommentedMap()
    if not isinstance(raw, CommentedMap):
        raise ConfigError([Problem(filename, 1, "(top)", "the settings file must be a mapping of keys (storage:, sources:, ...)")])
    lines: dict[tuple, int] = {}
    data = _plain(raw, (), lines)
    problems = _cross_checks(data, lines, filename)     # read from the raw data: reported even
    try:                                                # when other keys are invalid
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc, msg = _describe(err)
            problems.append(Problem(filename, _line(lines, loc), _key(loc), msg))
        raise ConfigError(_unique(problems)) from None
    try:
        rulebook = compile_rules(settings.terms, settings.topics)
    except RuleError as exc:
        problems.append(Problem(filename, _line(lines, exc.loc), _key(exc.loc), exc.message))
        rulebook = None
    if problems:
        raise ConfigError(_unique(problems))
    return settings, rulebook, lines


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in sorted(problems, key=lambda p: p.line):
        if (p.key, p.message) not in seen:
            seen.add((p.key, p.message))
            out.append(p)
    return out


def _cross_checks(data: dict, lines: dict, filename: str) -> list[Problem]:
    """Mistakes across entries: duplicate ids and names, unknown term lists and topics."""
    problems = []

    def entries(key: str) -> list[tuple[int, dict]]:
        value = data.get(key)
        return [(i, e) for i, e in enumerate(value) if isinstance(e, dict)] if isinstance(value, list) else []

    def dupes(section: str, field: str, what: str) -> None:
        seen: dict[str, int] = {}
        for i, e in entries(section):
            value = e.get(field)
            if not isinstance(value, str):
                continue
            if value in seen:
                problems.append(Problem(filename, _line(lines, (section, i, field)), f"{section}[{i}].{field}",
                                        f"duplicate {what} '{value}' (also {section}[{seen[value]}])"))
            seen.setdefault(value, i)

    dupes("sources", "id", "source id")
    dupes("topics", "id", "topic id")
    dupes("subscribers", "name", "subscriber name")
    terms = data.get("terms") if isinstance(data.get("terms"), dict) else {}
    for ti, topic in entries("topics"):
        for role in ("all", "any", "none", "ignore"):
            for ei, entry in enumerate(topic.get(role) or [] if isinstance(topic.get(role), list) else []):
                if isinstance(entry, str) and entry not in terms:
                    close = difflib.get_close_matches(entry, list(terms), n=1, cutoff=0.6)
                    hint = f"; did you mean '{close[0]}'?" if close else \
                        "; define it under 'terms:' or write the terms inline as a list"
                    loc = ("topics", ti, role, ei)
                    problems.append(Problem(filename, _line(lines, loc), _key(loc), f"unknown term list '{entry}'{hint}"))
    topic_ids = sorted(t.get("id") for _, t in entries("topics") if isinstance(t.get("id"), str))
    for i, sub in entries("subscribers"):
        for j, t in enumerate(sub.get("topics") or [] if isinstance(sub.get("topics"), list) else []):
            if isinstance(t, str) and t not in topic_ids:
                close = difflib.get_close_matches(t, topic_ids, n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else f"; known topics: {', '.join(topic_ids) or 'none'}"
                problems.append(Problem(filename, _line(lines, ("subscribers", i, "topics", j)),
                                        f"subscribers[{i}].topics[{j}]", f"unknown topic '{t}'{hint}"))
    return problems


def load_config(path: Optional[str | Path] = None, environ: Optional[dict] = None) -> Config:
    environ = os.environ if environ is None else environ
    path = Path(path) if path else default_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), 1, "(file)", "settings file not found; pass --config PATH or set NEWSWATCH_CONFIG")])
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), 1, "(file)", f"cannot read the settings file: {exc}")])
    settings, rulebook, lines = parse_settings(text, str(path))
    base = path.resolve().parent
    storage_url = _resolve_storage(environ.get(ENV_STORAGE) or settings.storage.url, base)
    email = settings.email
    if not Path(email.outbox_dir).is_absolute():
        email = email.model_copy(update={"outbox_dir": str((base / email.outbox_dir).resolve())})
        settings = settings.model_copy(update={"email": email})
    password = None
    warnings = []
    if email.transport == "smtp" and email.smtp.username:
        password = environ.get(email.smtp.password_env)
        if not password:
            line = _line(lines, ("email", "smtp", "password_env"))
            raise ConfigError([Problem(str(path), line, "email.smtp.password_env",
                                       f"environment variable {email.smtp.password_env} is not set, but "
                                       f"email.smtp.username is; export it before starting newswatch")])
    return Config(path=path, settings=settings, rulebook=rulebook, storage_url=storage_url,
                  smtp_password=password, warnings=warnings)
