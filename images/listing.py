"""Query parameters of GET /v2/images turned into a validated ListQuery."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from cells.exception import BadRequest
from images import schemas
from images.registry import EQUALITY_FILTERS, SORT_KEYS, ListQuery

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
_DIRECTIONS = ("asc", "desc")
# Parameters with a meaning of their own; any other is a property filter.
_CONTROL = frozenset({"limit", "marker", "sort_key", "sort_dir", "sort", "tag", "size_min", "size_max",
                      "member_status", "os_hidden", "protected", "changes-since"})


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


def parse_list_query(args: MultiDict[str, str]) -> ListQuery:
    """Return the ListQuery of a list request; raises BadRequest for a bad parameter."""
    limit = _int(args, "limit")
    query = ListQuery(limit=min(MAX_LIMIT, DEFAULT_LIMIT if limit is None else limit),
                      marker=args.get("marker") or None, sort=_sort(args),
                      size_min=_int(args, "size_min"), size_max=_int(args, "size_max"),
                      tags=args.getlist("tag"))
    for key in EQUALITY_FILTERS:
        if key in args:
            query.filters[key] = args[key]
    visibility = query.filters.get("visibility")
    if visibility is not None and visibility not in (*schemas.VISIBILITIES, "all"):
        raise BadRequest(f"Invalid visibility value: {visibility}")
    status = query.filters.get("status")
    if status is not None and status not in schemas.STATUSES:
        raise BadRequest(f"Invalid status value: {status}")
    if "protected" in args:
        if args["protected"] not in ("true", "false"):
            raise BadRequest("protected param must be true or false")
        query.protected = args["protected"] == "true"
    for key in args:
        if key not in _CONTROL and key not in EQUALITY_FILTERS:
            query.properties[key] = args[key]
    return query
