"""Topics: the rule language operators write in settings.yaml, and its compilation.

``terms`` are named lists of terms; a topic combines entries, each a term-list name or an
inline list of terms:

* ``all``: every entry must match — in the title or within one sentence (``within``);
* ``any``: at least one entry must match — with ``all``, in that same sentence or the title;
* ``pairs``: terms that name both sides at once (Belarus–Iran, белорусско-китайский, Great
  Stone): a pair in a sentence stands for every ``all`` entry and the ``any`` there;
* ``none``: no entry may match anywhere;
* ``ignore``: phrases that count for nothing ("Minsk Group"): a term inside them is not read;
* ``crowd`` and ``crowd_max``: a sentence naming more than ``crowd_max`` of these (other
  countries) is a list — members, signatories, sanctions — and pairs nothing;
* ``lists``: more names (countries) that, with the first side in an enumeration of three
  or more ("Afghanistan, Belarus and Mongolia"), make a sentence a list (so do ``crowd``
  names);
* ``venue``: phrases naming the first ``all`` side only as a place ("in Minsk"): they stand
  for it in a sentence that names no other country (else others are meeting there);
* ``veto``: a sentence with one of these (sports results, prizes) pairs nothing;
* ``title_veto``: a title with one of these and no relation term is a result, and decides
  alone: nothing in the body pairs (keep it to words that only sport uses);
* ``within``: ``sentence`` (default), ``title`` or ``item``;
* ``near: N``: the ``all`` entries within N words of each other;
* ``deep_body``: ``unless-elsewhere`` (default) — a pairing only deep in the body does not
  count when the title is about the other side alone; ``counts`` — it does (an
  organisation whose stories give each member a paragraph of its own: the SCO);
* ``fields``: which of title, summary, body are read (default all three);
* ``weights`` (term-list name → weight) and ``min_score``.

Compilation checks everything and raises RuleErrors with the settings locations.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from newswatch.alerts.errors import RuleError, RuleErrors
from newswatch.alerts.morphology import release_cache
from newswatch.alerts.terms import Term, compile_term

FIELDS = ("title", "summary", "body")
Entry = Union[str, list[str]]
TOPIC_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


FieldName = Literal["title", "summary", "body"]


def _every_field() -> list[FieldName]:
    return ["title", "summary", "body"]


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: Optional[str] = None
    description: Optional[str] = None
    all: list[Entry] = Field(default_factory=list)
    any: list[Entry] = Field(default_factory=list)
    none: list[Entry] = Field(default_factory=list)
    ignore: list[Entry] = Field(default_factory=list)
    pairs: list[Entry] = Field(default_factory=list)
    venue: list[Entry] = Field(default_factory=list)
    veto: list[Entry] = Field(default_factory=list)
    title_veto: list[Entry] = Field(default_factory=list)
    crowd: list[Entry] = Field(default_factory=list)
    lists: list[Entry] = Field(default_factory=list)
    crowd_max: int = Field(default=2, ge=0, le=100)
    within: Literal["sentence", "title", "item"] = "sentence"
    near: Optional[int] = Field(default=None, ge=1, le=10000)
    deep_body: Literal["unless-elsewhere", "counts"] = "unless-elsewhere"
    fields: list[FieldName] = Field(default_factory=lambda: _every_field())
    weights: dict[str, float] = Field(default_factory=dict)
    min_score: float = 0.0

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not TOPIC_ID.match(v):
            raise ValueError("a topic id uses only a-z, 0-9 and '-' (e.g. belarus-iran)")
        return v

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass
class Group:
    """One entry of a topic, compiled: the indices of its terms."""

    role: str                     # all | any | none | ignore | pairs | venue | veto | crowd
    label: str                    # term-list name, or the inline terms joined
    terms: list[int]
    weight: float = 1.0


@dataclass
class CompiledTopic:
    topic: Topic
    groups: list[Group] = field(default_factory=list)

    def of_role(self, role: str) -> list[Group]:
        return [g for g in self.groups if g.role == role]


@dataclass
class Rulebook:
    """All topics compiled together: one term table, so an item is scanned once."""

    terms: list[Term]
    topics: list[CompiledTopic]
    version: str

    @property
    def topic_ids(self) -> list[str]:
        return [t.topic.id for t in self.topics]


def rules_version(term_lists: dict[str, list[str]], topics: list[Topic]) -> str:
    blob = json.dumps({"terms": term_lists, "topics": [t.model_dump() for t in topics]},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def cached_rules(term_lists: dict[str, list[str]], topics: list[Topic]) -> Rulebook:
    """``compile_rules``, kept in the user's cache folder under the rules' hash and the code
    that compiles them: a process that only needs to check or match (every cycle of
    ``once``, ``run`` after a reload) loads it in milliseconds instead of compiling every term
    form again. Rules with mistakes are never kept (they raise, as ``compile_rules`` does)."""
    path = cache_path(rules_version(term_lists, topics), "rulebook")
    book = load_cached(path, Rulebook)
    if book is None:
        book = compile_rules(term_lists, topics)
        save_cached(path, book)
    return book


CACHE_FILES = 40                 # compiled rulebooks and matchers kept in the cache folder


def load_cached(path: Optional[Path], kind: type) -> Any:
    """The object of type ``kind`` kept at ``path``; None if there is none (or it is
    unreadable, damaged, or from another version of the program: it is then made again).

    Only a regular file of this user's, that no one else may write, is read: unpickling
    runs code, so a cache folder others can write to must not be trusted."""
    import pickle

    if path is None:
        return None
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
            return None
        with path.open("rb") as fh:
            obj = pickle.load(fh)
        return obj if isinstance(obj, kind) else None
    except Exception:  # noqa: BLE001 - a damaged pickle can raise anything (OverflowError, MemoryError…)
        return None


def save_cached(path: Optional[Path], obj: Any) -> None:
    """Keep ``obj`` at ``path``, whole or not at all (written beside it, then renamed)."""
    import pickle

    if path is None:
        return
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp.write_bytes(blob)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        # every rules version (each draft tried) leaves files: keep the newest
        kept = sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[CACHE_FILES:]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        try:
            tmp.unlink(missing_ok=True)   # a disk full or a size limit must not leave halves behind
        except OSError:
            pass
        # (something that cannot be kept, or no folder: made each time)


def cache_path(version: str, kind: str, modules: Iterable[Any] = ()) -> Optional[Path]:
    """The cache file of these rules (``version``) made by this code: the modules that
    compile terms, ``modules`` (those that build ``kind`` from the rulebook) and the Russian
    dictionary's version are part of the name, so a changed program never reads an old file."""
    from newswatch.alerts import morphology, terms, text

    try:
        code = hashlib.sha256()
        for module in (morphology, terms, text, *modules):
            code.update(Path(str(module.__file__)).read_bytes())
        code.update(Path(__file__).read_bytes())
        from importlib.metadata import version as dist_version

        code.update(dist_version("pymorphy3-dicts-ru").encode())
    except Exception:   # noqa: BLE001 - no sources or metadata to name it by: no cache
        return None
    root = os.environ.get("NEWSWATCH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "newswatch")
    suffix = "" if kind == "rulebook" else f"-{kind}"
    return Path(root) / "rulebooks" / f"{version}-{code.hexdigest()[:16]}{suffix}.pickle"


def compile_rules(term_lists: dict[str, list[str]], topics: list[Topic]) -> Rulebook:
    """Compile term lists and topics; RuleErrors listing every mistake (with its location)."""
    table: list[Term] = []
    index: dict[str, int] = {}
    errors: list[RuleError] = []

    def add_term(text: str, loc: tuple) -> Optional[int]:
        key = text.strip() if isinstance(text, str) else text
        if key in index:
            return index[key]
        try:
            term = compile_term(text)
        except ValueError as exc:
            errors.append(RuleError(loc, str(exc)))
            return None
        index[key] = len(table)
        table.append(term)
        return index[key]

    list_terms: dict[str, list[int]] = {}
    for name, words in term_lists.items():
        if not isinstance(words, list) or not words:
            errors.append(RuleError(("terms", name), f"term list '{name}' is empty; give at least one term"))
            continue
        ids = [add_term(w, ("terms", name, i)) for i, w in enumerate(words)]
        list_terms[name] = [i for i in ids if i is not None]

    compiled: list[CompiledTopic] = []
    seen_ids: set[str] = set()
    for ti, topic in enumerate(topics):
        if topic.id in seen_ids:
            errors.append(RuleError(("topics", ti, "id"), f"duplicate topic id '{topic.id}'"))
        seen_ids.add(topic.id)
        if not topic.all and not topic.any:
            errors.append(RuleError(("topics", ti), f"topic '{topic.id}' has neither 'all' nor 'any', so it can never match"))
        for name in topic.weights:
            if name not in term_lists:
                errors.append(RuleError(("topics", ti, "weights", name), f"weight for unknown term list '{name}'"))
        ct = CompiledTopic(topic=topic)
        for role in ("all", "any", "none", "ignore", "pairs", "venue", "veto", "title_veto", "crowd", "lists"):
            for ei, entry in enumerate(getattr(topic, role)):
                loc = ("topics", ti, role, ei)
                if isinstance(entry, str):
                    if entry not in term_lists:
                        hint = _nearest(entry, term_lists)
                        errors.append(RuleError(loc, f"unknown term list '{entry}'" + (
                            f"; did you mean '{hint}'?" if hint else
                            "; define it under 'terms:' or write the terms inline as a list")))
                        continue
                    ct.groups.append(Group(role, entry, list_terms.get(entry, []), topic.weights.get(entry, 1.0)))
                else:
                    if not entry:
                        errors.append(RuleError(loc, "empty list of terms"))
                        continue
                    ids = [add_term(w, loc + (wi,)) for wi, w in enumerate(entry)]
                    ct.groups.append(Group(role, " | ".join(entry), [i for i in ids if i is not None]))
        compiled.append(ct)
    if errors:
        raise RuleErrors(errors)
    release_cache()
    return Rulebook(terms=table, topics=compiled, version=rules_version(term_lists, topics))


def _nearest(name: str, known: Iterable[str]) -> Optional[str]:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return close[0] if close else None
