"""The identity commands of cloudctl, run in-process against the real identity app on a loopback port."""

from __future__ import annotations

import io
import json

import pytest
import requests

from cloudctl import shell
from cloudctl.commands import identity_common, project, role
from tests.unit.cloudctl.identitycloud import ADMIN_PASSWORD, IdentityCloud


def run(capsys, *argv):
    code = shell.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def first_column(table):
    """The text of a table's first column, row by row (its width is the rule's first dash run)."""
    lines = table.splitlines()
    width = len(lines[1].split(" ")[0])
    return [line[:width].rstrip() for line in lines[2:]]


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "-f", "json")
    assert code == 0, err
    return json.loads(out) if out else None


# --- pure parts ----------------------------------------------------------------------------

def test_build_tree_draws_children_under_parents():
    projects = [{"id": "r", "name": "research", "parent_id": None},
                {"id": "p", "name": "physics", "parent_id": "r"},
                {"id": "d", "name": "detectors", "parent_id": "p"},
                {"id": "b", "name": "biology", "parent_id": "r"},
                {"id": "a", "name": "admin", "parent_id": "default"},  # parent not listed: a root
                {"id": "x", "name": "loop", "parent_id": "x"}]
    rows = project.build_tree(projects)
    assert [(r["prefix"] + r["name"], r["depth"]) for r in rows] == [
        ("admin", 0), ("loop", 0), ("research", 0), ("├─ biology", 1), ("└─ physics", 1),
        ("   └─ detectors", 2)]
    assert [r["prefix"] + r["name"] for r in project.build_tree(projects, "p")] == ["physics", "└─ detectors"]


def test_assignment_row_reads_keystone_assignments():
    row = role.assignment_row({"role": {"id": "r1", "name": "member"}, "group": {"id": "g1"},
                               "scope": {"project": {"id": "p1", "name": "demo"},
                                         "OS-INHERIT:inherited_to": "projects"}})
    assert (row["role_name"], row["group_id"], row["user_id"], row["project_name"], row["inherited"]) == (
        "member", "g1", None, "demo", True)


@pytest.mark.parametrize("argv", [
    ["role", "add", "member", "--user", "demo"],  # no project or domain
    ["role", "add", "member", "--project", "p", "--domain", "d", "--user", "u"],
    ["role", "add", "member", "--project", "p"],  # no user or group
    ["user", "create", "bob", "--password-prompt", "--password-file", "f"],
    ["project", "set", "p", "--enable", "--disable"],
    ["application", "credential", "create", "c", "--expiration", "next tuesday"],
    ["admin", "identity", "rotate-keys"],
    ["admin", "identity", "jwks", "--cell", "/no/such/cell.yaml"],
    ["group", "add", "user", "g"],
    ["user", "create", "bob", "--personal", "--project", "demo"],
])
def test_usage_errors_exit_2(capsys, argv, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", "/no/such/clouds.yaml")
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "usage:" in err


# --- tokens ----------------------------------------------------------------------------------

def test_token_issue_and_revoke(capsys, identity_cloud: IdentityCloud):
    cloud = identity_cloud
    code, out, err = run(capsys, "token", "issue")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["Field", "Value"]
    assert "expires" in out and "admin" in out
    shown = run_json(capsys, "--os-cloud", "demo", "token", "issue")
    assert shown["user_id"] == cloud.ids["users"]["demo"]
    assert shown["project_id"] == cloud.ids["projects"]["demo"] and shown["roles"] == ["member"]
    assert shown["expires"].endswith("Z")
    token = shown["id"]
    check = requests.get(f"{cloud.url}/v3/auth/tokens", timeout=10,
                         headers={"X-Auth-Token": cloud.token(), "X-Subject-Token": token})
    assert check.status_code == 200
    # Scoped by name or by id to a project the admin holds a role on.
    by_name = run_json(capsys, "token", "issue", "--project", "admin")
    assert by_name["project_id"] == cloud.ids["projects"]["admin"]
    by_id = run_json(capsys, "token", "issue", "--project", cloud.ids["projects"]["admin"])
    assert by_id["project_id"] == cloud.ids["projects"]["admin"]
    code, out, err = run(capsys, "--os-cloud", "demo", "token", "issue", "--project", "admin")
    assert code == 1 and out == "" and err.startswith("error: ") and "(HTTP 401)" in err
    assert len(err.splitlines()) == 1

    code, out, err = run(capsys, "token", "revoke", token)
    assert (code, out) == (0, ""), err
    check = requests.get(f"{cloud.url}/v3/auth/tokens", timeout=10,
                         headers={"X-Auth-Token": cloud.token(), "X-Subject-Token": token})
    assert check.status_code == 404


def test_token_revoke_reads_stdin_and_reports_bad_tokens(capsys, identity_cloud, monkeypatch):
    token = run_json(capsys, "--os-cloud", "demo", "token", "issue")["id"]
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    assert run(capsys, "token", "revoke", "-")[0] == 0
    code, out, err = run(capsys, "token", "revoke", "not-a-token")
    assert code == 1 and out == "" and "(HTTP 404)" in err


def test_debug_never_shows_passwords_or_tokens(capsys, identity_cloud):
    code, out, err = run(capsys, "--debug", "token", "issue", "-f", "json")
    assert code == 0
    token = json.loads(out)["id"]
    assert token not in err and ADMIN_PASSWORD not in err


# --- projects ------------------------------------------------------------------------------

def test_project_tree(capsys, identity_cloud):
    assert run(capsys, "project", "create", "research", "--description", "all research")[0] == 0
    assert run(capsys, "project", "create", "physics", "--parent", "research")[0] == 0
    created = run_json(capsys, "project", "create", "detectors", "--parent", "physics")
    assert created["name"] == "detectors" and created["domain_id"] == "default"
    assert run(capsys, "project", "create", "biology", "--parent", "research", "--disable")[0] == 0

    code, out, err = run(capsys, "project", "list", "--tree")
    assert code == 0, err
    names = first_column(out)
    assert names[names.index("research"):names.index("research") + 4] == [
        "research", "├─ biology", "└─ physics", "   └─ detectors"]
    assert {"admin", "demo", "service"} <= set(names)

    code, out, _ = run(capsys, "project", "list", "--tree", "--parent", "physics")
    assert first_column(out) == ["physics", "└─ detectors"]
    tree = run_json(capsys, "project", "list", "--tree", "--parent", "research")
    assert [(p["name"], p["depth"]) for p in tree] == [("research", 0), ("biology", 1), ("physics", 1),
                                                       ("detectors", 2)]
    children = run_json(capsys, "project", "list", "--parent", "research")
    assert sorted(p["name"] for p in children) == ["biology", "physics"]
    assert [p["enabled"] for p in children if p["name"] == "biology"] == [False]

    shown = run_json(capsys, "project", "show", "detectors", "--parents")
    assert [p["name"] for p in shown["parents"]] == ["research", "physics"]
    code, out, _ = run(capsys, "project", "show", "detectors", "--parents")
    assert "research / physics" in out
    shown = run_json(capsys, "project", "show", "research", "--children")
    assert sorted(p["name"] for p in shown["subtree"]) == ["biology", "detectors", "physics"]
    code, out, _ = run(capsys, "project", "show", "research", "--children")
    assert "physics/detectors" in out


def test_project_set_delete_and_errors(capsys, identity_cloud):
    created = run_json(capsys, "project", "create", "tmp")
    shown = run_json(capsys, "project", "set", "tmp", "--name", "scratch", "--disable",
                     "--description", "throwaway")
    assert (shown["id"], shown["name"], shown["enabled"], shown["description"]) == (
        created["id"], "scratch", False, "throwaway")
    assert run_json(capsys, "project", "set", created["id"], "--enable")["enabled"] is True
    code, _, err = run(capsys, "project", "set", "scratch")
    assert code == 1 and "nothing to change" in err

    code, out, err = run(capsys, "project", "show", "nope")
    assert (code, out) == (1, "")
    assert err == "error: No project with a name or ID of 'nope' exists. (HTTP 404)\n"
    code, _, err = run(capsys, "project", "create", "child", "--parent", "nope")
    assert code == 1 and "No project with a name or ID of 'nope'" in err
    code, _, err = run(capsys, "project", "create", "scratch")
    assert code == 1 and "(HTTP 409)" in err

    code, _, err = run(capsys, "project", "delete", "scratch", "ghost")
    assert code == 1 and "error: ghost: No project" in err
    code, _, _ = run(capsys, "project", "show", created["id"])
    assert code == 1


def test_names_in_two_domains_are_ambiguous(capsys, identity_cloud):
    response = identity_cloud.api("POST", "/domains", json={"domain": {"name": "other"}})
    assert response.status_code == 201, response.text
    run_json(capsys, "project", "create", "shared")
    elsewhere = run_json(capsys, "project", "create", "shared", "--domain", "other")
    assert elsewhere["domain_id"] == response.json()["domain"]["id"]
    code, out, err = run(capsys, "project", "show", "shared")
    assert (code, out) == (1, "")
    assert "More than one project exists with the name 'shared'; use its ID." in err
    assert run_json(capsys, "project", "show", elsewhere["id"])["domain_id"] == elsewhere["domain_id"]
    listed = run_json(capsys, "project", "list", "--domain", "other")
    assert [p["name"] for p in listed] == ["shared"]


# --- users and groups ----------------------------------------------------------------------

def test_user_lifecycle_and_own_password(capsys, identity_cloud, tmp_path, monkeypatch):
    cloud = identity_cloud
    secret = tmp_path / "pw"
    secret.write_text("alice-pass-1\n")
    user = run_json(capsys, "user", "create", "alice", "--password-file", str(secret), "--email",
                    "alice@example.org", "--project", "demo", "--description", "physicist")
    assert (user["name"], user["email"], user["default_project_id"], user["enabled"]) == (
        "alice", "alice@example.org", cloud.ids["projects"]["demo"], True)
    assert "password" not in user
    assert run(capsys, "role", "add", "member", "--project", "demo", "--user", "alice")[0] == 0
    cloud.add_cloud("alice", "alice", "alice-pass-1", "demo")
    assert run_json(capsys, "--os-cloud", "alice", "token", "issue")["user_id"] == user["id"]

    listed = run_json(capsys, "user", "list")
    assert {"admin", "demo", "alice", "top-service"} <= {u["name"] for u in listed}
    code, out, _ = run(capsys, "user", "list")
    assert out.splitlines()[0].split()[:3] == ["ID", "Name", "Domain"]
    assert run_json(capsys, "user", "show", "alice")["id"] == user["id"]
    assert run_json(capsys, "user", "set", "alice", "--email", "a@example.org")["email"] == "a@example.org"

    # Her own password: the current one and the new one twice, prompted.
    answers = iter(["alice-pass-1", "alice-pass-2", "alice-pass-2"])
    monkeypatch.setattr(identity_common.getpass, "getpass", lambda prompt="": next(answers))
    code, out, err = run(capsys, "--os-cloud", "alice", "user", "password", "set")
    assert (code, out) == (0, ""), err
    assert "alice-pass" not in err
    code, _, err = run(capsys, "--os-cloud", "alice", "token", "issue")
    assert code == 1 and "(HTTP 401)" in err
    cloud.add_cloud("alice", "alice", "alice-pass-2", "demo")
    assert run(capsys, "--os-cloud", "alice", "token", "issue")[0] == 0

    # A wrong current password changes nothing.
    answers = iter(["wrong-one", "alice-pass-3", "alice-pass-3"])
    code, _, err = run(capsys, "--os-cloud", "alice", "user", "password", "set")
    assert code == 1 and err.startswith("error: ")
    assert run(capsys, "--os-cloud", "alice", "token", "issue")[0] == 0

    # Disabled, she cannot log in; the admin resets her password from a file.
    assert run_json(capsys, "user", "set", "alice", "--disable")["enabled"] is False
    assert run(capsys, "--os-cloud", "alice", "token", "issue")[0] == 1
    secret.write_text("alice-pass-4\n")
    assert run_json(capsys, "user", "set", "alice", "--enable", "--password-file", str(secret))["enabled"]
    cloud.add_cloud("alice", "alice", "alice-pass-4", "demo")
    assert run(capsys, "--os-cloud", "alice", "token", "issue")[0] == 0

    assert run(capsys, "user", "delete", "alice")[0] == 0
    code, _, err = run(capsys, "user", "show", "alice")
    assert code == 1 and "No user with a name or ID of 'alice' exists." in err


def test_user_create_prompts_and_flags(capsys, identity_cloud, monkeypatch):
    answers = iter(["bob-pass-1", "bob-pass-2"])
    monkeypatch.setattr(identity_common.getpass, "getpass", lambda prompt="": next(answers))
    code, out, err = run(capsys, "user", "create", "bob", "--password-prompt")
    assert code == 1 and out == "" and "do not match" in err
    assert run(capsys, "user", "show", "bob")[0] == 1  # nothing was created

    answers = iter(["bob-pass-1", "bob-pass-1"])
    bob = run_json(capsys, "user", "create", "bob", "--password-prompt", "--personal")
    personal = run_json(capsys, "project", "show", "Personal bob")
    assert bob["default_project_id"] == personal["id"]
    assignments = run_json(capsys, "role", "assignment", "list", "--user", "bob", "--names")
    assert ("Personal bob", False) in {(a["project_name"], a["inherited"]) for a in assignments}

    service = run_json(capsys, "user", "create", "cell9-service", "--service", "--project", "service")
    assert service["default_project_id"] == identity_cloud.ids["projects"]["service"]
    code, _, err = run(capsys, "user", "create", "bob")
    assert code == 1 and "(HTTP 409)" in err


def test_groups_and_membership(capsys, identity_cloud):
    run_json(capsys, "user", "create", "carol")
    group = run_json(capsys, "group", "create", "physicists", "--description", "all of them")
    assert group["name"] == "physicists" and group["domain_id"] == "default"
    assert [g["name"] for g in run_json(capsys, "group", "list")] == ["physicists"]
    assert run_json(capsys, "group", "show", "physicists")["id"] == group["id"]

    assert run(capsys, "group", "add", "user", "physicists", "carol", "demo")[0] == 0
    assert sorted(u["name"] for u in run_json(capsys, "group", "members", "physicists")) == ["carol", "demo"]
    code, _, err = run(capsys, "group", "add", "user", "physicists", "nobody")
    assert code == 1 and "error: nobody: No user with a name or ID of 'nobody' exists." in err
    assert run(capsys, "group", "remove", "user", "physicists", "carol")[0] == 0
    assert [u["name"] for u in run_json(capsys, "group", "members", "physicists")] == ["demo"]
    code, _, err = run(capsys, "group", "remove", "user", "physicists", "carol")
    assert code == 1 and "(HTTP 404)" in err

    assert run(capsys, "group", "delete", "physicists")[0] == 0
    assert run_json(capsys, "group", "list") == []


# --- roles and assignments ------------------------------------------------------------------

def test_roles_and_assignments(capsys, identity_cloud):
    cloud = identity_cloud
    created = run_json(capsys, "role", "create", "observer", "--description", "looks only")
    assert {"admin", "member", "reader", "service", "observer"} <= {r["name"] for r in run_json(
        capsys, "role", "list")}
    run_json(capsys, "project", "create", "research")
    run_json(capsys, "project", "create", "physics", "--parent", "research")
    run_json(capsys, "group", "create", "team")
    assert run(capsys, "group", "add", "user", "team", "demo")[0] == 0

    assert run(capsys, "role", "add", "observer", "--project", "research", "--user", "demo")[0] == 0
    assert run(capsys, "role", "add", "reader", "--project", "research", "--group", "team",
               "--inherited")[0] == 0
    direct = run_json(capsys, "role", "assignment", "list", "--user", "demo", "--names")
    assert ("observer", "research", False) in {(a["role_name"], a["project_name"], a["inherited"])
                                               for a in direct}
    inherited = run_json(capsys, "role", "assignment", "list", "--group", "team")
    assert [(a["role_id"], a["project_id"], a["inherited"]) for a in inherited] == [
        (cloud.ids["roles"]["reader"], run_json(capsys, "project", "show", "research")["id"], True)]
    code, out, _ = run(capsys, "role", "assignment", "list", "--group", "team", "--names")
    assert out.splitlines()[0].split() == ["Role", "User", "Group", "Project", "Domain", "Inherited"]
    assert "reader" in out and "team" in out and "research" in out and "True" in out

    # Effective: the group's inherited role reaches demo on the child project.
    effective = run_json(capsys, "role", "assignment", "list", "--user", "demo", "--project", "physics",
                         "--effective", "--names")
    assert [(a["role_name"], a["user_name"]) for a in effective] == [("reader", "demo")]
    demo_physics = run_json(capsys, "--os-cloud", "demo", "token", "issue", "--project", "physics")
    assert demo_physics["roles"] == ["reader"]

    assert run(capsys, "role", "remove", "reader", "--project", "research", "--group", "team",
               "--inherited")[0] == 0
    assert run_json(capsys, "role", "assignment", "list", "--group", "team") == []
    code, _, err = run(capsys, "role", "remove", "reader", "--project", "research", "--group", "team")
    assert code == 1 and "(HTTP 404)" in err
    code, _, err = run(capsys, "role", "add", "nosuchrole", "--project", "demo", "--user", "demo")
    assert code == 1 and "No role with a name or ID of 'nosuchrole' exists." in err

    assert run(capsys, "role", "add", "observer", "--domain", "default", "--user", "demo")[0] == 0
    on_domain = run_json(capsys, "role", "assignment", "list", "--domain", "Default", "--role", "observer")
    assert [(a["user_id"], a["domain_id"]) for a in on_domain] == [(cloud.ids["users"]["demo"], "default")]

    assert run(capsys, "role", "delete", created["id"])[0] == 0
    assert "observer" not in {r["name"] for r in run_json(capsys, "role", "list")}
    assert run_json(capsys, "role", "assignment", "list", "--user", "demo", "--role", "reader") == []


# --- application credentials -----------------------------------------------------------------

def test_application_credentials(capsys, identity_cloud):
    cloud = identity_cloud
    code, out, err = run(capsys, "--os-cloud", "demo", "application", "credential", "create", "ci",
                         "--role", "member", "--expiration", "2999-01-01T00:00:00Z",
                         "--description", "for CI", "-f", "json")
    assert code == 0, err
    cred = json.loads(out)
    assert "shown only now" in err and cred["secret"] not in err
    assert (cred["name"], cred["roles"]) == ("ci", ["member"])
    assert cred["project_id"] == cloud.ids["projects"]["demo"]
    assert cred["expires_at"].startswith("2999-01-01T00:00:00")

    # The secret authenticates (Keystone's application_credential method).
    body = {"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
        "id": cred["id"], "secret": cred["secret"]}}}}
    login = requests.post(f"{cloud.url}/v3/auth/tokens", json=body, timeout=10)
    assert login.status_code == 201, login.text
    assert login.json()["token"]["project"]["id"] == cloud.ids["projects"]["demo"]

    mine = run_json(capsys, "--os-cloud", "demo", "application", "credential", "create", "mine",
                    "--secret", "my-own-secret-1")
    assert mine["secret"] == "my-own-secret-1" and mine["roles"] == ["member"]
    listed = run_json(capsys, "--os-cloud", "demo", "application", "credential", "list")
    assert [c["name"] for c in listed] == ["ci", "mine"] and all("secret" not in c for c in listed)
    shown = run_json(capsys, "--os-cloud", "demo", "application", "credential", "show", "ci")
    assert shown["id"] == cred["id"] and "secret" not in shown
    assert run_json(capsys, "application", "credential", "list") == []  # the admin's own: none

    code, _, err = run(capsys, "--os-cloud", "demo", "application", "credential", "create", "x",
                       "--role", "admin")
    assert code == 1 and "you hold no role 'admin' on demo" in err

    assert run(capsys, "--os-cloud", "demo", "application", "credential", "delete", "ci", "mine")[0] == 0
    assert run_json(capsys, "--os-cloud", "demo", "application", "credential", "list") == []
    login = requests.post(f"{cloud.url}/v3/auth/tokens", json=body, timeout=10)
    assert login.status_code == 401
