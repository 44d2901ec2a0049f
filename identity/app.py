"""The identity WSGI application (Keystone v3 wire format)."""

from __future__ import annotations

import dataclasses

import flask

from cells.config import CellConfig
from cells.context import new_request_id
from cells.db.engine import DATABASES, Database
from cells.exception import ConfigError
from identity import errors
from identity.auth import LockoutPolicy
from identity.catalog import build_catalog
from identity.handlers import (
    application_credentials,
    assignments,
    auth_scopes,
    domains,
    groups,
    jwks,
    projects,
    revoke,
    roles,
    tokens,
    users,
    versions,
)
from identity.keys import KeyRepository, RepositoryKeySource
from identity.middleware import AuthMiddleware, TokenVerifier
from identity.revocation_local import DatabaseRevocations
from identity.service import EXTENSION, IdentityService

MAX_BODY_BYTES = 64 * 1024


def create_app(conf: CellConfig, db: Database | None = None, *,
               lockout: LockoutPolicy | None = None) -> flask.Flask:
    """Return the identity app of the cell; creates the key repository on first use.

    Raises ConfigError if the cell has no key repository configured.
    """
    if not conf.key_repository:
        raise ConfigError("identity.key_repository is required")
    db = db or DATABASES.get(conf.database_url, pool_size=conf.db_pool_size,
                             max_overflow=conf.db_max_overflow, deadlock_retries=conf.deadlock_retries)
    keys = KeyRepository(conf.key_repository)
    keys.ensure()
    # Callers of GET/DELETE /v3/auth/tokens present tokens of this very service: checked locally.
    # ... and against its own revocation events, read from its database (no HTTP to itself).
    revocations = DatabaseRevocations(conf.path, db)
    verifier = TokenVerifier(dataclasses.replace(conf, trusted_issuers=()), RepositoryKeySource(keys),
                             revocations={conf.path: revocations})
    app = flask.Flask("identity", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.url_map.strict_slashes = False
    app.extensions[EXTENSION] = IdentityService(conf=conf, db=db, keys=keys, verifier=verifier,
                                                revocations=revocations,
                                                catalog=build_catalog(conf),
                                                lockout=lockout or LockoutPolicy(
                                                    conf.lockout_failures, int(conf.lockout_duration)))
    for module in (versions, tokens, jwks, auth_scopes, revoke):
        app.register_blueprint(module.bp)
    for module in (domains, projects, users, groups, roles, assignments, application_credentials):
        app.register_blueprint(module.bp)
    errors.register(app)

    @app.after_request
    def _request_id(response: flask.Response) -> flask.Response:
        response.headers["x-openstack-request-id"] = new_request_id()
        return response

    # Every route is checked against the policy table; callers are verified locally.
    app.wsgi_app = AuthMiddleware(app.wsgi_app, conf, verifier=verifier,  # type: ignore[method-assign]
                                  enforcer="identity", url_map=app.url_map)
    return app
