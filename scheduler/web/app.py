"""``newswatch web``: the workbench, an ASGI application (Starlette, Jinja2 templates, no
front-end build) on the same store and settings as ``run``.

Pages: the archive (search, filters, export), an item with its evidence and "also reported
by", the rules workbench (a topic as a draft, a live backtest on the archive and the
labelled set, saving into settings.yaml), source health with a probe form, and the pages
digest links open: a verdict on an item, a missed story, the subscriber's own page.

Everything that came from a site is escaped by the templates (autoescape); links are made
only of http(s) addresses. Blocking work (database, matching, probing) runs in Starlette's
thread pool.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlencode, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from newswatch.alerts.evaluation import Case, feedback_cases, load_cases
from newswatch.alerts.evidence import Evidence
from newswatch.alerts.feedback import BadLink, LinkClaim, verify
from newswatch.alerts.matcher import Matcher
from newswatch.alerts.render import safe_url
from newswatch.alerts.stories import same_story
from newswatch.scheduler import cycle
from newswatch.scheduler.config import Config, ConfigError, load_config, read_settings_file
from newswatch.scheduler.runtime import Runtime
from newswatch.scheduler.web import drafts
from newswatch.scheduler.web.auth import Throttle, check_password, csrf_ok, csrf_token
from newswatch.spiders.urls import identity_key
from newswatch.storage.archive_repo import ArchiveRepository
from newswatch.storage.versions_repo import VersionsRepository

log = logging.getLogger("newswatch.web")
HERE = Path(__file__).resolve().parent
BACKTEST_DAYS = 90          # the archive a draft is tried on: items first seen in this many days
BACKTEST_LIMIT = 5000       # … at most this many, the newest
PAGE = 50
MISSED_PER_DAY = 50         # missed-story reports one subscription may make in a day


class Forbidden(Exception):
    pass


class NoSubscription(BadLink):
    """A well-made link whose subscriber is no longer in the settings."""


@dataclass
class State:
    """The settings (reloaded when the file changes, the last good kept when it is invalid),
    the store, and the caches the workbench keeps between requests."""

    path: Path
    environ: dict[str, str]
    cfg: Config
    rt: Runtime
    problem: Optional[str] = None
    checked: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    throttle: Throttle = field(default_factory=Throttle)
    live_hits: dict[tuple, set[int]] = field(default_factory=dict)   # (rules version, topic, archive)

    def current(self) -> Config:
        if time.monotonic() - self.checked < 1.0:
            return self.cfg
        with self.lock:
            self.checked = time.monotonic()
            try:
                text = read_settings_file(self.path)
                if hashlib.sha256(text.encode("utf-8")).hexdigest() != self.cfg.digest:
                    cfg = load_config(self.path, environ=self.environ, text=text)
                    self.rt.update(cfg)
                    self.cfg = cfg
                    log.info("settings changed: reloaded (rules %s)", cfg.rulebook.version)
                self.problem = None
            except ConfigError as exc:
                self.problem = f"settings.yaml is not valid, so the last good settings are in use: {exc.problems[0]}"
        return self.cfg

    @property
    def archive(self) -> ArchiveRepository:
        return ArchiveRepository(self.rt.db)

    @property
    def versions(self) -> VersionsRepository:
        return VersionsRepository(self.rt.db)


def _when(dt: Optional[datetime], tz: str = "UTC") -> str:
    if dt is None:
        return "-"
    from zoneinfo import ZoneInfo

    return dt.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text that starts like a formula gets a quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _sparkline(values: list[int], width: int = 120, height: int = 24) -> str:
    """Points of an SVG polyline for a small chart of items per day."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values))


class SecurityHeaders:
    """Headers on every answer. Tokens travel in the address of feedback pages: the
    referrer policy keeps them from other sites."""

    HEADERS = {
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                   "form-action 'self'; frame-ancestors 'none'",
    }

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in self.HEADERS.items():
                    headers[k] = v
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_app(settings_path: str | Path, environ: Optional[dict[str, str]] = None) -> Starlette:
    """The workbench on the settings file at ``settings_path``. ConfigError when the settings
    are invalid; ValueError when the signing secret is not set."""
    import os

    environ = dict(os.environ) if environ is None else environ
    path = Path(settings_path).resolve()
    cfg = load_config(path, environ=environ)
    if not cfg.web_secret:
        raise ValueError(f"the environment variable {cfg.settings.web.secret_env} is not set: it signs the "
                         f"workbench's sessions and the links in digests (`run` needs the same value); "
                         f"e.g. export {cfg.settings.web.secret_env}=$(python3 -c 'import secrets; "
                         f"print(secrets.token_urlsafe(32))')")
    state = State(path, environ, cfg, Runtime(cfg))
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["when"] = _when
    templates.env.filters["safe_url"] = safe_url
    templates.env.globals["sparkline"] = _sparkline

    # ---- helpers -------------------------------------------------------------------------
    def role(request: Request) -> Optional[str]:
        return request.session.get("role")

    def need(request: Request, *roles: str) -> None:
        if role(request) not in roles:
            raise Forbidden()
        if role(request) == "analyst" and subscription(str(request.session.get("name"))) is None:
            request.session.clear()             # the subscription was removed: so is the access
            raise Forbidden()

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> Response:
        cfg = state.current()
        sub = subscription(str(request.session.get("name"))) if role(request) == "analyst" else None
        ctx.setdefault("tz", sub.timezone if sub else "UTC")      # an analyst reads times in their zone
        ctx.update(request=request, role=role(request), who=request.session.get("name"),
                   csrf=csrf_token(request.session), problem=state.problem, cfg=cfg,
                   password_set=bool(cfg.settings.web.password_hash or environ.get(cfg.settings.web.password_env)))
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    def message(request: Request, title: str, text: str, status: int = 200) -> Response:
        return page(request, "message.html", status=status, title=title, text=text)

    async def form_checked(request: Request) -> Any:
        form = await request.form()
        given = form.get("csrf") or request.headers.get("x-csrf-token")
        if not csrf_ok(request.session, given if isinstance(given, str) else None):
            raise Forbidden("csrf")
        return form

    def claim_of(token: str, *verdicts: str) -> LinkClaim:
        """The link's claim, for one of these pages and a subscription that still exists."""
        secret = state.current().web_secret or ""
        claim = verify(secret, token)
        if claim.v not in verdicts:
            raise BadLink("this link is not meant for this page")
        if subscription(claim.s) is None:
            raise NoSubscription("its subscription no longer exists")
        return claim

    def subscription(name: str) -> Any:
        return next((s for s in state.current().settings.subscribers if s.name == name), None)

    def filters(request: Request) -> dict[str, Any]:
        q = request.query_params

        def day(key: str, end: bool = False) -> Optional[datetime]:
            try:
                d = datetime.strptime(q.get(key, ""), "%Y-%m-%d").replace(tzinfo=timezone.utc)
                return d + timedelta(days=1) if end else d
            except (ValueError, OverflowError):
                return None

        return {"q": (q.get("q") or "").strip()[:300] or None, "topic": q.get("topic") or None,
                "source": q.get("source") or None, "language": q.get("lang") or None,
                "since": day("from"), "until": day("to", end=True)}

    # ---- archive -------------------------------------------------------------------------
    async def archive(request: Request) -> Response:
        need(request, "operator", "analyst")
        f = filters(request)
        try:
            offset = max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            offset = 0
        result = await run_in_threadpool(lambda: state.archive.search(**f, limit=PAGE, offset=offset))
        args = {k: v for k, v in request.query_params.items() if k != "offset" and v}
        return page(request, "archive.html", result=result, f=request.query_params, offset=offset, page_size=PAGE,
                    query=urlencode(args), topics=state.current().settings.topics,
                    sources=state.current().settings.sources)

    async def export(request: Request) -> Response:
        need(request, "operator", "analyst")
        f = filters(request)
        fmt = request.path_params["fmt"]
        columns = ["id", "published", "first_seen", "source", "language", "topics", "title", "url",
                   "relevant", "not_relevant"]

        def rows() -> Iterator[dict[str, Any]]:
            for r in state.archive.iter_export(**f):
                yield {"id": r.id, "published": r.published.isoformat() if r.published else None,
                       "first_seen": r.first_seen.isoformat(), "source": r.source_id, "language": r.language,
                       "topics": list(r.topics), "title": r.title, "url": r.url, "relevant": r.relevant,
                       "not_relevant": r.not_relevant}

        if fmt == "csv":
            def body() -> Iterator[str]:
                buf = io.StringIO()
                w = csv.DictWriter(buf, columns)
                w.writeheader()
                for i, r in enumerate(rows()):
                    r["topics"] = ",".join(r["topics"])
                    w.writerow({k: _cell(v) for k, v in r.items()})
                    if i % 200 == 0:
                        yield buf.getvalue()
                        buf.seek(0)
                        buf.truncate()
                yield buf.getvalue()
            return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition": 'attachment; filename="newswatch-items.csv"'})

        def jbody() -> Iterator[str]:
            yield "["
            for i, r in enumerate(rows()):
                yield ("," if i else "") + "\n" + json.dumps(r, ensure_ascii=False)
            yield "\n]\n"
        return StreamingResponse(jbody(), media_type="application/json",
                                 headers={"Content-Disposition": 'attachment; filename="newswatch-items.json"'})

    async def item_page(request: Request) -> Response:
        need(request, "operator", "analyst")
        item_id = request.path_params["item_id"]
        if item_id >= 2**63:
            return message(request, "Not found", "No stored item has this number.", 404)

        def load() -> Any:
            found = state.archive.item(item_id)
            if found is None:
                return None, []
            it = found.item
            window = state.rt.alerts_repo.items_around(it.when, timedelta(days=3), limit=2000)
            return found, same_story(it, window)

        found, near = await run_in_threadpool(load)
        if found is None:
            return message(request, "Not found", "No stored item has this number (it may have been pruned).", 404)
        evidence = [(m, Evidence.from_json(m.evidence)) for m in found.matches]
        names = {s.id: s.label for s in state.current().settings.sources}
        return page(request, "item.html", it=found.item, evidence=evidence, verdicts=found.feedback, near=near,
                    names=names)

    # ---- feedback from digests ---------------------------------------------------------
    async def verdict(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            claim = claim_of(token, "relevant", "not_relevant")
        except BadLink as exc:
            return message(request, "This link cannot be used", str(exc), 403)
        it = await run_in_threadpool(state.rt.alerts_repo.get_item, claim.i) if claim.i is not None else None
        if request.method == "GET":
            # a mail scanner that opens links records nothing: the page submits itself in a browser
            return page(request, "verdict.html", claim=claim, it=it, token=token)
        await form_checked(request)
        now = datetime.now(timezone.utc)
        new = await run_in_threadpool(lambda: state.rt.alerts_repo.add_feedback(
            claim.link_id, claim.s, claim.v, now, item_id=claim.i if it else None, topic_id=claim.t,
            url=it.url if it else None, title=it.title if it else None))
        what = "relevant" if claim.v == "relevant" else "not relevant"
        text = (f"Recorded: “{it.title if it else 'this item'}” is {what} to {claim.t}. Thank you."
                if new else "This verdict was already recorded; the first answer stands.")
        return message(request, "Thank you" if new else "Already recorded", text)

    async def missed(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            claim = claim_of(token, "missed")
        except BadLink as exc:
            return message(request, "This link cannot be used", str(exc), 403)
        sub = subscription(claim.s)
        topics = [t for t in state.current().settings.topics if t.id in sub.topics]
        if request.method == "GET":
            return page(request, "missed.html", claim=claim, token=token, topics=topics, error=None, values={})
        form = await form_checked(request)
        url = str(form.get("url") or "").strip()
        topic = str(form.get("topic") or "")
        title = str(form.get("title") or "").strip()[:500] or None
        error = None
        if len(url) > 2048 or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            error = "Paste the story's address (at most 2,048 characters), starting with http:// or https://"
        elif topic not in {t.id for t in topics}:
            error = "Choose the topic the story belongs to."
        if error:
            return page(request, "missed.html", status=400, claim=claim, token=token, topics=topics, error=error,
                        values={"url": url, "topic": topic, "title": title or ""})
        day_ago = datetime.now(timezone.utc) - timedelta(days=1)
        recent = await run_in_threadpool(state.rt.alerts_repo.feedback, day_ago)
        if sum(1 for r in recent if r.subscriber == claim.s and r.verdict == "missed") >= MISSED_PER_DAY:
            return message(request, "Not recorded", f"At most {MISSED_PER_DAY} missed stories a day can be "
                           "reported from one subscription; please tell an operator about the rest.", 429)
        it = await run_in_threadpool(state.rt.alerts_repo.item_by_url_key, identity_key(url))
        link_id = hashlib.sha256(f"{claim.link_id}\n{identity_key(url)}\n{topic}".encode()).hexdigest()[:32]
        now = datetime.now(timezone.utc)
        new = await run_in_threadpool(lambda: state.rt.alerts_repo.add_feedback(
            link_id, claim.s, "missed", now, item_id=it.id if it else None, topic_id=topic, url=url,
            title=(it.title if it else title)))
        known = ("It is in the archive; it will count as a miss of this topic until the rules catch it."
                 if it else "It is not in the archive (its source may not be watched); an operator will see it.")
        return message(request, "Thank you" if new else "Already reported",
                       ("Recorded. " if new else "This story was already reported. ") + known)

    async def me(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            claim = claim_of(token, "manage")
        except NoSubscription:
            return message(request, "No such subscription", "This subscription no longer exists.", 404)
        except BadLink as exc:
            return message(request, "This link cannot be used", str(exc), 403)
        sub = subscription(claim.s)
        if role(request) != "operator":
            request.session.update(role="analyst", name=sub.name)
        rows = await run_in_threadpool(state.rt.alerts_repo.feedback)
        mine = [r for r in rows if r.subscriber == sub.name][:50]
        topics = {t.id: t for t in state.current().settings.topics}
        return page(request, "me.html", sub=sub, topics=topics, mine=mine, highlight=request.query_params.get("topic"))

    # ---- operators -----------------------------------------------------------------------
    async def login(request: Request) -> Response:
        if request.method == "GET":
            return page(request, "login.html", error=None, next=request.query_params.get("next", ""))
        form = await form_checked(request)
        wanted = str(form.get("next") or "")
        who = request.client.host if request.client else "?"
        if state.throttle.blocked(who):
            return page(request, "login.html", status=429, error="Too many attempts; wait a minute.", next=wanted)
        web = state.current().settings.web
        if not await run_in_threadpool(check_password, str(form.get("password") or "")[:1024], web.password_hash,
                                       environ.get(web.password_env)):
            state.throttle.failed(who)
            log.warning("web: a failed operator sign-in from %s", who)
            return page(request, "login.html", status=403, error="That is not the operators' password.", next=wanted)
        request.session.clear()
        request.session.update(role="operator", name="operator")
        # only a path on this site: "//host/…" or "/\\host" would leave it
        local = wanted.startswith("/") and not wanted.startswith(("//", "/\\"))
        return RedirectResponse(wanted if local else "/rules", status_code=303)

    async def logout(request: Request) -> Response:
        await form_checked(request)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    def cases_for(cfg: Config) -> tuple[list[Case], list[str]]:
        """The labelled set: the case files ``web.case_files`` names, and analysts' verdicts."""
        cases, notes = [], []
        for name in cfg.settings.web.case_files:
            p = Path(name) if Path(name).is_absolute() else cfg.path.resolve().parent / name
            try:
                cases += load_cases(p)
            except ValueError as exc:
                notes.append(str(exc))
        rows = state.rt.alerts_repo.feedback()
        stored = state.rt.alerts_repo.items_by_id({r.item_id for r in rows if r.item_id is not None})
        cases += feedback_cases(rows, stored)
        return cases, notes

    def recent_items() -> list[Any]:
        since = datetime.now(timezone.utc) - timedelta(days=BACKTEST_DAYS)
        return state.rt.alerts_repo.latest_items(BACKTEST_LIMIT, since=since)

    def live_hits(cfg: Config, topic: str, items: list[Any]) -> set[int]:
        # the live topic's matches, kept while the rules and the archive stay the same
        key = (cfg.rulebook.version, topic, len(items), items[-1].id if items else 0)
        if len(state.live_hits) > 50:
            state.live_hits.clear()
        if key not in state.live_hits:
            m = state.rt.matcher
            from newswatch.alerts.item_matching import item_fields

            state.live_hits[key] = {i.id for i in items if topic in m.rulebook.topic_ids and m.match(item_fields(i), [topic])}
        return state.live_hits[key]

    def preview(draft_text: str, topic: str) -> dict[str, Any]:
        cfg = state.current()
        try:
            draft_cfg = drafts.parse_draft(cfg, draft_text, topic)
        except ConfigError as exc:
            return {"ok": False, "problems": [str(p) for p in exc.problems]}
        if topic not in draft_cfg.topics:
            return {"ok": False, "problems": [f"the draft has no topic '{topic}' (its id may have changed)"]}
        draft_m = Matcher(draft_cfg.rulebook)
        items = recent_items()
        bt = drafts.backtest(items, None, draft_m, topic, live_hits=live_hits(cfg, topic, items))
        cases, notes = cases_for(cfg)
        live_m = state.rt.matcher
        sc = drafts.scores(cases, live_m if topic in cfg.topics else None, draft_m, topic)

        def counts(c: Any) -> Optional[dict[str, Any]]:
            if c is None:
                return None
            return {"precision": round(c.precision, 3), "recall": round(c.recall, 3), "tp": c.tp, "fp": c.fp,
                    "fn": c.fn, "measured": bool(c.tp + c.fp + c.fn)}

        def change(ch: drafts.Change) -> dict[str, Any]:
            return {"id": ch.item.id, "title": ch.item.title, "url": ch.item.url, "source": ch.item.source_id,
                    "why": ch.reason}

        return {"ok": True, "topic": topic, "rules": draft_cfg.rulebook.version, "scanned": bt.scanned,
                "live": bt.live, "draft": bt.draft, "gained": [change(c) for c in bt.gained[:100]],
                "lost": [change(c) for c in bt.lost[:100]], "n_gained": len(bt.gained), "n_lost": len(bt.lost),
                "cases": sc.cases, "scores_live": counts(sc.live), "scores_draft": counts(sc.draft),
                "mistakes": [{"case": m.case.id, "kind": m.kind, "title": m.case.title, "why": m.reason,
                              "note": m.case.note} for m in sc.mistakes[:100]],
                "notes": notes}

    async def rules(request: Request) -> Response:
        need(request, "operator")
        cfg = state.current()
        topic = request.query_params.get("topic") or (cfg.settings.topics[0].id if cfg.settings.topics else "")
        text = await run_in_threadpool(read_settings_file, cfg.path)
        lists = [x for x in request.query_params.get("lists", "").split(",") if x]
        draft_text = drafts.topic_draft(text, topic, lists) if topic in cfg.topics else ""
        versions = await run_in_threadpool(state.versions.latest, 10)
        result = await run_in_threadpool(preview, draft_text, topic) if topic in cfg.topics else None
        return page(request, "rules.html", topic=topic, draft=draft_text, digest=drafts.digest_of(text),
                    result=result, versions=versions, saved=request.query_params.get("saved"),
                    lists=sorted(cfg.settings.terms), error=None)

    async def rules_post(request: Request) -> Response:
        need(request, "operator")
        form = await form_checked(request)
        topic = str(form.get("topic") or "")
        draft_text = str(form.get("draft") or "")
        action = str(form.get("action") or "preview")
        if request.url.path.endswith("/preview"):
            result = await run_in_threadpool(preview, draft_text, topic)
            if "application/json" in request.headers.get("accept", ""):
                return JSONResponse(result)
            # the page's script swaps this fragment in (rendered, so escaped, here)
            return templates.TemplateResponse(request, "rules_result.html", {"result": result})
        cfg = state.current()
        error = None
        if action == "save":
            def do_save() -> drafts.Saved:
                draft_cfg = drafts.parse_draft(cfg, draft_text, topic)   # the draft alone first: its own lines
                if topic not in draft_cfg.topics:
                    raise ConfigError([])
                saved = drafts.save(cfg.path, str(form.get("digest") or ""), draft_text, environ)
                now = datetime.now(timezone.utc)
                state.versions.add(cfg.rulebook.version, saved.before, now, "web: before a save")
                state.versions.add(saved.config.rulebook.version, saved.after, now, "web")
                state.checked = 0.0
                state.current()
                return saved

            try:
                saved = await run_in_threadpool(do_save)
                log.info("web: topic %s saved into %s (rules %s)", topic, cfg.path, saved.config.rulebook.version)
                return RedirectResponse(f"/rules?topic={topic}&saved={saved.config.rulebook.version}", status_code=303)
            except ConfigError as exc:
                error = "Not saved: " + ("; ".join(str(p) for p in exc.problems) or f"the draft has no topic {topic}")
            except drafts.StaleFile as exc:
                error = f"Not saved: {exc}"
        text = await run_in_threadpool(read_settings_file, cfg.path)
        result = await run_in_threadpool(preview, draft_text, topic)
        versions = await run_in_threadpool(state.versions.latest, 10)
        return page(request, "rules.html", status=400 if error else 200, topic=topic, draft=draft_text,
                    digest=str(form.get("digest") or drafts.digest_of(text)), result=result, versions=versions,
                    saved=None, lists=sorted(cfg.settings.terms), error=error)

    async def term_list(request: Request) -> Response:
        need(request, "operator")
        text = await run_in_threadpool(read_settings_file, state.current().path)
        got = drafts.term_list(text, request.path_params["name"])
        if got is None:
            return Response("no such term list\n", status_code=404, media_type="text/plain")
        return Response(got, media_type="text/plain; charset=utf-8")

    async def sources(request: Request) -> Response:
        need(request, "operator")
        rows = await run_in_threadpool(lambda: cycle.health(state.rt, datetime.now(timezone.utc), days=30))
        return page(request, "sources.html", rows=rows, probe=None, probe_url="", probe_error=None)

    async def probe(request: Request) -> Response:
        need(request, "operator")
        form = await form_checked(request)
        url = str(form.get("url") or "").strip()
        cfg = state.current()
        from newswatch.spiders.probe import ProbeError, fetch
        from newswatch.spiders.probe import probe as read_page

        # the crawl's own policy: private and loopback addresses only where a source is
        # configured (or crawl.allow_private says so), the same at every redirect
        configured = [u for s in cfg.settings.sources for u in s.configured_urls()]
        result, error = None, None
        try:
            body, ctype, final = await run_in_threadpool(
                fetch, url[:2048], cfg.settings.crawl.user_agent, cfg.settings.crawl.timeout.total_seconds(),
                cfg.settings.crawl.allow_private, configured)
            result = await run_in_threadpool(read_page, body, final, ctype)
        except ProbeError as exc:
            error = str(exc)
        except Exception as exc:   # noqa: BLE001 - any failure is the operator's answer
            error = f"{type(exc).__name__}: {exc}"
        rows = await run_in_threadpool(lambda: cycle.health(state.rt, datetime.now(timezone.utc), days=30))
        return page(request, "sources.html", rows=rows, probe=result, probe_url=url, probe_error=error)

    async def home(request: Request) -> Response:
        if role(request) is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse("/archive", status_code=303)

    routes = [
        Route("/", home),
        Route("/archive", archive),
        Route("/export.{fmt:str}", export),
        Route("/item/{item_id:int}", item_page),
        Route("/f/{token:str}", verdict, methods=["GET", "POST"]),
        Route("/missed/{token:str}", missed, methods=["GET", "POST"]),
        Route("/me/{token:str}", me),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/rules", rules),
        Route("/rules", rules_post, methods=["POST"]),
        Route("/rules/preview", rules_post, methods=["POST"]),
        Route("/rules/terms/{name:str}", term_list),
        Route("/sources", sources),
        Route("/sources/probe", probe, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    async def forbidden(request: Request, exc: Exception) -> Response:
        if str(exc) == "csrf":
            return message(request, "Refused", "This form did not carry its security token (it may have expired "
                           "or come from another site). Reload the page and try again.", 403)
        if role(request) is None and request.method == "GET":
            return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", status_code=303)
        return message(request, "Not allowed", "This page is for operators. Sign in as an operator.", 403)

    web = cfg.settings.web
    middleware = [
        Middleware(SessionMiddleware, secret_key=cfg.web_secret, session_cookie="newswatch_session",
                   max_age=12 * 3600, same_site="lax", https_only=bool(web.base_url and web.base_url.startswith("https"))),
    ]
    app = Starlette(routes=routes, middleware=middleware + [Middleware(SecurityHeaders)],
                    exception_handlers={Forbidden: forbidden})
    app.state.workbench = state
    return app
