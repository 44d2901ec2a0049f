"""Keystone's role assignment entries: actor, scope, role and the links to the grant (and membership)."""

from __future__ import annotations

from typing import Any

from identity.role_assignments import Entry, Names
from identity.views.links import url


def _named(kind_id: str, table: dict[str, tuple[str, str]], names: Names) -> dict[str, Any]:
    name, domain_id = table.get(kind_id, ("", ""))
    return {"id": kind_id, "name": name,
            "domain": {"id": domain_id, "name": names.domains.get(domain_id, "")}}


def entry(e: Entry, names: Names | None) -> dict[str, Any]:
    """One element of ``role_assignments``; ``names`` adds names (include_names)."""
    links: dict[str, str] = {}
    body: dict[str, Any] = {}
    if e.project_id:
        body["scope"] = {"project": _named(e.project_id, names.projects, names) if names
                         else {"id": e.project_id}}
    else:
        assert e.domain_id is not None
        body["scope"] = {"domain": {"id": e.domain_id, "name": names.domains.get(e.domain_id, "")}
                         if names else {"id": e.domain_id}}
    if e.source is not None:
        path = f"/{e.source[0]}/{e.source[1]}"
    elif e.project_id:
        path = f"/projects/{e.project_id}"
    else:
        path = f"/domains/{e.domain_id}"
    if e.user_id:
        body["user"] = _named(e.user_id, names.users, names) if names else {"id": e.user_id}
        if e.via_group:
            links["membership"] = url(f"/groups/{e.via_group}/users/{e.user_id}")
            path += f"/groups/{e.via_group}"
        else:
            path += f"/users/{e.user_id}"
    else:
        assert e.group_id is not None
        body["group"] = _named(e.group_id, names.groups, names) if names else {"id": e.group_id}
        path += f"/groups/{e.group_id}"
    body["role"] = ({"id": e.role_id, "name": names.roles.get(e.role_id, "")} if names
                    else {"id": e.role_id})
    path += f"/roles/{e.role_id}"
    if e.inherited:
        body["scope"]["OS-INHERIT:inherited_to"] = "projects"
        path = f"/OS-INHERIT{path}/inherited_to_projects"
    links["assignment"] = url(path)
    body["links"] = links
    return body
