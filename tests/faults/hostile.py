"""A hostile web server on 127.0.0.1 for the fault tests: it hangs, loops, floods,
throttles, speaks TLS with a self-signed certificate, and serves junk."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BOMB = ('<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n'
        + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
        + ']>\n<rss version="2.0"><channel><title>t</title>'
          '<item><title>Belarus and Iran &lol9;</title><link>{base}/bomb/1</link><guid>b1</guid></item>'
          '<item><title>Belarus and Iran plain</title><link>{base}/bomb/2</link><guid>b2</guid></item>'
          '</channel></rss>')
XXE = ('<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
       '<!ENTITY xxe2 SYSTEM "http://127.0.0.1:9/steal">]>\n'
       '<rss version="2.0"><channel><title>t</title>'
       '<item><title>Belarus and Iran &xxe; &xxe2;</title><link>{base}/xxe/1</link><guid>x1</guid>'
       '<description>The two entities above must stay unexpanded.</description></item></channel></rss>')


DEEP = "<html><body>" + "<div>" * 100_000 + '<a href="/x">A link deep down in the page</a>' + "</div>" * 100_000 + "</body></html>"
NEXT_FILE = """<html><body><div class="item"><a href="/news/1">Belarus and Iran sign a roadmap today</a></div>
<div class="item"><a href="/news/2">Belarus and Iran open a trade house in Minsk</a></div>
<a class="next" href="file:///etc/passwd">next</a></body></html>"""


class Hostile:
    """Routes: /hang, /huge (500 MB), /loop/a, /junk, /throttle (429 then 200), /bomb, /xxe,
    /deep (100,000 nested elements), /next-file (a listing whose next page is a local file),
    /redirect?to=URL."""

    def __init__(self, huge_bytes: int = 500 * 1024 * 1024, tls: bool = False):
        self.huge_bytes = huge_bytes
        self.hits: dict[str, int] = {}
        self.huge_sent = 0
        self._stop = threading.Event()
        me = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, status, body=b"", ctype="text/plain", headers=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?")[0]
                me.hits[path] = me.hits.get(path, 0) + 1
                base = me.base.encode()
                try:
                    if path == "/hang":                     # headers, half a body, then silence
                        self.send_response(200)
                        self.send_header("Content-Type", "application/rss+xml")
                        self.send_header("Content-Length", "100000")
                        self.end_headers()
                        self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>Bel')
                        self.wfile.flush()
                        me._stop.wait(120)
                    elif path == "/huge":                   # 500 MB, streamed, never in memory here
                        self.send_response(200)
                        self.send_header("Content-Type", "application/rss+xml")
                        self.send_header("Content-Length", str(me.huge_bytes))
                        self.end_headers()
                        chunk = b"<item><title>Belarus</title></item>" * 2000
                        sent = 0
                        while sent < me.huge_bytes and not me._stop.is_set():
                            part = chunk[: me.huge_bytes - sent]
                            self.wfile.write(part)
                            sent += len(part)
                            me.huge_sent = sent
                    elif path.startswith("/loop/"):
                        nxt = "/loop/b" if path == "/loop/a" else "/loop/a"
                        self.send(302, headers={"Location": nxt})
                    elif path == "/junk":
                        self.send(200, os.urandom(50_000), "application/rss+xml")
                    elif path == "/throttle":
                        if me.hits[path] == 1:
                            self.send(429, b"slow down", headers={"Retry-After": "1"})
                        else:
                            self.send(200, (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                                            b'<item><title>Belarus and Iran after throttling</title>'
                                            b"<link>" + base + b"/t/1</link><guid>t1</guid></item></channel></rss>"),
                                      "application/rss+xml")
                    elif path == "/bomb":
                        self.send(200, BOMB.replace("{base}", me.base).encode(), "application/rss+xml")
                    elif path == "/xxe":
                        self.send(200, XXE.replace("{base}", me.base).encode(), "application/rss+xml")
                    elif path == "/deep":
                        self.send(200, DEEP.encode(), "text/html; charset=utf-8")
                    elif path == "/next-file":
                        self.send(200, NEXT_FILE.encode(), "text/html; charset=utf-8")
                    elif path.startswith("/news/"):
                        self.send(200, b"<html><body><h1>Belarus and Iran</h1><p>Belarus and Iran met in Minsk.</p>"
                                       b"</body></html>", "text/html; charset=utf-8")
                    elif path == "/redirect":
                        target = self.path.split("to=", 1)[1]
                        self.send(302, headers={"Location": target})
                    else:
                        self.send(404, b"not found")
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # clients that give up on a hostile answer reset the connection: expected here
                if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ssl.SSLError)):
                    super().handle_error(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls:
            cert, key = self_signed(Path(os.environ.get("TMPDIR", "/tmp")))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def self_signed(folder: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    stamp = f"{os.getpid()}-{time.monotonic_ns()}"
    cert_path, key_path = folder / f"hostile-{stamp}.crt", folder / f"hostile-{stamp}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)
