"""GET /v3/OS-REVOKE/events: the revocation events every verifier polls.

Unauthenticated, like the JWKS: a cell verifying another cell's tokens has
no account at that cell's identity service. An event holds only ids (of a
user, project, domain or application credential), audit ids and two times,
never a secret: knowing them lets no one authenticate or learn more than a
token's holder already sees in it.
"""

from __future__ import annotations

import datetime as dt
import re

import flask

from cells.exception import BadRequest
from identity import revocation
from identity.service import current

bp = flask.Blueprint("revoke", __name__)

PAGE_SIZE = 1000
# In a query string an unescaped "+" of a UTC offset arrives as a space.
_SPACED_OFFSET = re.compile(r" (\d\d:?\d\d)$")


def parse_since(text: str) -> dt.datetime:
    """Return an ISO 8601 time as naive UTC (naive input is UTC); raises BadRequest if it is not one."""
    cleaned = _SPACED_OFFSET.sub(r"+\1", text.strip())
    try:
        parsed = dt.datetime.fromisoformat(cleaned.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"Invalid value for 'since': {text[:64]!r} is not an ISO 8601 time "
                         "(for example 2024-05-01T12:00:00.000000Z).") from exc
    return parsed


@bp.get("/v3/OS-REVOKE/events")
def events() -> flask.Response:
    """Live events revoked at or after ``since`` (all if absent), oldest first, in pages.

    A full page links to the next one (``links.next``, starting at the last
    event's ``revoked_at``; an event may appear on both pages).
    """
    service = current()
    service.revocations.start()  # its poller also purges expired events, now and then
    since_text = flask.request.args.get("since")
    since = parse_since(since_text) if since_text else None  # empty: all, as Keystone does
    rows = service.db.transaction(lambda session: revocation.events_since(session, since, PAGE_SIZE + 1))
    next_url = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        next_url = flask.url_for("revoke.events", since=rows[-1]["revoked_at"], _external=True)
    response = flask.jsonify({"events": rows,
                              "links": {"self": flask.request.url, "next": next_url, "previous": None}})
    response.headers["Cache-Control"] = "no-cache"
    return response
