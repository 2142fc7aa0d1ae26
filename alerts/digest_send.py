"""Sending a due digest exactly once.

1. *Claim* its items (``AlertsRepository.claim``): a row per (subscriber, item) in state
   ``sending`` with this sender as owner and a lease. Items another process holds are left
   out (the digest is rebuilt without them); if nothing is left, nothing is sent.
2. Send.  A refusal releases the claim and records a failed digest (retried with backoff).
3. Mark the items sent. If the database will not take that record after the mail server
   accepted the message, it is retried, then written to the delivery journal, which the next
   run replays before sending anything — so the mail does not go out twice, and the other
   subscribers are still served.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from newswatch.alerts.digest import Digest
from newswatch.alerts.digest_plan import PlannedDigest
from newswatch.alerts.errors import DeliveryError
from newswatch.alerts.render import RenderCache, build_message
from newswatch.alerts.transports import EmailSettings, Transport
from newswatch.storage.alerts_repo import AlertsRepository
from newswatch.storage.errors import StorageError
from newswatch.storage.journal import DeliveryJournal, JournalEntry
from newswatch.storage.rows import DigestRecord

log = logging.getLogger("newswatch.digest")
RECORD_TRIES = (0.5, 1.0, 2.0, 4.0)      # waits between tries to record an accepted delivery


class DigestStatus(str, enum.Enum):
    SENT = "sent"
    NOT_DUE = "not_due"
    BACKOFF = "backoff"
    EMPTY = "empty"
    FAILED = "failed"
    TAKEN = "taken"            # another process claimed every item first
    PREVIEW = "preview"
    DRY_RUN = "dry_run"


@dataclass(frozen=True)
class DigestOutcome:
    subscriber: str
    status: DigestStatus
    items: int = 0
    where: Optional[str] = None
    error: Optional[str] = None
    journalled: bool = False

    def describe(self) -> str:
        s, n = self.status, self.items
        items = f"{n} item{'s' if n != 1 else ''}"
        text = {
            DigestStatus.SENT: f"sent {items} → {self.where}" + (" (recorded in the journal)" if self.journalled else ""),
            DigestStatus.FAILED: f"NOT SENT ({items} kept for the next run): {self.error}",
            DigestStatus.PREVIEW: f"preview of {items} → {self.where}",
            DigestStatus.DRY_RUN: f"would send {items}",
            DigestStatus.BACKOFF: f"waiting to retry ({self.error})",
            DigestStatus.EMPTY: "nothing new",
            DigestStatus.TAKEN: "another newswatch process is sending these items",
            DigestStatus.NOT_DUE: f"not due yet ({self.error})" if self.error else "not due yet",
        }[s]
        return f"{self.subscriber}: {text}"


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DigestSender:
    def __init__(self, repo: AlertsRepository, transport: Transport, email: EmailSettings,
                 journal: Optional[DeliveryJournal] = None, lease: timedelta = timedelta(minutes=5),
                 cache: Optional[RenderCache] = None, owner: Optional[str] = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.repo = repo
        self.transport = transport
        self.email = email
        self.journal = journal
        self.lease = lease
        self.cache = cache or RenderCache()
        self.owner = owner or new_owner()
        self.sleep = sleep

    def send(self, planned: PlannedDigest, digest: Digest, now: datetime,
             rebuild: Callable[[set[int]], Digest]) -> DigestOutcome:
        sub = planned.subscription
        wanted = set(digest.item_ids)
        if not wanted and not sub.send_empty:
            return DigestOutcome(sub.name, DigestStatus.EMPTY)
        if wanted:
            got = self.repo.claim(sub.name, wanted, self.owner, now + self.lease, now)
            if got != wanted:
                if not got:
                    return DigestOutcome(sub.name, DigestStatus.TAKEN)
                log.info("digest for %s: %d of %d item(s) are being sent by another process; left out",
                         sub.name, len(wanted - got), len(wanted), extra={"subscriber": sub.name})
                digest = rebuild(got)
                extra = set(digest.item_ids) - got
                if extra:   # new items arrived meanwhile: claim them too, or leave them for next time
                    got |= self.repo.claim(sub.name, extra, self.owner, now + self.lease, now)
                    digest = rebuild(got)
        msg = build_message(digest, sub, self.email.from_, self.email.list_id, self.cache)
        try:
            where = self.transport.send(msg)
        except DeliveryError as exc:
            error = str(exc)
            log.error("digest for %s not delivered (retried later): %s", sub.name, error,
                      extra={"subscriber": sub.name, "stage": "digest"})
            self._quietly(lambda: self.repo.release(sub.name, self.owner))
            self._quietly(lambda: self.repo.record_digest(DigestRecord(
                sub.name, msg["Message-ID"], "failed", digest.total, now, planned.slot, error)))
            return DigestOutcome(sub.name, DigestStatus.FAILED, digest.total, error=error)
        journalled = not self._record(sub.name, digest, msg["Message-ID"], now, planned.slot)
        log.info("digest for %s: %d item(s) delivered to %s", sub.name, digest.total, where,
                 extra={"subscriber": sub.name, "stage": "digest"})
        return DigestOutcome(sub.name, DigestStatus.SENT, digest.total, where, journalled=journalled)

    def _record(self, name: str, digest: Digest, message_id: str, at: datetime, slot: datetime) -> bool:
        """Mark the delivery; True if the database took it, False if it went to the journal."""
        last_error: Optional[Exception] = None
        for wait in (0.0,) + RECORD_TRIES:
            if wait:
                self.sleep(wait)
            try:
                self.repo.mark_sent(name, self.owner, message_id, at, hidden=digest.hidden_ids)
                self.repo.record_digest(DigestRecord(name, message_id, "sent", digest.total, at, slot))
                return True
            except StorageError as exc:
                last_error = exc
        entry = JournalEntry(name, sorted(set(digest.item_ids)), message_id, at.isoformat(),
                             slot.isoformat(), digest.total)
        if self.journal is None:
            log.error("digest for %s was delivered but cannot be recorded (%s); it may be sent again",
                      name, last_error, extra={"subscriber": name})
            return False
        try:
            self.journal.append(entry)
            log.error("digest for %s was delivered but the database would not record it (%s); recorded in the "
                      "journal %s, to be replayed at the next run", name, last_error, self.journal.path,
                      extra={"subscriber": name})
        except OSError as exc:
            log.error("digest for %s was delivered but can be recorded neither in the database (%s) nor in the "
                      "journal (%s); it may be sent again", name, last_error, exc, extra={"subscriber": name})
        return False

    @staticmethod
    def _quietly(work: Callable[[], object]) -> None:
        try:
            work()
        except StorageError as exc:
            log.error("could not record a failed send: %s", exc)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def expire_dead_claims(repo: AlertsRepository, now: datetime) -> int:
    """Claims of a sender on this machine that no longer runs (killed mid-send) need not
    wait out their lease: their items are offered again at once. Claims of other machines
    wait for their lease."""
    host = socket.gethostname()
    dead = []
    for owner in repo.claim_owners():
        parts = (owner or "").rsplit(":", 2)
        if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not _alive(int(parts[1])):
            dead.append(owner)
    expired = repo.expire_claims(dead, now - timedelta(seconds=1))
    if expired:
        log.warning("%d item(s) claimed by a newswatch that stopped mid-send are offered again", expired)
    return expired


def replay_journal(repo: AlertsRepository, journal: DeliveryJournal) -> int:
    """Record the deliveries a previous run could only journal. Call before sending."""

    def record(entry: JournalEntry) -> None:
        at = entry.accepted_at
        repo.record_sent(entry.subscriber, entry.item_ids, entry.message_id, at)
        repo.record_digest(DigestRecord(entry.subscriber, entry.message_id, "sent", entry.items, at,
                                        datetime.fromisoformat(entry.slot) if entry.slot else None))

    return journal.replay(record)
