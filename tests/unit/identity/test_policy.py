"""The policy engine: the rule language, loading and checking the table, matching, the middleware."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import flask
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.test import Client
from werkzeug.wrappers import Response

from cells.context import RequestContext
from cells.exception import ConfigError
from identity import policy
from identity.key_sources import StaticKeySource
from identity.middleware import AuthMiddleware, TokenVerifier
from identity.policy_language import PolicySyntaxError, parse

KEY = Ed25519PrivateKey.generate()

RULES = {
    "admin": "role:admin",
    "member": "rule:admin or role:member",
    "owner": "user_id:%(user_id)s",
}


def ctx(*roles: str, user: str = "u1", project: str | None = "p1", domain: str = "default") -> RequestContext:
    return RequestContext(user_id=user, project_id=project, domain_id=domain, roles=list(roles))


def allows(text: str, context: RequestContext, rules: dict[str, str] | None = None, **target: str) -> bool:
    parsed = {name: parse(expr) for name, expr in (rules or RULES).items()}
    return parse(text).allows(context, target, parsed)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


def table(rules: dict[str, str] | None = None, routes: dict[str, Any] | None = None) -> str:
    lines = ["rules:"] + [f'  {k}: "{v}"' for k, v in (rules or RULES).items()]
    lines.append("routes:")
    for service, entries in (routes or {"svc": {"GET /things/<user_id>": "owner"}}).items():
        lines.append(f"  {service}:")
        lines += [f'    "{k}": {v if v == "public" else repr(v)}' for k, v in entries.items()]
    return "\n".join(lines) + "\n"


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        policy.load(write(tmp_path, text))
    message = info.value.message
    assert "\n" not in message and message.startswith(str(tmp_path / "policy.yaml"))
    return message


# --- the language -----------------------------------------------------------------


def test_roles_rules_and_attributes():
    assert allows("role:admin", ctx("admin"))
    assert allows("role:ADMIN", ctx("Admin"))  # role names compare case-insensitively
    assert not allows("role:admin", ctx("member"))
    assert allows("rule:member", ctx("admin")) and allows("rule:member", ctx("member"))
    assert not allows("rule:member", ctx("reader"))
    assert allows("rule:owner", ctx(), user_id="u1")
    assert not allows("rule:owner", ctx(), user_id="u2")
    assert not allows("project_id:%(project_id)s", ctx(project=None), project_id="p1")
    assert not allows("project_id:%(project_id)s", ctx(), project_id="")
    assert allows("domain_id:default", ctx()) and allows("domain_id:'default'", ctx())
    assert not allows("domain_id:other", ctx())
    assert allows("@", ctx()) and not allows("!", ctx("admin"))


def test_precedence_and_parentheses():
    # not > and > or, as in oslo.policy.
    assert allows("role:a or role:b and role:c", ctx("a"))
    assert not allows("(role:a or role:b) and role:c", ctx("a"))
    assert allows("not role:a and role:b", ctx("b"))
    assert not allows("not (role:a or role:b)", ctx("b"))
    assert allows("not not role:a", ctx("a"))
    assert allows("(rule:owner)", ctx(), user_id="u1")
    assert allows("role:x or (rule:admin and user_id:%(user_id)s)", ctx("admin"), user_id="u1")


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("   ", "empty"),
    ("role:a and", "ends too early"),
    ("role:a or or role:b", "unexpected 'or'"),
    ("(role:a", "ends too early"),
    ("role:a)", "unexpected ')'"),
    ("role:a role:b", "unexpected 'role:b'"),
    ("admin", "not a check"),
    ("role:", "not a check"),
    ("tenant:x", "unknown check"),
    ("role:%(user_id)s", "cannot come from the route"),
    ("user_id:%(user_id", "%(name)s"),
])
def test_syntax_errors(text, reason):
    with pytest.raises(PolicySyntaxError) as info:
        parse(text)
    assert reason in str(info.value)


# --- loading ----------------------------------------------------------------------


def test_the_packaged_table_loads_and_has_every_service():
    loaded = policy.load()
    assert loaded.source.endswith("identity/policy.yaml")
    assert set(loaded.services) >= {"compute", "image", "identity"}
    for service in ("compute", "image", "identity"):
        enforcer = loaded.enforcer(service)
        assert enforcer.route("GET", "/").public  # version discovery needs no token
    identity = loaded.enforcer("identity")
    assert identity.route("POST", "/v3/auth/tokens").public
    assert not identity.route("GET", "/v3/auth/tokens").public
    assert identity.route("HEAD", "/v3/auth/tokens") is identity.route("GET", "/v3/auth/tokens")


def test_override_file_replaces_the_table(tmp_path, make_conf):
    path = write(tmp_path, table(routes={"compute": {"GET /": "public", "GET /v2.1/servers": "admin"}}))
    conf = make_conf(auth={"policy_file": path})
    enforcer = policy.enforcer(conf, "compute")
    match = enforcer.match("GET", "/v2.1/servers")
    assert match is not None and not enforcer.allows(match, ctx("member"))
    assert enforcer.allows(match, ctx("admin"))
    assert enforcer.match("GET", "/v2.1/flavors") is None  # not in this table: denied by the middleware


@pytest.mark.parametrize("text, reason", [
    (table(rules={**RULES, "x": "rule:nope"}), "rule 'x': unknown rule 'rule:nope'"),
    (table(rules={**RULES, "x": "rule:y", "y": "rule:x"}), "refers to itself (x -> y -> x)"),
    (table(rules={**RULES, "x": "role:a and"}), "rule 'x': the expression ends too early"),
    (table(routes={"svc": {"GET /a": "rule:nope"}}), "route 'svc' 'GET /a': unknown rule 'rule:nope'"),
    (table(routes={"svc": {"GET /a": "membr"}}), "route 'svc' 'GET /a': 'membr' is not a check"),
    (table(routes={"svc": {"GET /a": "identity:get_user"}}), "unknown check 'identity:get_user'"),
    (table(routes={"svc": {"GET /a": "owner"}}), "%(user_id)s is not a parameter of this route"),
    (table(routes={"svc": {"GET /a/<id>": "rule:member and owner:x"}}), "unknown check 'owner:x'"),
    (table(routes={"svc": {"HEAD /a": "admin"}}), "HEAD follows GET"),
    (table(routes={"svc": {"FETCH /a": "admin"}}), "expected 'METHOD /path'"),
    (table(routes={"svc": {"GET a": "admin"}}), "expected 'METHOD /path'"),
    (table(routes={"svc": {"GET /a/<bogus:x>": "admin"}}), "not a valid route pattern"),
    (table(routes={"svc": {"GET /a": "admin", "GET  /a": "admin"}}), "listed twice"),
    ("rules:\n  a: 'role:a'\n  a: 'role:b'\nroutes: {}\n", "duplicate key 'a'"),
    ("rules: {}\nroutes: {}\nextra: {}\n", "unknown section 'extra'"),
    ("rules: [1]\nroutes: {}\n", "'rules' must be a mapping"),
    ("rules:\n  a: 5\nroutes: {}\n", "rule 'a': expected a rule expression"),
    ("rules: {}\nroutes:\n  svc: [1]\n", "routes: 'svc' must map"),
    ("rules: {a\n", "not valid YAML at line"),
    ("- 1\n", "expected a mapping"),
])
def test_malformed_tables_are_one_line_config_errors(tmp_path, text, reason):
    assert reason in load_error(tmp_path, text)


def test_missing_file_and_unknown_service(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the policy file"):
        policy.load(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="no table for service 'compute'"):
        policy.load(write(tmp_path, table())).enforcer("compute")


# --- matching ---------------------------------------------------------------------


def test_matching_uses_flask_rule_strings():
    enforcer = policy.load().enforcer("compute")
    detail = enforcer.match("GET", "/v2.1/servers/detail")
    assert detail is not None and detail.route.pattern == "/v2.1/servers/detail"  # static beats <server_id>
    show = enforcer.match("HEAD", "/v2.1/servers/abc")  # HEAD follows GET
    assert show is not None and (show.route.key, dict(show.params)) == \
        ("GET /v2.1/servers/<server_id>", {"server_id": "abc"})
    assert enforcer.match("GET", "/v2.1/servers/") is not None  # trailing slashes do not dodge the table
    assert enforcer.match("PUT", "/v2.1/servers") is None
    assert enforcer.match("GET", "/v2.1/nothing/here") is None
    assert enforcer.match("GET", "/v2.1//servers") is None


def test_unlisted_routes_are_logged_once(caplog):
    enforcer = policy.load().enforcer("image")
    with caplog.at_level(logging.WARNING, logger="identity.policy"):
        for _ in range(3):
            enforcer.unlisted("GET /v2/tasks")
        enforcer.unlisted("GET /v2/members")
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and "GET /v2/tasks" in warnings[0] and "deny by default" in warnings[0]


# --- the middleware ------------------------------------------------------------------


def mint(**claims: Any) -> str:
    now = int(time.time())
    base = {"iss": "top", "aud": ["top"], "sub": "u1", "name": "alice", "domain_id": "default",
            "project_id": "p1", "roles": ["member"], "iat": now, "exp": now + 600, "jti": "j",
            "audit_ids": ["a"], **claims}
    return jwt.encode(base, KEY, algorithm="EdDSA", headers={"kid": "k1"})


@pytest.fixture
def guarded(tmp_path, conf):
    """A small Flask app behind the middleware and a table of its own; returns a test client."""
    app = flask.Flask("guarded", static_folder=None)

    @app.get("/")
    def root() -> dict[str, Any]:
        return {"who": _who()}

    @app.get("/things/<user_id>")
    @app.delete("/things/<user_id>")
    @app.get("/unlisted")
    def things(user_id: str | None = None) -> dict[str, Any]:
        return {"who": _who()}

    def _who() -> str | None:
        context = flask.request.environ.get("cloud.context")
        return context.user_id if context else None

    path = write(tmp_path, table(routes={"svc": {"GET /": "public", "GET /things/<user_id>": "owner",
                                                 "DELETE /things/<user_id>": "admin"}}))
    verifier = TokenVerifier(conf, StaticKeySource({"k1": KEY.public_key()}))
    app.wsgi_app = AuthMiddleware(app.wsgi_app, conf, verifier=verifier,  # type: ignore[method-assign]
                                  enforcer=policy.load(path).enforcer("svc"), url_map=app.url_map)
    return Client(app, Response)


def test_middleware_public_routes_ignore_tokens(guarded):
    assert guarded.get("/").json == {"who": None}
    assert guarded.get("/", headers={"X-Auth-Token": "garbage"}).json == {"who": None}


def test_middleware_enforces_the_route_rule(guarded):
    assert guarded.get("/things/u1").status_code == 401
    assert guarded.get("/things/u1", headers={"X-Auth-Token": "garbage"}).status_code == 401
    assert guarded.get("/things/u1", headers={"X-Auth-Token": mint()}).json == {"who": "u1"}
    assert guarded.head("/things/u1", headers={"X-Auth-Token": mint()}).status_code == 200
    refused = guarded.get("/things/u2", headers={"X-Auth-Token": mint()})
    assert refused.status_code == 403
    assert refused.json == {"error": {"code": 403, "title": "Forbidden", "message":
                                      "Policy doesn't allow GET /things/<user_id> to be performed."}}
    assert guarded.delete("/things/u1", headers={"X-Auth-Token": mint()}).status_code == 403
    admin = mint(sub="boss", roles=["admin"])
    assert guarded.delete("/things/u1", headers={"X-Auth-Token": admin}).status_code == 200


def test_middleware_denies_routes_missing_from_the_table(guarded, caplog):
    token = {"X-Auth-Token": mint(roles=["admin"])}
    assert guarded.get("/unlisted").status_code == 401
    with caplog.at_level(logging.WARNING, logger="identity.policy"):
        for _ in range(2):
            refused = guarded.get("/unlisted", headers=token)
            assert refused.status_code == 403 and "GET /unlisted" in refused.json["error"]["message"]
    assert len([r for r in caplog.records if r.name == "identity.policy"]) == 1


def test_middleware_lets_the_app_answer_for_routes_it_does_not_have(guarded):
    assert guarded.get("/nothing").status_code == 404  # the app's 404, even without a token
    assert guarded.put("/things/u1").status_code == 405
    assert guarded.get("/nothing", headers={"X-Auth-Token": "garbage"}).status_code == 401


def test_middleware_loads_the_table_by_service_name(conf):
    verifier = TokenVerifier(conf, StaticKeySource({"k1": KEY.public_key()}))
    middleware = AuthMiddleware(lambda environ, start_response: [], conf, verifier=verifier,
                                enforcer="identity")
    assert middleware.enforcer is not None and middleware.enforcer.service == "identity"
    with pytest.raises(ConfigError, match="no table for service 'nova'"):
        AuthMiddleware(lambda environ, start_response: [], conf, verifier=verifier, enforcer="nova")
