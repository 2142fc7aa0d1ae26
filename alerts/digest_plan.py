"""Which digests are due, and what each holds.

``plan`` decides per subscriber: due, not due (a digest went out for the latest slot of its
cadence), or backing off (the last send failed a moment ago). ``build_digest`` gathers a
due subscriber's undelivered matches into a ``Digest``: each item once, under the topic it
is most about; each story once, with "also reported by"; at most ``max_per_topic`` stories a
topic, the rest counted under "N more". Only the shown stories are loaded in full, so a
digest's memory does not grow with the backlog.

Previews, dry runs and the real send are all consumers of the same plan.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from newswatch.alerts.digest import Digest, DigestEntry, FeedbackLinks, SourceLine, TopicSection
from newswatch.alerts.evidence import Evidence
from newswatch.alerts.health import SourceHealth
from newswatch.alerts.rules import Topic
from newswatch.alerts.stories import cluster
from newswatch.alerts.subscriptions import Subscription
from newswatch.storage.alerts_repo import AlertsRepository, MatchKey

# Undelivered items first seen longer ago than this are no longer sent: a digest after a
# month of mail outage still holds the month, and the digest query stays bounded.
BACKLOG = timedelta(days=30)
CANDIDATES_PER_SHOWN = 3       # stories loaded per shown story, so duplicates can fold


class PlanState(str, enum.Enum):
    DUE = "due"
    NOT_DUE = "not_due"
    BACKOFF = "backoff"


@dataclass(frozen=True)
class PlannedDigest:
    subscription: Subscription
    state: PlanState
    slot: datetime                     # the cadence slot a digest sent now would serve
    reason: str = ""


def retry_wait(failures: int) -> Optional[timedelta]:
    """1, 2, 4 … minutes after consecutive failed sends, at most an hour."""
    if failures <= 0:
        return None
    return timedelta(minutes=min(60, 2 ** (failures - 1)))


def plan(repo: AlertsRepository, subscriptions: Iterable[Subscription], now: datetime,
         force: bool = False, only: Optional[str] = None, backoff: bool = True) -> list[PlannedDigest]:
    """``backoff``: wait 1, 2, 4 … minutes after a failed send before the next try (the
    service, which looks every minute); without it every call tries (``once`` from cron)."""
    subs = [s for s in subscriptions if only is None or s.name == only]
    names = [s.name for s in subs]
    sent = repo.last_digests(names, "sent")
    failed = repo.last_digests(names, "failed")
    out = []
    for sub in subs:
        cadence = sub.cadence
        slot = cadence.last_slot(now, sub.zone)
        last = sent.get(sub.name)
        if force:
            out.append(PlannedDigest(sub, PlanState.DUE, slot, "forced"))
            continue
        if cadence.kind != "immediate" and last is not None and (last.slot or last.created_at) >= slot:
            nxt = cadence.next_slot(now, sub.zone)
            out.append(PlannedDigest(sub, PlanState.NOT_DUE, slot, f"next at {nxt.isoformat(timespec='minutes')}"))
            continue
        fail = failed.get(sub.name)
        if backoff and fail is not None and (last is None or fail.created_at > last.created_at):
            # the same slot failed a moment ago: wait before trying again; a new slot supersedes it
            same_slot = cadence.kind == "immediate" or fail.slot is None or fail.slot >= slot
            wait = retry_wait(repo.failures_since_success(sub.name))
            if same_slot and wait and now - fail.created_at < wait:
                out.append(PlannedDigest(sub, PlanState.BACKOFF, slot,
                                         f"the last send failed ({fail.error}); next try after "
                                         f"{(fail.created_at + wait).isoformat(timespec='seconds')}"))
                continue
        out.append(PlannedDigest(sub, PlanState.DUE, slot))
    return out


@dataclass(frozen=True)
class DigestContext:
    """What every digest of a run shares."""

    topics: dict[str, Topic]
    source_names: dict[str, str]
    health: Sequence[SourceHealth]
    max_per_topic: int = 25
    manage: str = "ask your newswatch operator."
    links: Optional[Callable[[Subscription, int, str], FeedbackLinks]] = None      # per entry
    missed_link: Optional[Callable[[Subscription], str]] = None
    more_link: Optional[Callable[[Subscription, str], str]] = None
    manage_link: Optional[Callable[[Subscription], str]] = None


def build_digest(repo: AlertsRepository, sub: Subscription, ctx: DigestContext, now: datetime,
                 restrict: Optional[set[int]] = None) -> Digest:
    keys = [k for k in repo.undelivered(sub.name, sub.topics, now - BACKLOG, now)
            if k.score >= sub.min_score and (not sub.languages or k.language in sub.languages)
            and (restrict is None or k.item_id in restrict)]
    order = {t: i for i, t in enumerate(sub.topics)}
    by_item: dict[int, list[MatchKey]] = {}
    for k in keys:
        by_item.setdefault(k.item_id, []).append(k)
    placed: dict[str, list[MatchKey]] = {t: [] for t in sub.topics}
    others: dict[int, list[str]] = {}
    for item_id, found in by_item.items():
        best = max(found, key=lambda k: (k.score, -order[k.topic_id]))
        placed[best.topic_id].append(best)
        others[item_id] = [ctx.topics[k.topic_id].label if k.topic_id in ctx.topics else k.topic_id
                           for k in found if k.topic_id != best.topic_id]
    cap = sub.max_per_topic or ctx.max_per_topic
    candidates: dict[str, list[MatchKey]] = {}
    hidden: list[int] = []
    for topic_id, found in placed.items():
        found.sort(key=lambda k: (-k.score, -k.when.timestamp(), -k.item_id))
        candidates[topic_id] = found[: cap * CANDIDATES_PER_SHOWN]
        hidden += [k.item_id for k in found[cap * CANDIDATES_PER_SHOWN:]]
    wanted = [(k.item_id, t) for t, ks in candidates.items() for k in ks]
    items = repo.items_by_id(i for i, _ in wanted)
    evidence = repo.evidence_for(wanted)
    sections = []
    for topic_id in sub.topics:
        entries = []
        for k in candidates[topic_id]:
            item = items.get(k.item_id)
            ev = evidence.get((k.item_id, topic_id))
            if item is None or ev is None:
                continue
            links = ctx.links(sub, item.id, topic_id) if ctx.links else None
            entries.append(DigestEntry(item, topic_id, Evidence.from_json(ev),
                                       ctx.source_names.get(item.source_id, item.source_id),
                                       other_topics=tuple(others.get(item.id, ())), feedback=links))
        stories = cluster(entries, ctx.source_names)
        stories.sort(key=lambda e: (-e.evidence.score, -(e.item.when.timestamp())))
        shown, over = stories[:cap], stories[cap:]
        for e in over:
            hidden += list(e.item_ids)
        shown.sort(key=lambda e: e.item.when, reverse=True)
        more = len(over) + sum(1 for k in placed[topic_id][cap * CANDIDATES_PER_SHOWN:])
        title = ctx.topics[topic_id].label if topic_id in ctx.topics else topic_id
        sections.append(TopicSection(topic_id, title, tuple(shown), more,
                                     ctx.more_link(sub, topic_id) if ctx.more_link and more else None))
    checked = [h for h in ctx.health if h.checked]
    sources = tuple(SourceLine(h.name, not h.failing, h.failing_since) for h in checked)
    unchecked = sum(1 for h in ctx.health if h.enabled and not h.checked)
    return Digest(sections=tuple(sections), sources=sources, unchecked=unchecked, generated_at=now,
                  timezone=sub.timezone, cadence=sub.cadence.describe(), topics=tuple(sub.topics),
                  manage=ctx.manage_link(sub) if ctx.manage_link else ctx.manage,
                  missed_link=ctx.missed_link(sub) if ctx.missed_link else None, hidden_ids=tuple(hidden))
