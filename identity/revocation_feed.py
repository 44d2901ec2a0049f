"""Keeping a verifier's revocation events fresh: one feed per token issuer, polled by a daemon thread.

A feed holds the issuer's events in a RevocationList and refreshes it every
``interval`` seconds, asking only for events revoked since the newest one it
holds (minus ``overlap``, for transactions that committed late and for
clocks of several identity processes that disagree); events are
deduplicated by id. Every ``resync_interval`` it fetches the whole live list
instead and keeps only that: events the issuer has purged (their tokens have
all expired) are dropped, and anything a poll missed is healed. A fetch that
fails keeps the events already held, so tokens are still checked against
them; the failure is logged (at most once a minute while it lasts).

Client side: imported by identity.middleware, so it needs no database.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

import requests

from cells.config import CellConfig, TrustedIssuer
from identity.revocation_list import Event, RevocationList, TokenFacts, parse_time

LOG = logging.getLogger(__name__)

EVENTS_PATH = "/v3/OS-REVOKE/events"
# JWKS paths an identity service serves; a trusted issuer's identity URL is its jwks_url without them.
_JWKS_SUFFIXES = ("/v3/OS-JWKS", "/.well-known/jwks.json")
OVERLAP = 60.0
RESYNC_INTERVAL = 300.0
WARN_EVERY = 60.0


# Feeds whose polling thread runs, so a process winding down can stop them all.
_RUNNING: weakref.WeakSet[RevocationFeed] = weakref.WeakSet()


def stop_all() -> None:
    """Stop every feed's polling thread (after its current poll)."""
    for feed in list(_RUNNING):
        feed.stop()


class FeedError(Exception):
    """A fetch failed; the message is safe to log (no URLs with credentials, no bodies)."""


def iso(epoch: float) -> str:
    """The wire form of a time: ISO 8601 UTC with microseconds and a Z."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RevocationFeed:
    """One issuer's revocation events, kept fresh; subclasses say where they come from (``_fetch``).

    ``list`` is replaced (never mutated) on a full resync, with a higher
    generation, so a cached check compares ``feed.list.generation``.
    """

    source = "?"  # where events come from, for logs

    def __init__(self, name: str, interval: float, *, overlap: float = OVERLAP,
                 resync_interval: float = RESYNC_INTERVAL) -> None:
        self.name = name
        self.interval = interval
        self.overlap = overlap
        self.resync_interval = resync_interval
        self.list = RevocationList()
        self.last_success: float | None = None  # time.monotonic() of the last good fetch
        self._ids: set[int] = set()  # ids of the events in ``list``
        self._cursor: float | None = None  # newest revoked_at seen, on the issuer's clock
        self._resync_due = float("-inf")
        self._fetch_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing_since: float | None = None
        self._warned_at = float("-inf")

    def __len__(self) -> int:
        return len(self.list)

    def is_revoked(self, token: TokenFacts) -> bool:
        return self.list.is_revoked(token)

    def start(self) -> None:
        """Start the polling thread unless it runs already.

        The very first start fetches the events once in the caller's thread
        (others starting meanwhile wait for it): a token checked against a
        list that was never loaded would pass however revoked it is. A
        failed fetch is logged, and the thread keeps trying.
        """
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                delay = 0.0
                if self.last_success is None and self.refresh():
                    delay = self.interval  # just fetched: the thread's first poll can wait its turn
                thread = threading.Thread(target=_poll_loop, args=(weakref.ref(self), self._stop, delay),
                                          name=f"revocations-{self.name}", daemon=True)
                thread.start()
                self._thread = thread
                _RUNNING.add(self)

    def stop(self) -> None:
        """Stop the polling thread after its current poll; ``start()`` may start a new one later."""
        with self._start_lock:
            self._stop.set()  # the running thread holds this event and ends on it
            self._stop = threading.Event()
            self._thread = None
            _RUNNING.discard(self)

    def poll(self) -> None:
        """One round of the polling thread."""
        self.refresh()

    def refresh(self) -> bool:
        """Fetch new events now (after any fetch in progress); returns False if it failed (logged)."""
        with self._fetch_lock:
            started = time.monotonic()
            full = self._cursor is None or started >= self._resync_due
            since = None if full or self._cursor is None else self._cursor - self.overlap
            try:
                bodies, complete = self._fetch(since)
            except Exception as exc:  # whatever broke, the known events stay in force
                self._failed(exc)
                return False
            self._apply(bodies, replace=full and complete)
            if full:
                self._resync_due = started + self.resync_interval
            self._succeeded()
            return True

    def _fetch(self, since: float | None) -> tuple[list[dict[str, Any]], bool]:
        """Return the events revoked at or after ``since`` (all live ones if None) and whether that is all."""
        raise NotImplementedError

    def _apply(self, bodies: Iterable[dict[str, Any]], *, replace: bool) -> None:
        events: list[Event] = []
        newest = self._cursor
        for body in bodies:
            try:
                event = Event.from_wire(body)
                revoked_at = parse_time(body["revoked_at"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                LOG.warning("%s: skipping a malformed revocation event from %s (%s)",
                            self.name, self.source, type(exc).__name__)
                continue
            events.append(event)
            newest = revoked_at if newest is None else max(newest, revoked_at)
        self._cursor = newest
        if replace:
            ids = {e.id for e in events}
            if ids != self._ids:
                fresh = RevocationList()
                fresh.add(events)
                fresh.generation = self.list.generation + 1  # cached checks must look again
                self.list, self._ids = fresh, ids
            return
        new = [e for e in events if e.id not in self._ids]
        if new:
            self.list.add(new)
            self._ids.update(e.id for e in new)

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            reason = str(exc) if isinstance(exc, FeedError) else type(exc).__name__
            LOG.warning("cannot fetch revocation events of %s from %s (%s) for %.0f s; "
                        "tokens are still checked against the %d events known",
                        self.name, self.source, reason, now - self._failing_since, len(self.list))

    def _succeeded(self) -> None:
        now = time.monotonic()
        if self._failing_since is not None:
            LOG.info("revocation events of %s fetched from %s again after %.0f s",
                     self.name, self.source, now - self._failing_since)
            self._failing_since = None
            self._warned_at = float("-inf")
        self.last_success = now


def _poll_loop(ref: weakref.ref[RevocationFeed], stop: threading.Event, delay: float = 0.0) -> None:
    # Holds the feed only weakly between polls: a feed nobody uses any more ends its thread.
    if delay:
        stop.wait(delay)
    while not stop.is_set():
        feed = ref()
        if feed is None:
            return
        interval = feed.interval
        try:
            feed.poll()
        except Exception:  # the thread must outlive any single bad poll
            LOG.exception("revocation poll of %s failed", feed.name)
        del feed
        stop.wait(interval)


class HttpRevocationFeed(RevocationFeed):
    """Events fetched from ``<identity_url>/v3/OS-REVOKE/events`` (public, no token needed)."""

    def __init__(self, name: str, identity_url: str, interval: float, *, timeout: float = 5.0,
                 max_pages: int = 100, session: requests.Session | None = None, **kwargs: Any) -> None:
        super().__init__(name, interval, **kwargs)
        self.url = identity_url.rstrip("/") + EVENTS_PATH
        self.source = self.url
        self.timeout = timeout
        self.max_pages = max_pages
        self._session = session or requests.Session()

    def _fetch(self, since: float | None) -> tuple[list[dict[str, Any]], bool]:
        events: list[dict[str, Any]] = []
        since_text = None if since is None else iso(since)
        for _ in range(self.max_pages):
            page, more = self._page(since_text)
            events.extend(page)
            if not more or not page:
                return events, True
            # The next page starts at the last event's own time (inclusive; duplicates are dropped by id).
            last = page[-1].get("revoked_at") if isinstance(page[-1], dict) else None
            if not isinstance(last, str) or last == since_text:
                return events, False
            since_text = last
        return events, False

    def _page(self, since: str | None) -> tuple[list[dict[str, Any]], bool]:
        try:
            response = self._session.get(self.url, params={"since": since} if since else None,
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise FeedError(type(exc).__name__) from exc
        if response.status_code != 200:
            raise FeedError(f"HTTP {response.status_code}")
        try:
            body = response.json()
            events, links = body["events"], body.get("links") or {}
            more = bool(links.get("next"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise FeedError("malformed response") from exc
        if not isinstance(events, list):
            raise FeedError("malformed response")
        return [e for e in events if isinstance(e, dict)], more


def identity_url_of(jwks_url: str) -> str | None:
    """The identity service URL behind a JWKS URL, or None if it is not one of ours."""
    url = jwks_url.rstrip("/")
    for suffix in _JWKS_SUFFIXES:
        if url.endswith(suffix):
            return url[: -len(suffix)] or None
    return None


def default_feeds(conf: CellConfig, trusted: Iterable[TrustedIssuer]) -> dict[str, RevocationFeed]:
    """HTTP feeds for the cell's own issuer (``auth.identity_url``) and each trusted issuer.

    An issuer whose JWKS URL does not end in /v3/OS-JWKS (or /.well-known/jwks.json) gets none.
    """
    feeds: dict[str, RevocationFeed] = {}
    if conf.identity_url:
        feeds[conf.path] = HttpRevocationFeed(conf.path, conf.identity_url, conf.revocation_poll)
    for entry in trusted:
        base = identity_url_of(entry.jwks_url)
        if base is not None and entry.issuer not in feeds:
            feeds[entry.issuer] = HttpRevocationFeed(entry.issuer, base, conf.revocation_poll)
    return feeds


class RevocationCheck:
    """A verified token's revocation status, re-checked only when its feed's events have changed."""

    __slots__ = ("feed", "facts", "generation")

    def __init__(self, feed: RevocationFeed, facts: TokenFacts) -> None:
        self.feed = feed
        self.facts = facts
        self.generation = -1  # never checked

    def revoked(self) -> bool:
        """True if an event revokes the token; otherwise remembers the generation checked against."""
        events = self.feed.list
        generation = events.generation  # read first: an event added meanwhile forces another check
        if events.is_revoked(self.facts):
            return True
        self.generation = generation
        return False
