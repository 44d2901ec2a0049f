"""The identity app served by cloud-identity's components on a loopback port, used by real clients."""

from __future__ import annotations

import threading
import time

import pytest
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import generic, v3

from cells.exception import Unauthorized
from identity.middleware import TokenVerifier
from identity.service_token import ServiceToken
from tests.unit.identity.conftest import DEMO_PASSWORD


def test_service_token_logs_in_renews_and_is_thread_safe(conf, served):
    service_token = ServiceToken(conf)
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(service_token.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(tokens) == 8 and len(set(tokens)) == 1  # one login shared by every thread
    ctx = TokenVerifier(conf).verify(tokens[0])  # verified against the served JWKS
    assert ctx.user_name == "top-service" and ctx.project_name == "service" and ctx.roles == ["service"]
    assert service_token.get() == tokens[0]
    # It plans to log in again well before the token runs out (5 minutes of a 1-hour token) ...
    token, renew_at = service_token._current
    assert time.time() + conf.token_ttl - 310 < renew_at < time.time() + conf.token_ttl - 290
    # ... and does so once that moment has come.
    service_token._current = (token, time.time() - 1)
    renewed = service_token.get()
    assert renewed != tokens[0]
    service_token.invalidate()
    assert service_token.get() not in (tokens[0], renewed)


def test_service_token_wrong_password(conf, served, tmp_path):
    open(conf.service_user.password_file, "w").write("not-the-password")
    with pytest.raises(Unauthorized) as info:
        ServiceToken(conf).get()
    assert "top-service" in info.value.message and "not-the-password" not in info.value.message


def test_keystoneauth_password_auth_and_catalog(served):
    for plugin in (v3.Password(auth_url=served + "/v3", username="demo", password=DEMO_PASSWORD,
                               user_domain_id="default", project_name="demo", project_domain_id="default"),
                   generic.Password(auth_url=served, username="demo", password=DEMO_PASSWORD,
                                    user_domain_name="Default", project_name="demo",
                                    project_domain_name="Default")):
        sess = ks_session.Session(auth=plugin)
        token = sess.get_token()
        assert token and token.count(".") == 2
        assert sess.get_endpoint(service_type="compute", interface="public") == "http://127.0.0.1:18774/v2.1"
        assert sess.get_endpoint(service_type="image", interface="internal") == "http://127.0.0.1:19292"
        access = plugin.get_access(sess)
        assert access.project_name == "demo" and access.role_names == ["member"]
    wrong = v3.Password(auth_url=served + "/v3", username="demo", password="wrong",
                        user_domain_id="default", project_name="demo", project_domain_id="default")
    with pytest.raises(ks_exceptions.Unauthorized):
        ks_session.Session(auth=wrong).get_token()


def test_openstack_cli_token_issue(served):
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_AUTH_URL=served + "/v3", OS_USERNAME="demo", OS_PASSWORD=DEMO_PASSWORD,
               OS_PROJECT_NAME="demo", OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
               OS_IDENTITY_API_VERSION="3", OS_CLIENT_CONFIG_FILE="/nonexistent")
    cli = os.path.join(os.path.dirname(sys.executable), "openstack")
    result = subprocess.run([cli, "token", "issue", "-f", "json"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    issued = json.loads(result.stdout)
    assert issued["id"].count(".") == 2 and issued["expires"]
    assert len(issued["project_id"]) == 32 and len(issued["user_id"]) == 32
