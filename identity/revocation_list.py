"""The verifier's side of revocation: events held in memory, matched against tokens locally.

Events come from the identity service (``GET /v3/OS-REVOKE/events``, see
identity.revocation for their meaning). Each is indexed under every field it
sets, so checking a token costs a handful of dictionary lookups however many
events are held.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# event field -> attribute of TokenFacts it is compared with
_FIELDS = ("audit_id", "audit_chain_id", "user_id", "project_id", "domain_id",
           "application_credential_id")


@dataclass(frozen=True)
class TokenFacts:
    """What revocation looks at in a token."""

    issued_at: float  # epoch seconds, sub-second precision
    audit_id: str | None
    audit_chain_id: str | None
    user_id: str
    project_id: str | None
    domain_ids: tuple[str, ...]  # the user's domain and the scope's domain
    application_credential_id: str | None = None

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> TokenFacts:
        audit_ids = claims.get("audit_ids") or []
        domains = tuple(d for d in (claims.get("domain_id"), claims.get("project_domain_id"),
                                    claims.get("scope_domain_id")) if isinstance(d, str))
        return cls(issued_at=float(claims["iat"]), audit_id=audit_ids[0] if audit_ids else None,
                   audit_chain_id=audit_ids[-1] if audit_ids else None, user_id=claims["sub"],
                   project_id=claims.get("project_id"), domain_ids=domains,
                   application_credential_id=claims.get("app_cred_id"))


@dataclass(frozen=True)
class Event:
    id: int
    fields: tuple[tuple[str, str], ...]
    issued_before: float  # epoch seconds

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> Event:
        """Parse one event of the JSON list; raises ValueError if it is malformed."""
        try:
            fields = tuple((f, str(body[f])) for f in _FIELDS if body.get(f) is not None)
            issued = parse_time(body["issued_before"])
            return cls(id=int(body["id"]), fields=fields, issued_before=issued)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed revocation event: {exc}") from exc

    def matches(self, token: TokenFacts) -> bool:
        if token.issued_at >= self.issued_before:
            return False
        for name, value in self.fields:
            if name == "domain_id":
                if value not in token.domain_ids:
                    return False
            elif getattr(token, name) != value:
                return False
        return True


def parse_time(text: str) -> float:
    """Epoch seconds of an ISO 8601 time; naive times are UTC."""
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()


class RevocationList:
    """Events by id and by every value they match on; thread-safe, cheap to check.

    ``generation`` grows whenever an event is added, so a cache of verified
    tokens can re-check an entry only when something changed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[int, Event] = {}
        self._index: dict[tuple[str, str], list[Event]] = {}
        self.generation = 0

    def __len__(self) -> int:
        return len(self._events)

    def add(self, events: Iterable[Event]) -> int:
        """Add events not yet held; returns how many were new."""
        added = 0
        with self._lock:
            for event in events:
                if event.id in self._events or not event.fields:
                    continue
                self._events[event.id] = event
                for key in event.fields:
                    self._index.setdefault(key, []).append(event)
                added += 1
            if added:
                self.generation += 1
        return added

    def expire(self, before: float) -> None:
        """Drop events whose every token has expired by ``before`` (revoked ``issued_before`` then)."""
        with self._lock:
            old = [e for e in self._events.values() if e.issued_before < before]
            if not old:
                return
            for event in old:
                del self._events[event.id]
            for key in list(self._index):
                kept = [e for e in self._index[key] if e.id in self._events]
                if kept:
                    self._index[key] = kept
                else:
                    del self._index[key]

    def is_revoked(self, token: TokenFacts) -> bool:
        index = self._index
        keys: list[tuple[str, str]] = [("user_id", token.user_id)]
        if token.audit_id:
            keys.append(("audit_id", token.audit_id))
        if token.audit_chain_id:
            keys.append(("audit_chain_id", token.audit_chain_id))
        if token.project_id:
            keys.append(("project_id", token.project_id))
        if token.application_credential_id:
            keys.append(("application_credential_id", token.application_credential_id))
        keys.extend(("domain_id", d) for d in token.domain_ids)
        for key in keys:
            for event in index.get(key, ()):
                if event.matches(token):
                    return True
        return False
