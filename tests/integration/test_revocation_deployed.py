"""Revocation across the deployed cloud's separate daemons, within the documented bound.

A token revoked at the identity service, or belonging to a user whose
password changed, must be refused by the compute API and the image service
(other processes, verifying offline) within auth.revocation_poll (5 s) plus
one fetch, while other tokens keep working.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

pytestmark = pytest.mark.integration

BOUND = 5.0 + 2.0  # auth.revocation_poll plus one fetch, with slack for a loaded machine


def refused_within(url: str, token: str, bound: float) -> float:
    """Seconds until ``url`` answers 401 to ``token``; fails if it takes longer than ``bound``."""
    started = time.monotonic()
    while True:
        status = requests.get(url, headers={"X-Auth-Token": token}, timeout=30).status_code
        elapsed = time.monotonic() - started
        if status == 401:
            return elapsed
        assert status == 200, status
        assert elapsed < bound, f"{url} still accepts the revoked token after {elapsed:.1f} s"
        time.sleep(0.2)


def test_revoked_token_refused_by_every_daemon_within_the_bound(deployed_cloud):
    revoked, kept = deployed_cloud.token("demo"), deployed_cloud.token("demo")
    servers = deployed_cloud.compute_url + "/servers"
    images = deployed_cloud.image_url + "/v2/images"
    for url in (servers, images):
        for token in (revoked, kept):
            assert requests.get(url, headers={"X-Auth-Token": token}, timeout=30).status_code == 200
    response = requests.delete(deployed_cloud.identity_url + "/auth/tokens", timeout=30,
                               headers={"X-Auth-Token": revoked, "X-Subject-Token": revoked})
    assert response.status_code == 204
    for url in (servers, images):
        refused_within(url, revoked, BOUND)
        assert requests.get(url, headers={"X-Auth-Token": kept}, timeout=30).status_code == 200


def test_password_change_revokes_the_users_tokens(deployed_cloud):
    admin = {"X-Auth-Token": deployed_cloud.token("admin")}
    identity = deployed_cloud.identity_url
    name, old, new = f"pw-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex, uuid.uuid4().hex
    demo_project = requests.get(identity + "/projects?name=demo", headers=admin, timeout=30).json()
    project_id = demo_project["projects"][0]["id"]
    user = requests.post(identity + "/users", headers=admin, timeout=30, json={"user": {
        "name": name, "password": old, "default_project_id": project_id}}).json()["user"]
    roles = requests.get(identity + "/roles?name=member", headers=admin, timeout=30).json()["roles"]
    assert requests.put(f"{identity}/projects/{project_id}/users/{user['id']}/roles/{roles[0]['id']}",
                        headers=admin, timeout=30).status_code == 204

    def login(password: str) -> requests.Response:
        return requests.post(identity + "/auth/tokens", timeout=30, json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {"id": user["id"], "password": password}}},
            "scope": {"project": {"id": project_id}}}})

    token = login(old).headers["X-Subject-Token"]
    servers = deployed_cloud.compute_url + "/servers"
    assert requests.get(servers, headers={"X-Auth-Token": token}, timeout=30).status_code == 200
    changed = requests.post(f"{identity}/users/{user['id']}/password", timeout=30,
                            headers={"X-Auth-Token": token},
                            json={"user": {"original_password": old, "password": new}})
    assert changed.status_code == 204, changed.text
    refused_within(servers, token, BOUND)
    fresh = login(new)
    assert fresh.status_code == 201
    assert requests.get(servers, headers={"X-Auth-Token": fresh.headers["X-Subject-Token"]},
                        timeout=30).status_code == 200
    assert login(old).status_code == 401
