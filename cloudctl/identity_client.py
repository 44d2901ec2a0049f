"""The Identity v3 client: projects, users, groups, roles, assignments, application credentials, tokens.

``Identity(session)`` talks to the identity endpoint of a logged-in
``Session`` (the cloud's ``auth_url``, or an ``identity_endpoint_override``)
in Keystone's own wire format, so it works against Keystone as well as our
identity service. Resources are the wire-format dicts; every name-or-id
argument is looked up by id first, then by exact name (``NotFound`` or
``AmbiguousName`` when that does not single one out). ``fetch_jwks`` reads
a JWKS document without logging in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from cloudctl.client import CloudError, NotFound, Resource, Session, raise_for_status
from cloudctl.client import _pick as one  # the same messages as the compute and image lookups

# Keystone ids: 32 hex digits (uuid4().hex), or a dashed UUID.
ID_RE = re.compile(r"^[0-9a-fA-F]{32}$|^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")


def _q(ref: str) -> str:
    return quote(ref, safe="")


class _Collection:
    """One Keystone collection: ``/v3/<plural>`` whose bodies wrap items in ``<singular>``."""

    singular = ""
    plural = ""
    kind = ""

    def __init__(self, api: Identity) -> None:
        self.api = api

    @property
    def path(self) -> str:
        return f"/{self.plural}"

    def list(self, **filters: Any) -> list[Resource]:
        return self.api.list(self.path, self.plural, **filters)

    def get(self, ref_id: str, **params: Any) -> Resource:
        return self.api.get(f"{self.path}/{_q(ref_id)}", **params)[self.singular]

    def find(self, ref: str, **filters: Any) -> Resource:
        """Return the item whose id is ``ref``, else the one named ``ref`` (within ``filters``)."""
        try:
            return self.get(ref)
        except NotFound:
            pass
        matches = [r for r in self.list(name=ref, **filters) if r.get("name") == ref]
        return one(self.kind, ref, matches)

    def create(self, **fields: Any) -> Resource:
        body = {self.singular: {k: v for k, v in fields.items() if v is not None}}
        return self.api.send("POST", self.path, json=body).json()[self.singular]

    def update(self, ref_id: str, **fields: Any) -> Resource:
        body = {self.singular: {k: v for k, v in fields.items() if v is not None}}
        return self.api.send("PATCH", f"{self.path}/{_q(ref_id)}", json=body).json()[self.singular]

    def delete(self, ref_id: str) -> None:
        self.api.send("DELETE", f"{self.path}/{_q(ref_id)}")


class Domains(_Collection):
    singular, plural, kind = "domain", "domains", "domain"


class Projects(_Collection):
    singular, plural, kind = "project", "projects", "project"

    def with_family(self, project_id: str, parents: bool = False, subtree: bool = False) -> Resource:
        """Return the project with ``parents`` and/or ``subtree`` as Keystone lists them."""
        params = {"parents_as_list": "" if parents else None, "subtree_as_list": "" if subtree else None}
        return self.get(project_id, **params)


class Users(_Collection):
    singular, plural, kind = "user", "users", "user"

    def change_password(self, user_id: str, original: str, new: str) -> None:
        """Change a user's own password (Keystone revokes the user's tokens afterwards)."""
        body = {"user": {"password": new, "original_password": original}}
        self.api.send("POST", f"/users/{_q(user_id)}/password", json=body)


class Groups(_Collection):
    singular, plural, kind = "group", "groups", "group"

    def members(self, group_id: str) -> list[Resource]:
        return self.api.list(f"/groups/{_q(group_id)}/users", "users")

    def add_user(self, group_id: str, user_id: str) -> None:
        self.api.send("PUT", f"/groups/{_q(group_id)}/users/{_q(user_id)}")

    def remove_user(self, group_id: str, user_id: str) -> None:
        self.api.send("DELETE", f"/groups/{_q(group_id)}/users/{_q(user_id)}")


class Roles(_Collection):
    singular, plural, kind = "role", "roles", "role"

    @staticmethod
    def grant_path(role_id: str, *, project_id: str | None = None, domain_id: str | None = None,
                   user_id: str | None = None, group_id: str | None = None, inherited: bool = False) -> str:
        """The Keystone URL of one assignment; inherited ones live under OS-INHERIT."""
        if (project_id is None) == (domain_id is None) or (user_id is None) == (group_id is None):
            raise ValueError("an assignment needs exactly one of project/domain and one of user/group")
        target = f"projects/{_q(project_id)}" if project_id else f"domains/{_q(domain_id or '')}"
        actor = f"users/{_q(user_id)}" if user_id else f"groups/{_q(group_id or '')}"
        path = f"/{target}/{actor}/roles/{_q(role_id)}"
        return f"/OS-INHERIT{path}/inherited_to_projects" if inherited else path

    def grant(self, role_id: str, **where: Any) -> None:
        self.api.send("PUT", self.grant_path(role_id, **where))

    def revoke(self, role_id: str, **where: Any) -> None:
        self.api.send("DELETE", self.grant_path(role_id, **where))

    def assignments(self, *, user_id: str | None = None, group_id: str | None = None,
                    project_id: str | None = None, domain_id: str | None = None,
                    role_id: str | None = None, effective: bool = False,
                    names: bool = False) -> list[Resource]:
        """Return GET /v3/role_assignments with Keystone's dotted filters."""
        params = {"user.id": user_id, "group.id": group_id, "scope.project.id": project_id,
                  "scope.domain.id": domain_id, "role.id": role_id,
                  "effective": "" if effective else None, "include_names": "true" if names else None}
        return self.api.list("/role_assignments", "role_assignments", **params)


class AppCredentials:
    """A user's application credentials: ``/v3/users/<user>/application_credentials``."""

    kind = "application credential"

    def __init__(self, api: Identity) -> None:
        self.api = api

    def _path(self, user_id: str, cred_id: str | None = None) -> str:
        path = f"/users/{_q(user_id)}/application_credentials"
        return f"{path}/{_q(cred_id)}" if cred_id else path

    def create(self, user_id: str, name: str, **fields: Any) -> Resource:
        """Create one; the answer carries the ``secret``, which is never shown again."""
        body = {"application_credential": {"name": name,
                                           **{k: v for k, v in fields.items() if v is not None}}}
        return self.api.send("POST", self._path(user_id), json=body).json()["application_credential"]

    def list(self, user_id: str, **filters: Any) -> list[Resource]:
        return self.api.list(self._path(user_id), "application_credentials", **filters)

    def get(self, user_id: str, cred_id: str) -> Resource:
        return self.api.get(self._path(user_id, cred_id))["application_credential"]

    def find(self, user_id: str, ref: str) -> Resource:
        try:
            return self.get(user_id, ref)
        except NotFound:
            pass
        return one(self.kind, ref, [c for c in self.list(user_id, name=ref) if c.get("name") == ref])

    def delete(self, user_id: str, cred_id: str) -> None:
        self.api.send("DELETE", self._path(user_id, cred_id))


class Identity:
    """Entry point: one manager per collection over an authenticated session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.domains = Domains(self)
        self.projects = Projects(self)
        self.users = Users(self)
        self.groups = Groups(self)
        self.roles = Roles(self)
        self.app_credentials = AppCredentials(self)

    def _prefix(self) -> str:
        """'/v3' when the endpoint is the unversioned root (some catalogs list it so)."""
        return "" if re.search(r"/v3/?$", self.session.endpoint("identity")) else "/v3"

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send an authenticated request below /v3; raises CloudApiError on 4xx/5xx."""
        return self.session.request("identity", method, self._prefix() + path, **kwargs)

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.send("GET", path, params=clean or None).json()

    def list(self, path: str, key: str, **filters: Any) -> list[Resource]:
        """Return every item of a collection, following ``links.next`` if the server pages."""
        return list(self._iter(path, key, filters))

    def _iter(self, path: str, key: str, filters: Mapping[str, Any]) -> Iterator[Resource]:
        body = self.get(path, **filters)
        seen: set[str] = set()
        while True:
            yield from body.get(key) or []
            following = (body.get("links") or {}).get("next")
            if not following or following in seen:
                return
            seen.add(following)
            # Keystone's next link is absolute; keep our prefix handling by sending only path and query.
            parts = urlsplit(following)
            root_path = urlsplit(self.session.endpoint("identity")).path.rstrip("/")
            relative = parts.path[len(root_path):] if parts.path.startswith(root_path) else parts.path
            url = relative + (f"?{parts.query}" if parts.query else "")
            body = self.session.request("identity", "GET", url).json()

    # --- the caller's own token ---------------------------------------------------------

    def me(self) -> Resource:
        """Return the session's token body (user, project, roles); logs in if needed."""
        if not self.session.token_data:
            self.session.authenticate()
        return self.session.token_data

    def issue_token(self, project: str | None = None) -> tuple[str, Resource]:
        """Log in again with the cloud's password, scoped to ``project`` (id or name) or the cloud's one.

        Returns (token, token body). A name is looked up in the cloud's project domain.
        """
        c = self.session.cloud
        user: dict[str, Any] = {"name": c.username, "password": c.password,
                                "domain": {"id": c.user_domain_id} if c.user_domain_id
                                else {"name": c.user_domain_name}}
        domain = {"id": c.project_domain_id} if c.project_domain_id else {"name": c.project_domain_name}
        if project is None:
            scope: dict[str, Any] = {"id": c.project_id} if c.project_id else {
                "name": c.project_name, "domain": domain}
        else:
            scope = {"id": project} if ID_RE.match(project) else {"name": project, "domain": domain}
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                         "scope": {"project": scope}}}
        url = self.session.identity_root + "/v3/auth/tokens"
        try:
            response = self.session.http.post(url, json=body, timeout=self.session.timeout)
        except requests.RequestException as exc:
            raise CloudError(f"POST {url} failed: {type(exc).__name__}: {exc}") from exc
        raise_for_status(response)
        token = response.headers.get("X-Subject-Token")
        if not token:
            raise CloudError("identity answered without an X-Subject-Token")
        return token, response.json().get("token", {})

    def revoke_token(self, token: str) -> None:
        """Revoke a token (DELETE /v3/auth/tokens with X-Subject-Token)."""
        self.send("DELETE", "/auth/tokens", headers={"X-Subject-Token": token})


def jwks_url(url: str) -> str:
    """Return the JWKS document URL of an identity endpoint given as its root, /v3 or the JWKS URL."""
    url = url.rstrip("/")
    if url.endswith("/OS-JWKS") or url.endswith("/jwks.json"):
        return url
    return re.sub(r"/v3$", "", url) + "/v3/OS-JWKS"


def fetch_jwks(http: requests.Session, url: str, timeout: float = 10.0) -> list[Resource]:
    """Return the keys of the JWKS document at ``url`` (unauthenticated); raises CloudError."""
    try:
        response = http.get(url, timeout=timeout, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise CloudError(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
    raise_for_status(response)
    try:
        keys = response.json().get("keys")
    except (ValueError, AttributeError):
        keys = None
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise CloudError(f"{url} did not answer with a JWKS document")
    return keys
