"""The identity service's own revocation feed: read straight from its database, no HTTP to itself.

Its verifier (callers of /v3/auth/tokens, the token method) checks tokens
against this feed. It is polled every second, so other identity processes
sharing the database see an event within about a second; a handler that has
just committed a revocation calls ``refresh()`` so its own process sees it
at once. The polling thread also purges expired events now and then.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from cells.db.engine import Database
from identity import revocation
from identity.revocation_feed import RevocationFeed

LOG = logging.getLogger(__name__)

LOCAL_POLL = 1.0
PURGE_INTERVAL = 600.0
FETCH_LIMIT = 100_000


class DatabaseRevocations(RevocationFeed):
    """Events of this identity service, from its database; ``refresh()`` after committing one."""

    source = "the identity database"

    def __init__(self, name: str, db: Database, interval: float = LOCAL_POLL, *,
                 purge_interval: float = PURGE_INTERVAL, **kwargs: Any) -> None:
        super().__init__(name, interval, **kwargs)
        self.db = db
        self.purge_interval = purge_interval
        self._purged_at = float("-inf")

    def _fetch(self, since: float | None) -> tuple[list[dict[str, Any]], bool]:
        # Stored times are naive UTC.
        when = None if since is None else dt.datetime.fromtimestamp(since, dt.UTC).replace(tzinfo=None)
        events = self.db.transaction(lambda session: revocation.events_since(session, when, FETCH_LIMIT))
        return events, len(events) < FETCH_LIMIT

    def poll(self) -> None:
        """Refresh; and, every ``purge_interval`` seconds, delete events no live token can match."""
        self.refresh()
        now = time.monotonic()
        if now - self._purged_at < self.purge_interval:
            return
        self._purged_at = now
        try:
            purged = self.db.transaction(revocation.purge)
        except SQLAlchemyError as exc:
            LOG.warning("cannot purge expired revocation events (%s)", type(exc).__name__)
            return
        if purged:
            LOG.info("purged %d expired revocation events", purged)
