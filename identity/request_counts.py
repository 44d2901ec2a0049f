"""Requests counted by caller, kept in memory by each HTTP daemon's AuthMiddleware.

A caller is (issuer, user id, user name, project id) of the verified token,
or what a handler names in ``environ["cloud.caller"]`` (identity's login
names the user the body gives); a request with no token counts as
anonymous, one whose token was refused (401) as refused. Counting costs one
dict update under a lock. Distinct callers are capped (``max_callers``): a
flood of made-up user names at the login route cannot grow the table
without bound, the surplus is counted as ``others``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from typing import Any

from cells.context import RequestContext

CALLER_KEY = "cloud.caller"  # environ key where a handler may name the caller itself
REFUSED_KEY = "cloud.refused"  # set by the middleware when it refuses the token sent
ANONYMOUS = "anonymous"
REFUSED = "refused"
OTHERS = "others"
MAX_CALLERS = 10000
FIELDS = ("issuer", "user_id", "user_name", "project_id")

Caller = tuple[str | None, str | None, str | None, str | None] | str


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def caller_of(environ: Mapping[str, Any]) -> Caller:
    """The caller a finished request is counted under (see the module's docstring)."""
    named = environ.get(CALLER_KEY)
    if isinstance(named, Mapping):
        return (_text(named.get("issuer")), _text(named.get("user_id")), _text(named.get("user_name")),
                _text(named.get("project_id")))
    ctx = environ.get("cloud.context")
    if isinstance(ctx, RequestContext):
        return ctx.issuer, ctx.user_id, ctx.user_name, ctx.project_id
    return REFUSED if environ.get(REFUSED_KEY) else ANONYMOUS


class RequestCounts:
    """Thread-safe counters of one daemon's requests by caller, since the daemon started."""

    def __init__(self, service: str, max_callers: int = MAX_CALLERS) -> None:
        self.service = service
        self.max_callers = max_callers
        self.since = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._counts: dict[Caller, int] = {ANONYMOUS: 0, REFUSED: 0, OTHERS: 0}
        self._lock = threading.Lock()

    def count(self, caller: Caller) -> None:
        """Count one request of ``caller``."""
        with self._lock:
            seen = self._counts.get(caller)
            if seen is not None:
                self._counts[caller] = seen + 1
            elif len(self._counts) - 3 < self.max_callers:
                self._counts[caller] = 1
            else:
                self._counts[OTHERS] += 1

    def snapshot(self) -> dict[str, Any]:
        """The GET /request-counts document: callers by requests (most first), anonymous, refused."""
        with self._lock:
            counts = dict(self._counts)
        callers: list[dict[str, Any]] = [{**dict(zip(FIELDS, key, strict=True)), "requests": n}
                   for key, n in counts.items() if isinstance(key, tuple)]
        callers.sort(key=lambda c: (-c["requests"], *(str(c[f] or "") for f in FIELDS)))
        return {"service": self.service, "since": self.since, "callers": callers,
                "anonymous": counts[ANONYMOUS], "refused": counts[REFUSED], "others": counts[OTHERS]}


def login_caller(issuer: str, auth: Mapping[str, Any]) -> dict[str, str | None] | None:
    """The caller a login body names: the password or application credential's user, and the project.

    Returns None when the body names no user (a token login names it only once it succeeds).
    """
    ident = auth.get("identity") or {}
    user = (ident.get("password") or {}).get("user") or \
        (ident.get("application_credential") or {}).get("user") or {}
    if not user.get("id") and not user.get("name"):
        return None
    scope = auth.get("scope")
    project = (scope.get("project") or {}) if isinstance(scope, Mapping) else {}
    return {"issuer": issuer, "user_id": user.get("id"), "user_name": user.get("name"),
            "project_id": project.get("id")}
