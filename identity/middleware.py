"""The client side of identity: offline token verification and the WSGI middleware.

Other daemons import this module (with identity.key_sources and
identity.service_token). A token is verified without calling
the identity service: its EdDSA signature against the issuer's published
keys (JWKS, fetched and cached), its expiry, its audience (this cell's path)
and its issuer (this cell, or one of ``auth.trusted_issuers`` holding one of
the roles that issuer is trusted for, and keeping only those). Verified tokens are cached by hash
until they expire, so a request with a known token costs one hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map
from werkzeug.routing.exceptions import RoutingException
from werkzeug.wsgi import get_path_info

from cells.config import CellConfig
from cells.context import RequestContext
from cells.exception import ConfigError, Unauthorized
from identity import jws
from identity.key_sources import JWKS_PATH, JwksKeySource, KeySource
from identity.policy import Enforcer
from identity.policy import enforcer as load_enforcer
from identity.request_counts import REFUSED_KEY, RequestCounts, caller_of
from identity.revocation_feed import RevocationCheck, RevocationFeed, default_feeds
from identity.revocation_list import TokenFacts

LOG = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
MAX_TOKEN_BYTES = 8192
CLOCK_LEEWAY = 10  # seconds of clock skew tolerated between cells
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti")
REVOKED = "The token has been revoked."
COUNTS_PATH = "/request-counts"
# The daemon serving each policy table: how a daemon names itself in its /request-counts answer.
DAEMONS = {"compute": "cloud-api", "compute_cell": "cloud-api", "image": "cloud-images",
           "identity": "cloud-identity"}


# --- verification ----------------------------------------------------------------


@dataclass(frozen=True)
class _Verified:
    """What a verified token says; immutable, so one cached entry serves every request."""

    user_id: str
    user_name: str | None
    project_id: str | None
    project_name: str | None
    domain_id: str | None
    roles: tuple[str, ...]
    audit_ids: tuple[str, ...]
    expires: float
    issuer: str | None = None
    # Its revocation status (mutable, re-checked when the issuer's events change); None: no feed.
    check: RevocationCheck | None = field(default=None, compare=False)
    # The key that signed it, and where that key is published: once retired, the token is refused.
    kid: str | None = field(default=None, compare=False)
    key_source: KeySource | None = field(default=None, compare=False)

    def context(self, cell_path: str) -> RequestContext:
        return RequestContext(user_id=self.user_id, user_name=self.user_name,
                              project_id=self.project_id, project_name=self.project_name,
                              domain_id=self.domain_id, roles=list(self.roles),
                              audit_ids=list(self.audit_ids), cell_path=cell_path,
                              issuer=self.issuer)


class _LruCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[bytes, _Verified] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes, now: float) -> _Verified | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry.expires <= now:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return entry

    def put(self, key: bytes, entry: _Verified) -> None:
        with self._lock:
            self._data[key] = entry
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def pop(self, key: bytes) -> None:
        with self._lock:
            self._data.pop(key, None)


def _strings(value: Any, claim: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Unauthorized(f"The token is malformed: claim '{claim}' is not a list of strings.")
    return tuple(value)


def _optional_str(claims: dict[str, Any], claim: str) -> str | None:
    value = claims.get(claim)
    if value is not None and not isinstance(value, str):
        raise Unauthorized(f"The token is malformed: claim '{claim}' is not a string.")
    return value


class TokenVerifier:
    """Verifies tokens offline and returns the caller's RequestContext.

    Tokens are also checked against their issuer's revocation events, polled
    in the background (``revocations``: a feed per issuer; by default HTTP
    feeds from ``auth.identity_url`` and the trusted issuers' JWKS URLs).
    """

    def __init__(self, conf: CellConfig, key_source: KeySource | None = None, *,
                 service: str | None = None, cache_size: int = 4096,
                 revocations: Mapping[str, RevocationFeed] | None = None) -> None:
        self.conf = conf
        trusted = [t for t in conf.trusted_issuers if t.issuer != conf.path
                   and (not t.services or service in t.services)]
        self._roles = {t.issuer: frozenset(t.roles) for t in trusted}
        self._sources: dict[str, KeySource] = {}
        if key_source is not None:
            self._sources = {issuer: key_source for issuer in (conf.path, *self._roles)}
        else:
            # One source per issuer: a trusted issuer's key can never vouch for another issuer.
            if conf.identity_url:
                self._sources[conf.path] = JwksKeySource(
                    [conf.identity_url.rstrip("/") + JWKS_PATH], conf.jwks_refresh)
            for entry in trusted:
                self._sources[entry.issuer] = JwksKeySource([entry.jwks_url], conf.jwks_refresh)
            if not self._sources:
                raise ConfigError("auth.identity_url (or auth.trusted_issuers) is required to verify tokens")
        self._cache = _LruCache(cache_size)
        self._feeds = dict(revocations) if revocations is not None else default_feeds(conf, trusted)
        self._unfed: set[str] = set()  # issuers without a revocation feed, warned about once

    def verify(self, token: str) -> RequestContext:
        """Return the context the token vouches for; raises Unauthorized saying why it is refused."""
        if not isinstance(token, str) or not token:
            raise Unauthorized("The request you have made requires authentication.")
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthorized(f"The token is larger than {MAX_TOKEN_BYTES} bytes.")
        key = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        entry = self._cache.get(key, time.time())
        if entry is None:
            entry = self._verify(token)
            self._cache.put(key, entry)
        else:
            check = entry.check
            # A cached token is looked at again only when its issuer's events have changed.
            if check is not None and check.generation != check.feed.list.generation and check.revoked():
                self._cache.pop(key)
                raise Unauthorized(REVOKED)
            if entry.key_source is not None and entry.key_source.get(entry.kid or "") is None:
                self._cache.pop(key)
                raise Unauthorized(f"The token is signed with a retired key {entry.kid!r}.")
        return entry.context(self.conf.path)

    def _verify(self, token: str) -> _Verified:
        try:
            parsed = jws.parse(token)
            kid = jws.check_header(parsed.header)
        except jws.JwsError as exc:
            raise Unauthorized(exc.message) from exc
        issuer = parsed.claims.get("iss")
        if not isinstance(issuer, str) or issuer not in self._sources:
            raise Unauthorized(f"The token's issuer {issuer!r} is not trusted by cell {self.conf.path}.")
        source = self._sources[issuer]
        public = source.get(kid)
        if public is None:
            source.refresh()
            public = source.get(kid)
        if public is None:
            raise Unauthorized(f"The token is signed with an unknown key {kid!r}.")
        # A trusted issuer's tokens may be meant for this cell or for the
        # issuer's own cell (a cell's service account reading the master).
        audience = [self.conf.path] if issuer == self.conf.path else [self.conf.path, issuer]
        try:
            jws.verify_signature(parsed, public)
            jws.check_claims(parsed.claims, issuer=issuer, audiences=audience, required=REQUIRED_CLAIMS,
                             leeway=CLOCK_LEEWAY)
        except jws.JwsError as exc:
            if exc.kind == "audience":
                raise Unauthorized(f"The token is not meant for cell {self.conf.path} (audience).") from exc
            raise Unauthorized(exc.message) from exc
        claims = parsed.claims
        entry = replace(self._entry(issuer, claims), kid=kid, key_source=source)
        return self._checked(issuer, claims, entry)

    def _entry(self, issuer: str, claims: dict[str, Any]) -> _Verified:
        roles = _strings(claims.get("roles"), "roles")
        required = self._roles.get(issuer)
        if required:
            if not required.intersection(roles):
                raise Unauthorized(f"Tokens of issuer {issuer!r} are accepted by cell {self.conf.path} "
                                   f"only with one of the roles {', '.join(sorted(required))}.")
            # The issuer is trusted for these roles only: any other role in its tokens (an admin it
            # made, or forged with its key) means nothing here.
            roles = tuple(role for role in roles if role in required)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthorized("The token is malformed: claim 'sub' is not a string.")
        return _Verified(user_id=sub, user_name=_optional_str(claims, "name"),
                         project_id=_optional_str(claims, "project_id"),
                         project_name=_optional_str(claims, "project_name"),
                         domain_id=_optional_str(claims, "domain_id"), roles=roles,
                         audit_ids=_strings(claims.get("audit_ids"), "audit_ids"),
                         expires=float(claims["exp"]), issuer=issuer)

    def _checked(self, issuer: str, claims: dict[str, Any], entry: _Verified) -> _Verified:
        """Return ``entry`` with its revocation check; raises Unauthorized if the token is revoked."""
        feed = self._feeds.get(issuer)
        if feed is None:
            if issuer not in self._unfed:
                self._unfed.add(issuer)
                LOG.warning("no revocation events for tokens of %r: revoked ones pass until they expire",
                            issuer)
            return entry
        feed.start()  # lazily; the first poll runs in its own thread
        _optional_str(claims, "app_cred_id")  # events match on it
        check = RevocationCheck(feed, TokenFacts.from_claims(claims))
        if check.revoked():
            raise Unauthorized(REVOKED)
        return replace(entry, check=check)


# --- WSGI middleware ---------------------------------------------------------------


def keystone_error(code: int, message: str) -> dict[str, Any]:
    """The Keystone error body: ``{"error": {"code", "title", "message"}}``."""
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
    return {"error": {"code": code, "title": titles.get(code, "Error"), "message": message}}


class AuthMiddleware:
    """Wraps a WSGI app: verifies X-Auth-Token, sets ``environ["cloud.context"]``, enforces the policy.

    With an ``enforcer`` (or the name of a service's table in the cell's
    policy file, see identity.policy) the table decides: its public routes
    pass without a token (one sent is not even looked at), its other routes
    need a valid token (else 401) whose caller the route's rule allows (else
    403), and a route the app serves but the table lacks is denied. A request
    the app routes nowhere (by ``url_map``) reaches it, so it answers its own
    404 or 405; a token sent with it is verified all the same.

    Without an enforcer, paths in ``public_paths`` pass without a token: an
    entry matches exactly, or, if it ends with '/', as a prefix (except "/"
    itself, which matches only the root). Refusals are built by ``error_body``.

    Every request is counted once it is answered, by caller (identity.request_counts);
    GET /request-counts shows the counts to an admin of this cell's own identity.
    ``daemon`` names the daemon there (default: the one serving the enforcer's table).
    """

    def __init__(self, app: Callable[..., Any], conf: CellConfig, *,
                 verifier: TokenVerifier | None = None, public_paths: tuple[str, ...] = (),
                 error_body: Callable[[int, str], dict[str, Any]] | None = None,
                 service: str | None = None, enforcer: Enforcer | str | None = None,
                 url_map: Map | None = None, daemon: str | None = None) -> None:
        self.app = app
        self.conf = conf
        self.verifier = verifier or TokenVerifier(conf, service=service)
        self._exact = frozenset(public_paths)
        self._prefixes = tuple(p for p in public_paths if p.endswith("/") and p != "/")
        self.error_body = error_body or keystone_error
        uri = f' uri="{conf.identity_url}"' if conf.identity_url else ""
        self._challenge = f"Keystone{uri}"
        self.enforcer = load_enforcer(conf, enforcer) if isinstance(enforcer, str) else enforcer
        self.url_map = url_map
        table = self.enforcer.service if self.enforcer is not None else ""
        self.counts = RequestCounts(daemon or DAEMONS.get(table) or f"cloud-{service or 'unknown'}")

    def _is_public(self, path: str) -> bool:
        return path in self._exact or (bool(self._prefixes) and path.startswith(self._prefixes))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return self._dispatch(environ, start_response)
        finally:
            # Once answered: by then a handler has named its caller, if it does (identity's login).
            self.counts.count(caller_of(environ))

    def _dispatch(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (get_path_info(environ) or "/") == COUNTS_PATH:
            return self._request_counts(environ, start_response)
        if self.enforcer is not None:
            return self._enforce(self.enforcer, environ, start_response)
        if self._is_public(environ.get("PATH_INFO") or "/"):
            return self.app(environ, start_response)
        try:
            self._verify(environ)
        except Unauthorized as exc:
            return self._refuse(start_response, exc.message)
        return self.app(environ, start_response)

    def _verify(self, environ: dict[str, Any]) -> RequestContext:
        token = environ.get("HTTP_X_AUTH_TOKEN")
        if not token:
            raise Unauthorized("The request you have made requires authentication.")
        try:
            ctx = self.verifier.verify(token)
        except Unauthorized:
            environ[REFUSED_KEY] = True
            raise
        environ["cloud.context"] = ctx
        return ctx

    def _request_counts(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """GET /request-counts: only for an admin whose token this cell's own identity issued."""
        method = (environ.get("REQUEST_METHOD") or "GET").upper()
        try:
            ctx = self._verify(environ)
        except Unauthorized as exc:
            return self._refuse(start_response, exc.message)
        if method not in ("GET", "HEAD"):
            return self._answer(start_response, "405 Method Not Allowed", self.error_body(
                405, f"{COUNTS_PATH} answers GET only."), [("Allow", "GET, HEAD")])
        if not (ctx.is_admin and ctx.issuer == self.conf.path):
            return self._forbid(start_response, f"GET {COUNTS_PATH}")
        body = self._answer(start_response, "200 OK", self.counts.snapshot())
        return [] if method == "HEAD" else body

    @staticmethod
    def _answer(start_response: Callable[..., Any], status: str, document: dict[str, Any],
                headers: list[tuple[str, str]] | None = None) -> list[bytes]:
        body = json.dumps(document).encode("utf-8")
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                *(headers or [])])
        return [body]

    def _enforce(self, enforcer: Enforcer, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = (environ.get("REQUEST_METHOD") or "GET").upper()
        path = get_path_info(environ) or "/"
        match = enforcer.match(method, path)
        if match is not None and match.route.public:
            return self.app(environ, start_response)
        served = match.route.key if match is not None else self._served(method, path)
        if served is None and not environ.get("HTTP_X_AUTH_TOKEN"):
            return self.app(environ, start_response)  # no such route: the app's own 404 or 405
        try:
            ctx = self._verify(environ)
        except Unauthorized as exc:
            return self._refuse(start_response, exc.message)
        if served is None:
            return self.app(environ, start_response)
        if match is None:
            enforcer.unlisted(served)
            return self._forbid(start_response, served)
        if not enforcer.allows(match, ctx):
            return self._forbid(start_response, served)
        return self.app(environ, start_response)

    def _served(self, method: str, path: str) -> str | None:
        """'METHOD pattern' of the app's route for a request, None if the app has none (404, 405)."""
        if self.url_map is None:
            return f"{method} {path}"
        try:
            rule, _ = self.url_map.bind("localhost").match(path, method, return_rule=True)
        except (HTTPException, RoutingException):
            return None
        return f"{method} {rule.rule}"

    def _forbid(self, start_response: Callable[..., Any], rule: str) -> list[bytes]:
        message = f"Policy doesn't allow {rule} to be performed."
        return self._answer(start_response, "403 Forbidden", self.error_body(403, message))

    def _refuse(self, start_response: Callable[..., Any], message: str) -> list[bytes]:
        return self._answer(start_response, "401 Unauthorized", self.error_body(401, message),
                            [("WWW-Authenticate", self._challenge)])
