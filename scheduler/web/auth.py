"""Who may do what in the workbench, and the checks every form passes.

- Operators sign in with a password: a PBKDF2 hash in ``web.password_hash`` (made by
  ``newswatch web --hash-password``) or the plain password in the environment variable
  ``web.password_env`` names. The session is a signed cookie (Starlette's session
  middleware, keyed with the same secret that signs digest links).
- Analysts arrive through the signed link to their subscription page in each digest; it
  opens a session in which they see the archive and their own page.
- Every form carries the session's CSRF token; a POST without it is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Optional

ITERATIONS = 600_000


def hash_password(password: str, iterations: int = ITERATIONS, salt: Optional[bytes] = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return "pbkdf2_sha256${}${}${}".format(iterations, base64.b64encode(salt).decode("ascii"),
                                           base64.b64encode(digest).decode("ascii"))


def check_password(password: str, stored_hash: Optional[str], plain: Optional[str]) -> bool:
    """True when ``password`` is the operators' password (hash first, then the plain one)."""
    if stored_hash:
        try:
            scheme, iterations, salt, digest = stored_hash.split("$")
            if scheme != "pbkdf2_sha256":
                return False
            got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations))
            return hmac.compare_digest(got, base64.b64decode(digest))
        except (ValueError, TypeError):
            return False
    if plain:
        return hmac.compare_digest(password.encode("utf-8"), plain.encode("utf-8"))
    return False


def csrf_token(session: dict) -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


def csrf_ok(session: dict, given: Optional[str]) -> bool:
    want = session.get("csrf")
    return bool(want and given and hmac.compare_digest(str(want).encode(), given.encode()))


class Throttle:
    """At most ``attempts`` failed sign-ins per address in ``window`` seconds."""

    def __init__(self, attempts: int = 5, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.attempts, self.window, self.clock = attempts, window, clock
        self.failures: dict[str, deque[float]] = {}

    def blocked(self, who: str) -> bool:
        q = self.failures.get(who)
        now = self.clock()
        while q and now - q[0] > self.window:
            q.popleft()
        return q is not None and len(q) >= self.attempts

    def failed(self, who: str) -> None:
        if len(self.failures) > 10_000:          # many addresses: forget those that are quiet
            now = self.clock()
            self.failures = {k: q for k, q in self.failures.items() if q and now - q[-1] <= self.window}
        self.failures.setdefault(who, deque()).append(self.clock())
