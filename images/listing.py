"""Query parameters of GET /v2/images turned into a validated ListQuery, and the page they select.

Glance's ``in:`` operator (``id=in:<id1>,<id2>``, ``name=in:a,"b,c"``) asks
for images matching any of several values; the lists go to the registry as
list-valued filters, so one indexed SELECT (``IN (...)``) answers the request
with the same ordering and keyset paging as any other list.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from cells.context import RequestContext
from cells.db.image_models import Image
from cells.exception import BadRequest
from images import schemas
from images.registry import EQUALITY_FILTERS, SORT_KEYS, ListQuery, Registry, is_uuid, normalize_id

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
# Values one in: list may hold: each is a bound parameter of the SELECT.
MAX_IN_VALUES = 250
IN_PREFIX = "in:"
_DIRECTIONS = ("asc", "desc")
MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")
# Parameters with a meaning of their own; any other is a property filter.
_CONTROL = frozenset({"limit", "marker", "sort_key", "sort_dir", "sort", "tag", "size_min", "size_max",
                      "member_status", "os_hidden", "protected", "changes-since"})


@dataclass
class ListRequest:
    """A parsed list request: the registry query and the ``in:`` lists (filter -> any of values)."""

    query: ListQuery
    any_of: dict[str, list[str]] = field(default_factory=dict)


def _int(args: MultiDict[str, str], name: str, minimum: int = 0) -> int | None:
    raw = args.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} param must be an integer") from exc
    if value < minimum:
        raise BadRequest(f"{name} param must be at least {minimum}")
    return value


def _sort(args: MultiDict[str, str]) -> list[tuple[str, str]]:
    keys = args.getlist("sort_key")
    dirs = args.getlist("sort_dir")
    if "sort" in args:
        if keys or dirs:
            raise BadRequest("The sort param cannot be combined with sort_key or sort_dir.")
        pairs = []
        for item in args["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key, direction or "desc"))
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise BadRequest("Give one sort_dir, or one per sort_key.")
        keys = keys or ["created_at"]
        dirs = dirs if len(dirs) > 1 else [dirs[0] if dirs else "desc"] * len(keys)
        pairs = list(zip(keys, dirs, strict=True))
    for key, direction in pairs:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It should be one of: {', '.join(sorted(SORT_KEYS))}.")
        if direction not in _DIRECTIONS:
            raise BadRequest(f"Invalid sort direction: {direction}. It should be asc or desc.")
    if len({k for k, _ in pairs}) != len(pairs):
        raise BadRequest("A sort key may be given only once.")
    if not any(k == "id" for k, _ in pairs):
        # The id breaks ties, so markers page through equal keys without repeats or gaps.
        pairs.append(("id", pairs[-1][1]))
    return pairs


def _in_values(key: str, raw: str) -> list[str]:
    """The distinct values of ``in:v1,"v,2"`` (double quotes protect commas, as in Glance)."""
    if key == "visibility":
        raise BadRequest("The in: operator is not supported for visibility.")
    try:
        values = next(csv.reader([raw[len(IN_PREFIX):]], strict=True), [])
    except csv.Error as exc:
        raise BadRequest(f"Invalid {key} filter: {exc}") from exc
    if len(values) > MAX_IN_VALUES:
        raise BadRequest(f"The in: list of {key} holds {len(values)} values; at most {MAX_IN_VALUES}.")
    if key == "id":
        # Ids are stored in canonical form; anything else cannot match an image.
        values = [normalize_id(v) for v in values if is_uuid(v)]
    return list(dict.fromkeys(v for v in values if v))


def _check_status(values: Iterable[str]) -> None:
    for status in values:
        if status not in schemas.STATUSES:
            raise BadRequest(f"Invalid status value: {status}")


def parse_list_query(args: MultiDict[str, str]) -> ListRequest:
    """Return the ListRequest of a list request; raises BadRequest for a bad parameter."""
    limit = _int(args, "limit")
    query = ListQuery(limit=min(MAX_LIMIT, DEFAULT_LIMIT if limit is None else limit),
                      marker=args.get("marker") or None, sort=_sort(args),
                      size_min=_int(args, "size_min"), size_max=_int(args, "size_max"),
                      tags=args.getlist("tag"))
    parsed = ListRequest(query)
    for key in EQUALITY_FILTERS:
        if key not in args:
            continue
        if args[key].startswith(IN_PREFIX):
            parsed.any_of[key] = _in_values(key, args[key])
        else:
            query.filters[key] = args[key]
    visibility = query.filters.get("visibility")
    if visibility is not None and visibility not in (*schemas.VISIBILITIES, "all"):
        raise BadRequest(f"Invalid visibility value: {visibility}")
    # args["status"] is the equality filter's value whenever status is not an in: list.
    _check_status(parsed.any_of["status"] if "status" in parsed.any_of else args.getlist("status")[:1])
    member_status = args.get("member_status", "accepted")
    if member_status not in MEMBER_STATUSES:
        raise BadRequest(f"Invalid member_status value: {member_status}. "
                         f"It should be one of: {', '.join(MEMBER_STATUSES)}.")
    query.member_status = member_status
    if "protected" in args:
        if args["protected"] not in ("true", "false"):
            raise BadRequest("protected param must be true or false")
        query.protected = args["protected"] == "true"
    for key in args:
        if key not in _CONTROL and key not in EQUALITY_FILTERS:
            query.properties[key] = args[key]
    return parsed


def page(registry: Registry, ctx: RequestContext, parsed: ListRequest) -> tuple[list[Image], str | None]:
    """Return one page of visible images and the next page's marker (None at the end).

    Raises BadRequest for a marker the caller cannot see.
    """
    query = parsed.query
    if parsed.any_of:
        query = dataclasses.replace(query, filters={**query.filters, **parsed.any_of})
    return registry.page(ctx, query)
