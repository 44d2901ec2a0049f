"""The policy table: which roles may call which route of which service, loaded from one YAML file.

The file (the packaged ``identity/policy.yaml`` unless ``auth.policy_file``
names another, which then replaces it whole) has two sections::

    rules:                      # named rules, in the language of identity.policy_language
      admin: "role:admin"
      owner: "user_id:%(user_id)s"
    routes:
      compute:                  # one table per service: compute, image, identity
        "GET /v2.1/servers/<server_id>": "rule:project_reader or rule:service"
        "GET /": public         # no token needed

Route patterns are the Flask rule strings of the service, matched with
werkzeug's router, so a route reads the same here as in the app; HEAD
follows GET. A route missing from the table is denied. Everything is
checked when the file is loaded: any mistake is a one-line ConfigError
naming the file and the rule.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.routing.exceptions import RoutingException

from cells.config import CellConfig
from cells.context import RequestContext
from cells.exception import ConfigError
from identity import policy_language as lang

LOG = logging.getLogger(__name__)

DEFAULT_FILE = "policy.yaml"  # packaged beside this module
PUBLIC = "public"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_LOGGED = 1024  # distinct unlisted routes warned about, so odd paths cannot flood the log
_SEGMENT = re.compile(r"<([^<>]*)>")
_PARAMETER = re.compile(r"(?:(?P<converter>[A-Za-z_]\w*)(?:\([^()]*\))?:)?(?P<name>[A-Za-z_]\w*)")


@dataclass(frozen=True)
class Route:
    """One entry of a service's table; ``check`` is None for a public route."""

    method: str
    pattern: str
    check: lang.Check | None

    @property
    def key(self) -> str:
        return f"{self.method} {self.pattern}"

    @property
    def public(self) -> bool:
        return self.check is None


@dataclass(frozen=True)
class Match:
    route: Route
    params: Mapping[str, str]


class Enforcer:
    """The table of one service: matches a request to its route and says whether a caller may call it."""

    def __init__(self, service: str, routes: tuple[Route, ...], rules: Mapping[str, lang.Check],
                 source: str = "policy") -> None:
        self.service = service
        self.routes = routes
        self.rules = rules
        self._by_key = {route.key: route for route in routes}
        self._map = Map(strict_slashes=False, merge_slashes=False)
        for route in routes:
            try:
                self._map.add(Rule(route.pattern, methods=[route.method], endpoint=route.key))
            except (ValueError, LookupError) as exc:
                raise ConfigError(f"{source}: route {service!r} {route.key!r}: not a valid route pattern "
                                  f"({exc})") from exc
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    def route(self, method: str, pattern: str) -> Route | None:
        """The entry for a Flask rule string and method (HEAD follows GET), or None."""
        return self._by_key.get(f"{'GET' if method == 'HEAD' else method} {pattern}")

    def match(self, method: str, path: str) -> Match | None:
        """The entry a request path (decoded) and method fall under, or None if the table has none."""
        try:
            key, params = self._map.bind("policy.invalid").match(path, method)
        except (HTTPException, RoutingException):
            return None
        # Converters may give ints; the caller's attributes are strings.
        return Match(self._by_key[key], {name: str(value) for name, value in params.items()})

    def allows(self, match: Match, ctx: RequestContext) -> bool:
        """True if ``ctx`` may call the matched route (a public route allows anyone)."""
        check = match.route.check
        return check is None or check.allows(ctx, match.params, self.rules)

    def unlisted(self, key: str) -> None:
        """Note a request to a route the table lacks: warned about once per route."""
        with self._lock:
            if key in self._logged or len(self._logged) >= MAX_LOGGED:
                return
            self._logged.add(key)
        LOG.warning("policy: %r has no entry in the %s table; denied (deny by default)", key, self.service)


@dataclass(frozen=True)
class Policy:
    source: str
    rules: Mapping[str, lang.Check]
    services: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)

    def enforcer(self, service: str) -> Enforcer:
        """The enforcer of one service's table; raises ConfigError if the file has no such table."""
        if service not in self.services:
            raise ConfigError(f"{self.source}: routes: no table for service {service!r}")
        return Enforcer(service, self.services[service], self.rules, self.source)


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml if installed


class _UniqueKeyLoader(_BaseLoader):  # type: ignore[valid-type,misc]  # a variable base
    """A YAML loader that refuses duplicate keys: a second entry for a route must not win silently."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _read(path: str | None) -> tuple[str, Any]:
    try:
        if path is None:
            packaged = resources.files("identity").joinpath(DEFAULT_FILE)
            source, text = str(packaged), packaged.read_text(encoding="utf-8")
        else:
            with open(path, encoding="utf-8") as handle:
                source, text = path, handle.read()
    except OSError as exc:
        raise ConfigError(f"{path or DEFAULT_FILE}: cannot read the policy file ({exc.strerror})") from exc
    try:
        return source, yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or "malformed"
        raise ConfigError(f"{source}: not valid YAML{line}: {problem}") from exc


def _section(source: str, document: Any, name: str) -> dict[str, Any]:
    value = document.get(name)
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{source}: '{name}' must be a mapping with string keys")
    return value


def _parse(source: str, where: str, text: Any) -> lang.Check:
    if not isinstance(text, str):
        raise ConfigError(f"{source}: {where}: expected a rule expression (a string), got {text!r}")
    try:
        return lang.parse(text)
    except lang.PolicySyntaxError as exc:
        raise ConfigError(f"{source}: {where}: {exc}") from exc


def _check_references(source: str, rules: Mapping[str, lang.Check]) -> None:
    """Every ``rule:NAME`` exists and no rule refers to itself, however indirectly."""
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ConfigError(f"{source}: rule {path[0]!r}: refers to itself ({' -> '.join(path)})")
        state[name] = "visiting"
        for ref in sorted(lang.references(rules[name])):
            if ref not in rules:
                raise ConfigError(f"{source}: rule {name!r}: unknown rule 'rule:{ref}'")
            visit(ref, (*path, ref))
        state[name] = "done"

    for name in rules:
        visit(name, (name,))


def _all_parameters(check: lang.Check, rules: Mapping[str, lang.Check]) -> set[str]:
    found = lang.parameters(check)
    for ref in lang.references(check):
        found |= _all_parameters(rules[ref], rules)
    return found


def _arguments(pattern: str) -> set[str] | None:
    """The parameter names of a werkzeug rule string, or None if it is malformed.

    Parsed here rather than by compiling a werkzeug Rule: compiling costs about
    a millisecond a rule, and each service compiles only its own table.
    """
    names = []
    for part in _SEGMENT.split(pattern)[1::2]:
        found = _PARAMETER.fullmatch(part)
        if found is None or (found["converter"] and found["converter"] not in Map.default_converters):
            return None
        names.append(found["name"])
    rest = _SEGMENT.sub("", pattern)
    if "<" in rest or ">" in rest or len(set(names)) != len(names):
        return None
    return set(names)


def _route(source: str, service: str, key: str, value: Any, rules: Mapping[str, lang.Check]) -> Route:
    where = f"route {service!r} {key!r}"
    method, _, pattern = key.partition(" ")
    pattern = pattern.strip()
    if method == "HEAD":
        raise ConfigError(f"{source}: {where}: HEAD follows GET; give the GET route instead")
    if method not in METHODS or not pattern.startswith("/"):
        raise ConfigError(f"{source}: {where}: expected 'METHOD /path' with METHOD one of "
                          f"{', '.join(METHODS)}")
    check: lang.Check | None
    if value == PUBLIC:
        check = None
    elif isinstance(value, str) and value.strip() in rules:
        check = lang.RuleRef(value.strip())
    else:
        check = _parse(source, where, value)
    arguments = _arguments(pattern)
    if arguments is None:
        raise ConfigError(f"{source}: {where}: not a valid route pattern (parameters are <name> or "
                          f"<converter:name>, converters {', '.join(sorted(Map.default_converters))})")
    if check is not None:
        for ref in lang.references(check):
            if ref not in rules:
                raise ConfigError(f"{source}: {where}: unknown rule 'rule:{ref}'")
        missing = _all_parameters(check, rules) - arguments
        if missing:
            raise ConfigError(f"{source}: {where}: %({sorted(missing)[0]})s is not a parameter "
                              "of this route")
    return Route(method, pattern, check)


def load(path: str | None = None) -> Policy:
    """Load and check the policy file (the packaged default if ``path`` is None).

    Raises ConfigError naming the file and the rule on any mistake.
    """
    source, document = _read(path)
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping with 'rules' and 'routes'")
    unknown = sorted(set(map(str, document)) - {"rules", "routes"})
    if unknown:
        raise ConfigError(f"{source}: unknown section {unknown[0]!r} (expected 'rules' and 'routes')")
    rules = {name: _parse(source, f"rule {name!r}", text)
             for name, text in _section(source, document, "rules").items()}
    _check_references(source, rules)
    services: dict[str, tuple[Route, ...]] = {}
    for service, table in _section(source, document, "routes").items():
        if not isinstance(table, dict) or not all(isinstance(k, str) for k in table):
            raise ConfigError(f"{source}: routes: {service!r} must map 'METHOD /path' to a rule")
        routes: dict[str, Route] = {}
        for key, value in table.items():
            route = _route(source, service, key, value, rules)
            if route.key in routes:
                raise ConfigError(f"{source}: route {service!r} {key!r}: listed twice")
            routes[route.key] = route
        services[service] = tuple(routes.values())
    return Policy(source, rules, services)


def enforcer(conf: CellConfig, service: str) -> Enforcer:
    """The enforcer of ``service`` from the cell's policy file; raises ConfigError if it is wrong."""
    return load(conf.policy_file).enforcer(service)
