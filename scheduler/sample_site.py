"""A small static web server on 127.0.0.1 for the demo and the tests.

A site is a folder with ``routes.json``: ``{"/path?query": {"file": "x.xml",
"content_type": "...", "status": 200, "headers": {...}}}``. ``{{base}}`` in the files is
replaced by the server's own address, so recorded pages link to the local copy. Every
response carries an ETag and Last-Modified, and a conditional request is answered 304.
A path can be given several answers in turn (``add(..., then=True)``): each request takes
the next one, and the last one stays.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional


class Route:
    def __init__(self, body: bytes, content_type: str, status: int = 200, headers: Optional[dict] = None,
                 delay: float = 0.0):
        self.body = body
        self.delay = delay
        self.content_type = content_type
        self.status = status
        self.headers = headers or {}
        self.etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        self.last_modified = formatdate(usegmt=True)


class SiteServer:
    """Serve routes on 127.0.0.1:<free port>; use as a context manager or start()/stop()."""

    def __init__(self, routes: Optional[dict[str, Route]] = None, host: str = "127.0.0.1", port: int = 0):
        self.routes: dict[str, Route] = dict(routes or {})
        self.queued: dict[str, list[Route]] = {}
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "headers": dict(self.headers), "at": time.monotonic()})
                route = server.routes.get(self.path)
                queue = server.queued.get(self.path)
                if queue:                              # the next request gets the next answer
                    server.routes[self.path] = queue.pop(0)
                if route is None and "?" not in self.path and not self.path.endswith("/"):
                    route = server.routes.get(self.path + "/")
                if route is None:
                    self._send(404, "text/plain", b"not found", {})
                    return
                inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
                # If-None-Match, when sent, decides alone (RFC 9110 13.2.2)
                fresh = (inm == route.etag) if inm else (ims is not None and ims == route.last_modified)
                if route.status == 200 and fresh:
                    self._send(304, None, b"", {"ETag": route.etag})
                    return
                if route.delay:
                    time.sleep(route.delay)          # a slow or hanging site
                extra = {"ETag": route.etag, "Last-Modified": route.last_modified}
                extra.update(route.headers)
                self._send(route.status, route.content_type, route.body, extra)

            def _send(self, status, ctype, body, headers):
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256      # many crawler connections at once (benchmarks)
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                # a client that gives up on a kept-alive connection resets it: not an error
                if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self.httpd = Server((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, body: bytes | str, content_type: str = "text/html; charset=utf-8",
            status: int = 200, headers: Optional[dict] = None, delay: float = 0.0, then: bool = False) -> None:
        """Serve ``body`` at ``path``; with ``then``, after the answers already queued there."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        body = body.replace(b"{{base}}", self.base.encode("ascii"))
        route = Route(body, content_type, status, headers, delay)
        if then:
            self.queued.setdefault(path, []).append(route)
        else:
            self.routes[path] = route
            self.queued.pop(path, None)

    def add_folder(self, folder: str | Path, prefix: str = "", routes: str = "routes.json") -> None:
        """Add a fixture folder described by its routes.json (or another routes file)."""
        folder = Path(folder)
        spec = json.loads((folder / routes).read_text(encoding="utf-8"))
        for path, r in spec.items():
            body = (folder / r["file"]).read_bytes() if r.get("file") else r.get("body", "").encode("utf-8")
            self.add(prefix + path, body, r.get("content_type", "text/html; charset=utf-8"),
                     int(r.get("status", 200)), r.get("headers"))

    def start(self) -> SiteServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
