"""Revoked tokens: recorded until they would have expired anyway, then purged."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import RevokedToken
from cells.db.types import utcnow


def is_revoked(session: Session, jti: str) -> bool:
    """True if the token with this jti was revoked."""
    return session.execute(sa.select(RevokedToken.jti).where(RevokedToken.jti == jti)).first() is not None


def revoke(session: Session, claims: dict[str, Any]) -> None:
    """Record a token as revoked (idempotent) and purge records of tokens now expired."""
    now = utcnow()
    session.execute(sa.delete(RevokedToken).where(RevokedToken.expires_at < now))
    if is_revoked(session, claims["jti"]):
        return
    expires = dt.datetime.fromtimestamp(claims["exp"], dt.UTC).replace(tzinfo=None)
    audit_ids = claims.get("audit_ids") or [None]
    session.add(RevokedToken(jti=claims["jti"], audit_id=audit_ids[0], expires_at=expires, revoked_at=now))
