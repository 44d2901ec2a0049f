"""What the resource handlers share: reading bodies and query flags, mapping store conflicts."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import flask
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cells.db.identity_models import Project, RevocationEvent
from cells.exception import BadRequest, Conflict
from identity.bootstrap import DEFAULT_DOMAIN_ID
from identity.schemas import validate
from identity.service import caller, current

T = TypeVar("T")
FALSE_WORDS = frozenset({"0", "false", "no", "off", "n", "f"})


def body(schema: dict[str, Any]) -> dict[str, Any]:
    """Return the request's JSON body validated against ``schema``; raises BadRequest."""
    data = flask.request.get_json(force=True, silent=True)
    if data is None:
        raise BadRequest("The request body is not valid JSON.")
    validate(schema, data)
    result: dict[str, Any] = data
    return result


def flag(name: str) -> bool:
    """Keystone's boolean query parameter: present means true, except ``name=0``."""
    if name not in flask.request.args:
        return False
    return flask.request.args.get(name) != "0"


def bool_filter(name: str) -> bool | None:
    """A filter such as ``enabled=false``: None if absent."""
    value = flask.request.args.get(name)
    if value is None:
        return None
    return value.strip().lower() not in FALSE_WORDS


def transaction(fn: Callable[[Session], T], conflict: str = "The change conflicts with existing data.") -> T:
    """Run ``fn`` in one transaction of the identity database.

    A unique-constraint violation (a concurrent create of the same name, or a
    row deleted meanwhile) becomes 409 with ``conflict`` as the message. If
    ``fn`` recorded revocation events, this process's verifier learns them
    right after the commit, so the revoked tokens are refused here at once.
    """
    service = current()
    revoked = False

    def run(session: Session) -> T:
        nonlocal revoked
        added: list[object] = []

        def note(_session: Session, row: object) -> None:
            if isinstance(row, RevocationEvent):
                added.append(row)

        # The session only weakly holds rows once flushed: watch them being added instead.
        sa.event.listen(session, "transient_to_pending", note)
        try:
            result = fn(session)
        finally:
            sa.event.remove(session, "transient_to_pending", note)
        revoked = bool(added)
        return result

    try:
        result = service.db.transaction(run)
    except IntegrityError as exc:
        raise Conflict(conflict) from exc
    if revoked:
        service.revocations.refresh()
    return result


def no_content() -> tuple[str, int]:
    return "", 204


def created(payload: dict[str, Any]) -> tuple[flask.Response, int]:
    return flask.jsonify(payload), 201


def route(bp: flask.Blueprint, rule: str, methods: list[str], endpoint: str,
          view: Callable[..., Any], **defaults: Any) -> None:
    """Register ``view`` for ``rule`` with fixed keyword arguments (one view, many URL shapes)."""
    bp.add_url_rule(rule, endpoint=endpoint, view_func=functools.partial(view, **defaults),
                    methods=methods)


def caller_domain(session: Session) -> str:
    """The domain a create without ``domain_id`` lands in: the caller's project's, as in Keystone."""
    ctx = caller()
    if ctx.project_id:
        domain_id = session.scalar(sa.select(Project.domain_id).where(Project.id == ctx.project_id))
        if domain_id:
            return str(domain_id)
    return ctx.domain_id or DEFAULT_DOMAIN_ID
