"""Every resource body endpoint answers malformed input with a Keystone 400, never a 500."""

from __future__ import annotations

import pytest

from tests.unit.identity.resources import admin, assert_error

GARBAGE = [b"", b"null", b"[]", b"{}", b"1", b'"text"', b'{"x": 1}', b'{"a": ', b"\xff\xfe"]


def endpoints(ids):
    demo_user = ids["users"]["demo"]
    return [
        ("POST", "/v3/domains", "domain"), ("PATCH", "/v3/domains/default", "domain"),
        ("POST", "/v3/projects", "project"), ("PATCH", f"/v3/projects/{ids['projects']['demo']}", "project"),
        ("POST", "/v3/users", "user"), ("PATCH", f"/v3/users/{demo_user}", "user"),
        ("POST", f"/v3/users/{ids['users']['admin']}/password", "user"),  # owner only
        ("POST", "/v3/groups", "group"), ("POST", "/v3/roles", "role"),
        ("PATCH", f"/v3/roles/{ids['roles']['reader']}", "role"),
    ]


@pytest.mark.parametrize("payload", GARBAGE)
def test_garbage_bodies(client, ids, payload):
    api = admin(client)
    headers = {"X-Auth-Token": api.token, "Content-Type": "application/json"}
    for method, path, key in endpoints(ids):
        response = api.client.open(path, method=method, data=payload, headers=headers)
        assert_error(response, 400)
        for inner in ("null", "[]", '"x"', "7", '{"name": {"a": 1}}', '{"name": ""}',
                      '{"name": "x", "description": []}'):
            response = api.client.open(path, method=method, data=f'{{"{key}": {inner}}}', headers=headers)
            assert_error(response, 400)


def test_application_credential_garbage(client, ids):
    api = admin(client)
    path = f"/v3/users/{ids['users']['admin']}/application_credentials"
    for payload in GARBAGE + [b'{"application_credential": {"name": "x", "roles": [{"id": 5}]}}',
                              b'{"application_credential": {"name": "x", "unrestricted": "yes"}}',
                              b'{"application_credential": {"name": "x", "expires_at": 5}}']:
        response = api.client.post(path, data=payload, headers={"X-Auth-Token": api.token})
        assert_error(response, 400)


def test_unknown_ids_are_404_in_keystone_format(client):
    api = admin(client)
    for noun in ("domain", "project", "user", "group", "role"):
        assert_error(api.get(f"/v3/{noun}s/0000"), 404, f"Could not find {noun}: 0000.")
        assert_error(api.delete(f"/v3/{noun}s/0000"), 404, f"Could not find {noun}: 0000.")
