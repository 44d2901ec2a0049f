"""The policy rule language: a small oslo.policy subset, parsed once at load, evaluated per request.

    role:NAME          the caller holds role NAME (case-insensitive)
    rule:NAME          the named rule NAME holds
    ATTR:%(param)s     the caller's ATTR equals the route parameter ``param``
    ATTR:VALUE         the caller's ATTR equals the literal VALUE ('quoted' if need be)
    @  /  !            any authenticated caller / nobody
    not, and, or, ( )  in that order of precedence

ATTR is one of ``CREDENTIALS``. Parsing is pure: errors are ``PolicySyntaxError``
with a one-line reason, which the loader prefixes with the file and rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cells.context import RequestContext

CREDENTIALS = ("user_id", "project_id", "domain_id", "user_name", "project_name")
KEYWORDS = ("and", "or", "not")

_TOKEN = re.compile(r"\s*(?:(?P<paren>[()])|(?P<word>(?:%\([A-Za-z_]\w*\)s|[^\s()])+))")
_PARAM = re.compile(r"%\((?P<name>[A-Za-z_]\w*)\)s")


class PolicySyntaxError(ValueError):
    """A rule that cannot be parsed; the message says why, in one line."""


Rules = Mapping[str, "Check"]


class Check:
    """A parsed rule expression."""

    def allows(self, ctx: RequestContext, target: Mapping[str, str], rules: Rules) -> bool:
        raise NotImplementedError

    def children(self) -> tuple[Check, ...]:
        return ()

    def walk(self) -> list[Check]:
        """This check and every check inside it (named rules are not followed)."""
        found: list[Check] = [self]
        for child in self.children():
            found.extend(child.walk())
        return found


@dataclass(frozen=True)
class Always(Check):
    def allows(self, ctx: RequestContext, target: Mapping[str, str], rules: Rules) -> bool:
        return True


@dataclass(frozen=True)
class Never(Check):
    def allows(self, ctx: RequestContext, target: Mapping[str, str], rules: Rules) -> bool:
        return False


@dataclass(frozen=True)
class Role(Check):
    name: str  # lower case

    def allows(self, ctx: RequestContext, target: Mapping[str, str], rules: Rules) -> bool:
        return any(role.lower() == self.name for role in ctx.roles)


@dataclass(frozen=True)
class RuleRef(Check):
    name: str

    def allows(self, ctx: RequestContext, target: Mapping[str, str], rules: Rules) -> bool:
        return rules[self.name].allows(ctx, target, rules)


@dataclass(frozen=True)
class Attribute(Check):
    """The caller's ``attr`` equals route parameter ``param``, or else the literal ``value``."""

    attr: str
    param: str | None = None
    value: str | None = None

    def allows(self, ctx: RequestContext, target: Mapping[str, str], rules: Rules) -> bool:
        mine = getattr(ctx, self.attr, None)
        expected = target.get(self.param) if self.param is not None else self.value
        return mine is not None and expected is not None and mine == expected


@dataclass(frozen=True)
class Not(Check):
    check: Check

    def allows(self, ctx: RequestContext, target: Mapping[str, str], rules: Rules) -> bool:
        return not self.check.allows(ctx, target, rules)

    def children(self) -> tuple[Check, ...]:
        return (self.check,)


@dataclass(frozen=True)
class And(Check):
    checks: tuple[Check, ...]

    def allows(self, ctx: RequestContext, target: Mapping[str, str], rules: Rules) -> bool:
        return all(check.allows(ctx, target, rules) for check in self.checks)

    def children(self) -> tuple[Check, ...]:
        return self.checks


@dataclass(frozen=True)
class Or(Check):
    checks: tuple[Check, ...]

    def allows(self, ctx: RequestContext, target: Mapping[str, str], rules: Rules) -> bool:
        return any(check.allows(ctx, target, rules) for check in self.checks)

    def children(self) -> tuple[Check, ...]:
        return self.checks


def tokenize(text: str) -> list[str]:
    """Split an expression into parentheses and words; raises PolicySyntaxError on stray text."""
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if found is None or found.end() == pos:
            raise PolicySyntaxError(f"unexpected text {text[pos:pos + 20]!r}")
        tokens.append(found.group("paren") or found.group("word"))
        pos = found.end()
    return tokens


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def parse_check(word: str) -> Check:
    """Parse one ``kind:match`` word (or ``@``/``!``)."""
    if word == "@":
        return Always()
    if word == "!":
        return Never()
    kind, sep, match = word.partition(":")
    if not sep or not match:
        raise PolicySyntaxError(f"{word!r} is not a check (expected KIND:VALUE, '@' or '!')")
    param = _PARAM.fullmatch(match)
    if "%" in match and param is None:
        raise PolicySyntaxError(f"{word!r}: a route parameter is written %(name)s")
    if kind in ("role", "rule"):
        if param is not None:
            raise PolicySyntaxError(f"{word!r}: {kind} names cannot come from the route")
        return Role(_unquote(match).lower()) if kind == "role" else RuleRef(match)
    if kind not in CREDENTIALS:
        raise PolicySyntaxError(f"unknown check {word!r} (kinds: role, rule, {', '.join(CREDENTIALS)})")
    if param is not None:
        return Attribute(kind, param=param.group("name"))
    return Attribute(kind, value=_unquote(match))


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise PolicySyntaxError("the expression ends too early")
        self.pos += 1
        return token

    def expression(self) -> Check:
        checks = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            checks.append(self.conjunction())
        return checks[0] if len(checks) == 1 else Or(tuple(checks))

    def conjunction(self) -> Check:
        checks = [self.negation()]
        while self.peek() == "and":
            self.take()
            checks.append(self.negation())
        return checks[0] if len(checks) == 1 else And(tuple(checks))

    def negation(self) -> Check:
        if self.peek() == "not":
            self.take()
            return Not(self.negation())
        return self.atom()

    def atom(self) -> Check:
        token = self.take()
        if token == "(":
            inner = self.expression()
            if self.take() != ")":
                raise PolicySyntaxError("a '(' is not closed")
            return inner
        if token == ")" or token in KEYWORDS:
            raise PolicySyntaxError(f"unexpected {token!r}")
        return parse_check(token)


def parse(text: str) -> Check:
    """Return the check ``text`` expresses; raises PolicySyntaxError saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise PolicySyntaxError("empty expression (write '@' for anyone authenticated, '!' for nobody)")
    parser = _Parser(tokenize(text))
    check = parser.expression()
    if parser.peek() is not None:
        raise PolicySyntaxError(f"unexpected {parser.peek()!r}")
    return check


def references(check: Check) -> set[str]:
    """Names of the rules ``check`` refers to directly."""
    return {c.name for c in check.walk() if isinstance(c, RuleRef)}


def parameters(check: Check) -> set[str]:
    """Route parameters ``check`` compares against directly."""
    return {c.param for c in check.walk() if isinstance(c, Attribute) and c.param is not None}
