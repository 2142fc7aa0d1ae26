"""``match``, ``test-rule`` and ``rematch``: trying rules on text and on stored items."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from newswatch.alerts.item_matching import item_fields, match_stored_items
from newswatch.scheduler.commands.common import EXIT_OK, Formatter, UsageError, config, err, plural, runtime, since
from newswatch.scheduler.config import Config, load_draft
from newswatch.storage.alerts_repo import AlertsRepository
from newswatch.storage.rows import StoredItem

if TYPE_CHECKING:         # the matcher is loaded by the commands that match, not by every command
    from newswatch.alerts.evaluation import Case
    from newswatch.alerts.matcher import Matcher, TopicMatch


def cached_matcher(rulebook: Any) -> Matcher:
    from newswatch.alerts.matcher import cached_matcher as load

    return load(rulebook)


def _inputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(label, text) pairs from --text, files or standard input."""
    if args.text is not None:
        return [("--text", args.text)]
    out = []
    for name in args.files or ["-"]:
        if name == "-":
            out.append(("stdin", sys.stdin.read()))
        else:
            try:
                out.append((name, Path(name).read_text(encoding="utf-8", errors="replace")))
            except OSError as exc:
                raise UsageError(f"cannot read {name}: {exc.strerror}") from None
    return out


def fields_of(line: str) -> dict[str, str]:
    """A line of --lines input: plain text, or a JSON object with title/summary/body."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
            if isinstance(obj, dict):
                return {k: str(obj.get(k) or "") for k in ("title", "summary", "body") if obj.get(k)} or {"text": ""}
        except json.JSONDecodeError:
            pass
    return {"text": line}


def text_fields(text: str) -> dict[str, str]:
    """A whole text to match: its first line is the title when more lines follow."""
    head, sep, rest = text.strip().partition("\n")
    if sep and rest.strip():
        return {"title": head.strip(), "body": rest.strip()}
    return {"text": text}


def why(matcher: Matcher, fields: dict[str, str], topics: Optional[list[str]]) -> str:
    """Every topic's decision, with what each entry found (term, field, offsets)."""
    out = []
    for d in matcher.explain(fields, topics):
        mark = "✔" if d.matched else "✘"
        score = f" (score {d.score})" if d.matched else ""
        out.append(f"{mark} {d.topic_id}: {d.reason}{score}")
        deciding = set(d.deciding)
        for label, role, hits in matcher.found(d):
            shown = []
            for h in hits[:8]:
                star = "*" if h in deciding else ""
                shown.append(f"{star}'{d.text_of(h)}' [{matcher.term_text(h)}] {h.field} {h.start}-{h.end}")
            more = f" and {len(hits) - 8} more" if len(hits) > 8 else ""
            out.append(f"    {role:<6} {label}: " + "; ".join(shown) + more)
    return "\n".join(out) or "no topic"


def explain(found: list[TopicMatch], color: bool) -> str:
    if not found:
        return "no topic matched"
    out = []
    for m in found:
        ev = m.evidence
        out.append(f"✔ {m.topic_id} (score {ev.score}): {', '.join(ev.terms)}")
        out.append(f"    {ev.snippet.field}: {ev.snippet.terminal(color)}")
    return "\n".join(out)


def hits_json(found: list[TopicMatch]) -> list[dict[str, Any]]:
    return [dict(h.to_json(), topic=m.topic_id) for m in found for h in m.evidence.hits]


def cmd_match(args: argparse.Namespace) -> int:
    cfg = config(args)
    if args.settings:
        cfg = load_draft(args.settings, cfg)
    for t in args.topic or ():
        if t not in cfg.topics:
            raise UsageError(f"unknown topic '{t}'; known: {', '.join(cfg.topics)}")
    matcher = cached_matcher(cfg.rulebook)
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    for label, text in _inputs(args):
        for line in (text.splitlines() if args.lines else [text]):
            if args.lines and not line.strip():
                if args.json:
                    print(json.dumps({"topics": [], "hits": []}))
                continue
            fields = fields_of(line) if args.lines else text_fields(line)
            if args.explain:
                head = line.strip()[:100] if args.lines else label
                print(f"{head}\n  " + why(matcher, fields, args.topic).replace("\n", "\n  "))
                continue
            found = matcher.match(fields, args.topic)
            if args.json:
                print(json.dumps({"topics": [m.topic_id for m in found], "hits": hits_json(found)}, ensure_ascii=False))
            else:
                head = line.strip()[:100] if args.lines else label
                print(f"{head}\n  " + explain(found, color).replace("\n", "\n  "))
    return EXIT_OK


def _topic_hits(repo: AlertsRepository, matcher: Matcher, topic: str, since_at: Any) -> dict[int, tuple[StoredItem, TopicMatch]]:
    out = {}
    for item in repo.iter_items(since=since_at):
        found = matcher.match(item_fields(item), topic_ids=[topic])
        if found:
            out[item.id] = (item, found[0])
    return out


def cmd_test_rule(args: argparse.Namespace) -> int:
    cfg = config(args)
    draft = None
    if args.settings:
        draft = load_draft(args.settings, cfg)
        if args.topic not in draft.topics:
            raise UsageError(f"topic '{args.topic}' is not in {args.settings}; topics there: {', '.join(draft.topics)}")
    elif args.topic not in cfg.topics:
        raise UsageError(f"unknown topic '{args.topic}'; known: {', '.join(cfg.topics)} "
                         f"(to try a new topic, write it in a draft file and pass --settings DRAFT.yaml)")
    since_at = since(args.since)
    with runtime(args, cfg) as rt:
        repo = rt.alerts_repo
        current = _topic_hits(repo, rt.matcher, args.topic, since_at) if args.topic in cfg.topics else {}
        other = _topic_hits(repo, cached_matcher(draft.rulebook), args.topic, since_at) if draft else None
        total = rt.crawl_repo.count_items()
    scope = f" in the last {args.since}" if args.since else ""

    def line(sign: str, item: StoredItem, m: TopicMatch) -> str:
        return f"  {sign} {item.title[:100]}  [{', '.join(m.evidence.terms[:6])}]"

    if other is None:
        print(f"{args.topic}: {len(current)} of {plural(total, 'stored item')}{scope} match")
        for item, m in sorted(current.values(), key=lambda r: r[0].when, reverse=True)[: args.limit]:
            print(line("+", item, m))
        return EXIT_OK
    gained = [other[i] for i in other if i not in current]
    lost = [current[i] for i in current if i not in other]
    now_text = f"{len(current)} match now" if args.topic in cfg.topics else "the topic does not exist yet"
    print(f"{args.topic}: {now_text}; {len(other)} would match with {args.settings}{scope}: "
          f"{len(gained)} gained, {len(lost)} lost")
    for item, m in gained[: args.limit]:
        print(line("+", item, m))
    for item, m in lost[: args.limit]:
        print(line("-", item, m))
    return EXIT_OK


def stored_feedback_cases(args: argparse.Namespace, cfg: Config) -> list[Case]:
    """Analysts' verdicts in the store, as cases (none when the store cannot be opened:
    `eval` on case files needs no database)."""
    from newswatch.alerts.evaluation import feedback_cases

    url = cfg.storage_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return []                  # no store yet, so no verdicts; `eval` does not create one
    try:
        with runtime(args, cfg) as rt:
            rows = rt.alerts_repo.feedback()
            stored = rt.alerts_repo.items_by_id({r.item_id for r in rows if r.item_id is not None})
    except Exception as exc:   # noqa: BLE001 - said, and the case files are still scored
        err(f"analysts' verdicts not read: {exc}")
        return []
    return feedback_cases(rows, stored)


def cmd_eval(args: argparse.Namespace) -> int:
    from newswatch.alerts.evaluation import CaseFileError, evaluate, load_cases

    cfg = config(args)
    if args.settings:
        cfg = load_draft(args.settings, cfg)
    cases = []
    try:
        for path in args.cases:
            cases += load_cases(path)
    except CaseFileError as exc:
        raise UsageError(str(exc)) from None
    if args.feedback:
        given = stored_feedback_cases(args, cfg)
        if given:
            print(f"with {plural(len(given), 'verdict')} analysts gave in digests and the workbench", file=sys.stderr)
        cases += given
    if not cases:
        raise UsageError("no cases: give case files (see docs/rules.md), or record analysts' verdicts first")
    if args.topic and args.topic not in cfg.topics:
        raise UsageError(f"unknown topic '{args.topic}'; known: {', '.join(cfg.topics)}")
    cases = [c for c in cases if (not args.lang or c.lang == args.lang) and (not args.split or c.split == args.split)
             and (not args.kind or c.kind == args.kind)]
    if not cases:
        raise UsageError("no case left after the filters")
    report = evaluate(cached_matcher(cfg.rulebook), cases, [args.topic] if args.topic else None)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=1))
    else:
        print(report.text(details=not args.summary))
    return EXIT_OK


def cmd_rematch(args: argparse.Namespace) -> int:
    with runtime(args) as rt:
        stats = match_stored_items(rt.alerts_repo, rt.matcher, since=since(args.since), all_items=True)
        version = rt.cfg.rulebook.version
    print(f"re-matched {plural(stats.items, 'item')} with rules {version}: {stats.matched} match a topic")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("match", help="match text against the topics, and show why", formatter_class=Formatter,
                       description="Match text against the topics and show why each topic matched (with --explain,\n"
                                   "why each did or did not). A text or file of several lines is an item whose\n"
                                   "first line is the title.")
    c.add_argument("--text", help="the text to match")
    c.add_argument("files", nargs="*", metavar="FILE", help="files to read ('-' for standard input)")
    c.add_argument("--json", action="store_true", help="one JSON object per item: topics and hits")
    c.add_argument("--lines", action="store_true",
                   help="each input line is one item (plain text, or a JSON object with title/summary/body)")
    c.add_argument("--explain", action="store_true",
                   help="every topic's decision: what each entry found (term, field, offsets; * = deciding) "
                        "and, when it did not match, which requirement failed")
    c.add_argument("--topic", action="append", metavar="ID", help="only this topic (repeatable)")
    c.add_argument("--settings", metavar="DRAFT.yaml", help="use the rules of another settings file")
    c.set_defaults(func=cmd_match)

    c = sub.add_parser("test-rule", help="what a topic matches among stored items", formatter_class=Formatter,
                       description="Show what a topic matches among stored items. With --settings DRAFT.yaml,\n"
                                   "what the draft's version of the topic would gain and lose (the topic may\n"
                                   "exist only in the draft).")
    c.add_argument("topic", metavar="TOPIC")
    c.add_argument("--since", metavar="AGE", help="only items first seen in this period, e.g. 30d")
    c.add_argument("--settings", metavar="DRAFT.yaml", help="compare with the rules in another settings file")
    c.add_argument("--limit", type=int, default=50, help="items listed at most")
    c.set_defaults(func=cmd_test_rule)

    c = sub.add_parser("eval", help="precision and recall of the topics on labelled cases", formatter_class=Formatter,
                       description="Score the topics on labelled case files (TSV: id split lang kind topics title\n"
                                   "text url class note): precision and recall per topic, language and kind, then\n"
                                   "every false alarm and miss with the reason (see docs/rules.md). Analysts'\n"
                                   "verdicts from digests and the workbench are cases too (split 'feedback').")
    c.add_argument("cases", nargs="*", metavar="CASES.tsv", help="case files (.tsv, or .jsonl)")
    c.add_argument("--no-feedback", dest="feedback", action="store_false",
                   help="leave out the verdicts analysts gave (relevant / not relevant / missed), which are "
                        "scored with the case files by default, each for its one topic")
    c.add_argument("--topic", metavar="ID", help="only this topic")
    c.add_argument("--lang", metavar="xx", help="only cases in this language (en, ru, be)")
    c.add_argument("--split", metavar="NAME", help="only this split (dev or test)")
    c.add_argument("--kind", choices=["headline", "item"], help="only headlines, or only whole items")
    c.add_argument("--settings", metavar="DRAFT.yaml", help="evaluate the rules of another settings file")
    c.add_argument("--summary", action="store_true", help="the figures only, no list of mistakes")
    c.add_argument("--json", action="store_true", help="the report as JSON")
    c.set_defaults(func=cmd_eval)

    c = sub.add_parser("rematch", help="apply the current rules to stored items", formatter_class=Formatter,
                       description="Re-match stored items with the current rules (new matches are delivered\n"
                                   "like new items; items already delivered are not sent again).")
    c.add_argument("--since", metavar="AGE", help="only items first seen in this period, e.g. 30d")
    c.set_defaults(func=cmd_rematch)
