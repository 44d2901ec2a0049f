"""Revocation events: recorded by the identity service, read by every verifier.

An event revokes every token whose claims match all of its non-null fields
and that was issued before ``issued_before``: one token (its audit id), a
token and every token rescoped from it (audit chain id), all tokens of a
user, of a user on a project, of a project, of a domain, or made with an
application credential. Events are kept for the longest token lifetime plus
a margin, after which no token they match can still be valid, then purged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import RevocationEvent
from cells.db.types import utcnow
from identity.revocation_list import Event, TokenFacts

# Fields an event may constrain; each names the token claim it matches (see revocation_list).
MATCH_FIELDS = ("audit_id", "audit_chain_id", "user_id", "project_id", "domain_id",
                "application_credential_id")
# Events outlive the tokens they revoke by this much, for clocks that disagree.
RETENTION_MARGIN = dt.timedelta(minutes=5)


def record(session: Session, token_ttl: int, *, issued_before: dt.datetime | None = None,
           **match: str | None) -> None:
    """Record one event in the caller's transaction; ``match`` takes MATCH_FIELDS by name.

    Raises ValueError for an unknown field or an event that would match every token.
    """
    unknown = set(match) - set(MATCH_FIELDS)
    if unknown:
        raise ValueError(f"unknown revocation fields: {', '.join(sorted(unknown))}")
    fields = {k: v for k, v in match.items() if v is not None}
    if not fields:
        raise ValueError("a revocation event must match something")
    now = utcnow()
    session.add(RevocationEvent(issued_before=issued_before or now, revoked_at=now,
                                expires_at=now + dt.timedelta(seconds=token_ttl) + RETENTION_MARGIN,
                                **fields))


def revoke_token(session: Session, token_ttl: int, claims: dict[str, Any]) -> None:
    """Revoke one token (by its audit id), idempotently."""
    audit_ids = claims.get("audit_ids") or []
    if not audit_ids:
        raise ValueError("the token has no audit id")
    exists = session.execute(sa.select(RevocationEvent.id).where(
        RevocationEvent.audit_id == audit_ids[0])).first()
    if exists is None:
        record(session, token_ttl, audit_id=audit_ids[0])


def purge(session: Session) -> int:
    """Delete events no live token can match any more; returns how many."""
    result = session.execute(sa.delete(RevocationEvent).where(RevocationEvent.expires_at < utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def to_wire(event: RevocationEvent) -> dict[str, Any]:
    """The JSON form served at /v3/OS-REVOKE/events: the id, the set fields, and two times."""
    body: dict[str, Any] = {"id": event.id}
    for field in MATCH_FIELDS:
        value = getattr(event, field)
        if value is not None:
            body[field] = value
    body["issued_before"] = _iso(event.issued_before)
    body["revoked_at"] = _iso(event.revoked_at)
    return body


def events_since(session: Session, since: dt.datetime | None, limit: int = 10000) -> list[dict[str, Any]]:
    """Return live events revoked at or after ``since`` (all live events if None), oldest first."""
    stmt = sa.select(RevocationEvent).where(RevocationEvent.expires_at >= utcnow())
    if since is not None:
        stmt = stmt.where(RevocationEvent.revoked_at >= since)
    stmt = stmt.order_by(RevocationEvent.revoked_at, RevocationEvent.id).limit(limit)
    return [to_wire(e) for e in session.scalars(stmt)]


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_revoked(session: Session, token: TokenFacts) -> bool:
    """True if a recorded event revokes ``token`` (read from the database, for the identity service)."""
    candidates = [RevocationEvent.user_id == token.user_id]
    for column, value in ((RevocationEvent.audit_id, token.audit_id),
                          (RevocationEvent.audit_chain_id, token.audit_chain_id),
                          (RevocationEvent.project_id, token.project_id),
                          (RevocationEvent.application_credential_id, token.application_credential_id)):
        if value:
            candidates.append(column == value)
    if token.domain_ids:
        candidates.append(RevocationEvent.domain_id.in_(token.domain_ids))
    rows = session.scalars(sa.select(RevocationEvent).where(
        sa.or_(*candidates), RevocationEvent.expires_at >= utcnow()))
    return any(Event.from_wire(to_wire(row)).matches(token) for row in rows)
