"""The rules workbench's logic, apart from the pages: a topic as a draft, what a draft would
gain and lose on the stored archive, its precision and recall on the labelled set, and
saving it into settings.yaml without losing the file's comments and layout.

A draft has the shape of ``newswatch test-rule --settings DRAFT.yaml``'s drafts: ``terms:``
and ``topics:`` only; its term lists replace the live ones of the same name and its topics
the live ones of the same id (new ones are added). Lists and topics it leaves out stay as
they are.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent

from newswatch.alerts.evaluation import Case, Counts, Mistake, evaluate
from newswatch.alerts.item_matching import item_fields
from newswatch.alerts.matcher import Matcher
from newswatch.scheduler.config import (
    Config,
    ConfigError,
    Problem,
    load_config,
    parse_settings,
    read_settings_file,
)
from newswatch.storage.rows import StoredItem

MAX_DRAFT = 1_000_000        # characters
_CORE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")}

# indentations tried when writing a file back: the one that reproduces the file unchanged wins
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (2, 4, 0), (4, 4, 0))


def _yaml(indent: tuple[int, int, int] = (2, 4, 2), width: int = 4096) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = width                      # 4096: never re-wrap an operator's long lines
    y.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    y.representer.add_representer(type(None), lambda r, d: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return y


def _dump(y: YAML, data: Any) -> str:
    out = io.StringIO()
    y.dump(data, out)
    return out.getvalue()


def _layout_of(text: str) -> YAML:
    """The writer that gives ``text`` back unchanged (or as close as any of the usual
    indentations get)."""
    best: Optional[tuple[int, YAML]] = None
    for indent, width in ((i, w) for w in (4096, 80) for i in _INDENTS):
        y = _yaml(indent, width)
        try:
            again = _dump(y, y.load(text))
        except YAMLError:
            continue
        if again == text:
            return y
        a, b = text.splitlines(), again.splitlines()
        changed = sum(1 for x, z in zip(a, b) if x != z) + abs(len(a) - len(b))
        if best is None or changed < best[0]:
            best = (changed, y)
    return best[1] if best else _yaml()


def topic_draft(settings_text: str, topic_id: str, lists: Iterable[str] = ()) -> str:
    """The topic's entry (with its comments), and the named term lists, as a draft."""
    y = _layout_of(settings_text)
    root = y.load(settings_text)
    topics = [t for t in root.get("topics") or [] if isinstance(t, dict) and t.get("id") == topic_id]
    draft = CommentedMap()
    terms = CommentedMap()
    for name in lists:
        if name in (root.get("terms") or {}):
            terms[name] = root["terms"][name]
    if terms:
        draft["terms"] = terms
    seq = CommentedSeq()
    seq.extend(topics)
    draft["topics"] = seq
    return _dump(y, draft).rstrip() + "\n"


def term_list(settings_text: str, name: str) -> Optional[str]:
    """One term list as draft text (``terms:`` with that list), or None when there is none."""
    y = _layout_of(settings_text)
    root = y.load(settings_text)
    if name not in (root.get("terms") or {}):
        return None
    return _dump(y, {"terms": {name: root["terms"][name]}})


def _plain_yaml(text: str) -> None:
    """A draft is plain YAML: no anchors or aliases (an anchor's name could clash with one in
    settings.yaml and change another topic there) and no tags (``!!python/...``)."""
    try:
        for event in _yaml().parse(text):
            line = event.start_mark.line + 1 if event.start_mark else 1
            if isinstance(event, AliasEvent) or getattr(event, "anchor", None):
                raise ConfigError([Problem("draft", line, "(yaml)", "anchors and aliases (&name, *name) are not "
                                           "allowed in a draft; write the values out")])
            tag = getattr(event, "tag", None)
            if tag and str(tag) not in _CORE_TAGS:
                raise ConfigError([Problem("draft", line, "(yaml)", f"the tag {tag} is not allowed in a draft")])
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError([Problem("draft", mark.line + 1 if mark else 1, "(yaml)",
                                   f"{getattr(exc, 'problem', None) or exc}; check indentation and brackets")]) from None


def parse_draft(live: Config, text: str, topic: Optional[str] = None) -> Config:
    """The live configuration with the draft's rules laid over it; ConfigError if the draft
    is not valid (every problem, with the draft's line numbers). ``topic``: the one topic
    the draft may hold."""
    if len(text) > MAX_DRAFT:
        raise ConfigError([Problem("draft", 1, "(file)", f"a draft of more than {MAX_DRAFT // 1000} kB")])
    _plain_yaml(text)
    parsed = parse_settings(text, "draft", under=live.settings, cache=False)
    own = [t.get("id") for t in (_yaml().load(text) or {}).get("topics") or [] if isinstance(t, dict)]
    if topic is not None and any(t != topic for t in own):
        other = next(t for t in own if t != topic)
        raise ConfigError([Problem("draft", 1, "topics", f"this draft is for the topic {topic}; it also holds "
                                   f"{other!r} (open that topic to change it)")])
    extra = [k[0] for k in parsed.lines if len(k) == 1 and k[0] not in ("terms", "topics")]
    if extra:
        raise ConfigError([Problem("draft", parsed.lines[(extra[0],)], extra[0],
                                   "a draft holds only terms: and topics:; other settings are changed in "
                                   "settings.yaml itself")])
    return replace(live, settings=parsed.settings, rulebook=parsed.rulebook)


def merged(settings_text: str, draft_text: str) -> str:
    """settings.yaml with the draft's term lists and topics in place of the old ones (new ones
    appended), everything else — comments, order, quoting — as it was."""
    _plain_yaml(draft_text)
    y = _layout_of(settings_text)
    root = y.load(settings_text)
    # a browser sends CRLF, and blank lines at the end would be kept as the last key's comment
    try:
        draft = _yaml().load(draft_text.replace("\r\n", "\n").rstrip() + "\n") or {}
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError([Problem("draft", mark.line + 1 if mark else 1, "(yaml)",
                                   f"{getattr(exc, 'problem', None) or exc}; check indentation and brackets")]) from None
    if not isinstance(draft, dict):
        raise ConfigError([Problem("draft", 1, "(top)", "a draft is a mapping with terms: and topics:")])
    if draft.get("terms"):
        if not isinstance(root.get("terms"), dict):
            root["terms"] = CommentedMap()
        for name, value in draft["terms"].items():
            if name in root["terms"]:
                _keep_tail(root["terms"][name], value)
            root["terms"][name] = value
    for topic in draft.get("topics") or []:
        tid = topic.get("id") if isinstance(topic, dict) else None
        topics = root.setdefault("topics", CommentedSeq())
        at = next((i for i, t in enumerate(topics) if isinstance(t, dict) and t.get("id") == tid), None)
        if at is None:
            topics.append(topic)
        else:
            _keep_tail(topics[at], topic)
            topics[at] = topic
    return _dump(y, root)


def _keep_tail(old: Any, new: Any) -> None:
    """Keep what followed the old entry (the blank line and comment before the next one):
    ruamel stores it as the comment of the entry's last key or element."""
    if isinstance(old, CommentedMap) and isinstance(new, CommentedMap) and old and new:
        last_old, last_new = list(old)[-1], list(new)[-1]
    elif isinstance(old, CommentedSeq) and isinstance(new, CommentedSeq) and old and new:
        last_old, last_new = len(old) - 1, len(new) - 1
    else:
        return
    tail = old.ca.items.get(last_old)
    if tail and not new.ca.items.get(last_new):
        new.ca.items[last_new] = tail


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class StaleFile(Exception):
    """settings.yaml changed on disk since the draft was opened."""


@dataclass
class Saved:
    config: Config
    before: str            # the file as it was
    after: str


def save(path: Path, expected_digest: str, draft_text: str, environ: Optional[dict] = None) -> Saved:
    """Write the draft into settings.yaml, validated as `check` validates it: an invalid
    result raises ConfigError and nothing is written. The file is replaced in one step (a
    reader never sees half of it), keeping its permissions."""
    with _SAVING, _file_lock(path):
        return _save(path, expected_digest, draft_text, environ)


_SAVING = threading.Lock()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Held from reading settings.yaml to replacing it: two saves (two operators, two
    workbenches) never interleave, so neither overwrites the other unseen."""
    import fcntl

    with open(path.parent / f".{path.name}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _save(path: Path, expected_digest: str, draft_text: str, environ: Optional[dict] = None) -> Saved:
    before = read_settings_file(path)
    if digest_of(before) != expected_digest:
        raise StaleFile("settings.yaml changed since this page was opened (someone else saved, or it was "
                        "edited on disk); your draft is kept below: reload the topic and apply it again")
    crlf = "\r\n" in before
    after = merged(before.replace("\r\n", "\n") if crlf else before, draft_text)
    if crlf:
        after = after.replace("\n", "\r\n")                     # the file's own line ends
    cfg = load_config(path, environ=environ, text=after)          # raises ConfigError: nothing written
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".yaml.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(after)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Saved(cfg, before, after)


# ---- what a draft changes ------------------------------------------------------------------
@dataclass
class Change:
    item: StoredItem
    reason: str


@dataclass
class Backtest:
    topic: str
    scanned: int
    live: int
    draft: int
    gained: list[Change] = field(default_factory=list)
    lost: list[Change] = field(default_factory=list)


def backtest(items: Iterable[StoredItem], live: Optional[Matcher], draft: Matcher, topic: str,
             live_hits: Optional[set[int]] = None) -> Backtest:
    """Items the draft's topic would gain and lose against the live topic (``live_hits``: the
    live topic's matches when already known)."""
    out = Backtest(topic, 0, 0, 0)
    for item in items:
        out.scanned += 1
        fields = item_fields(item)
        now = (item.id in live_hits) if live_hits is not None else bool(live and topic in live.rulebook.topic_ids
                                                                      and live.match(fields, [topic]))
        d = draft.explain(fields, [topic])
        then = bool(d and d[0].matched)
        out.live += now
        out.draft += then
        if then and not now:
            out.gained.append(Change(item, d[0].reason))
        elif now and not then:
            out.lost.append(Change(item, d[0].reason if d else "no term of the topic in the item"))
    return out


@dataclass
class Scores:
    topic: str
    cases: int
    live: Optional[Counts]
    draft: Counts
    mistakes: list[Mistake]          # the draft's false alarms and misses, with why / why not


def scores(cases: list[Case], live: Optional[Matcher], draft: Matcher, topic: str) -> Scores:
    judged = [c for c in cases if c.judged is None or topic in c.judged]
    d = evaluate(draft, judged, [topic])
    lv = evaluate(live, judged, [topic]).per_topic[topic] if live and topic in live.rulebook.topic_ids else None
    return Scores(topic, len(judged), lv, d.per_topic[topic], d.mistakes)
