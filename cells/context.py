"""RequestContext: who asks, for which project, with which roles, under which request id.

It travels with every RPC message as a plain dict. The caller's token never
does: services act on the context's identity, and secrets stay out of
messages and logs.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any


def new_request_id() -> str:
    return "req-" + str(uuid.uuid4())


@dataclass
class RequestContext:
    user_id: str | None = None
    project_id: str | None = None
    roles: list[str] = field(default_factory=list)
    request_id: str = field(default_factory=new_request_id)
    user_name: str | None = None
    project_name: str | None = None
    domain_id: str | None = None
    cell_path: str | None = None
    audit_ids: list[str] = field(default_factory=list)
    # The cell whose identity service issued the caller's token (None: not from a token).
    issuer: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_service(self) -> bool:
        return "service" in self.roles

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestContext:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @classmethod
    def admin(cls, cell_path: str | None = None) -> RequestContext:
        """A context for a service acting on its own behalf (periodic tasks, healing)."""
        return cls(user_id="system", project_id=None, roles=["admin", "service"], cell_path=cell_path)
