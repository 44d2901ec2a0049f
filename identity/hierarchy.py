"""The project tree: a project's ancestors and its subtree, each read in one statement."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from cells.db.identity_models import Project
from identity.roles import ancestors_query

MAX_DEPTH = 1000  # a corrupted cycle cannot loop forever


def parents(session: Session, project_id: str) -> list[Project]:
    """Return the ancestors of ``project_id``, nearest first (the project itself excluded)."""
    tree = ancestors_query(project_id)
    rows = session.execute(sa.select(Project, tree.c.depth).join(tree, tree.c.id == Project.id)
                           .where(tree.c.depth > 0).order_by(tree.c.depth)).all()
    return [row[0] for row in rows]


def subtree(session: Session, project_id: str) -> list[Project]:
    """Return every project below ``project_id`` (the project itself excluded), shallowest first."""
    base = sa.select(Project.id, sa.literal(0).label("depth")).where(Project.parent_id == project_id)
    tree = base.cte("subtree", recursive=True)
    child = aliased(Project)
    tree = tree.union_all(sa.select(child.id, (tree.c.depth + 1).label("depth"))
                          .join(tree, child.parent_id == tree.c.id).where(tree.c.depth < MAX_DEPTH))
    rows = session.execute(sa.select(Project, tree.c.depth).join(tree, tree.c.id == Project.id)
                           .order_by(tree.c.depth, Project.name)).all()
    return [row[0] for row in rows]


def has_children(session: Session, project_id: str) -> bool:
    return session.execute(sa.select(Project.id).where(Project.parent_id == project_id).limit(1)).first() \
        is not None


def parents_as_ids(project: Project, ancestors: list[Project]) -> dict[str, object]:
    """Keystone's nested parents: ``{parent: {grandparent: {domain_id: None}}}``, the domain at the top."""
    nested: dict[str, object] = {project.domain_id: None}
    for ancestor in reversed(ancestors):
        nested = {ancestor.id: nested}
    return nested


def subtree_as_ids(project_id: str, below: list[Project]) -> dict[str, object] | None:
    """Keystone's nested subtree: ``{child: {grandchild: None}, leaf: None}``; None for a leaf."""
    children: dict[str, list[str]] = defaultdict(list)
    for row in below:
        if row.parent_id is not None:
            children[row.parent_id].append(row.id)

    def nest(node: str) -> dict[str, object] | None:
        if not children.get(node):
            return None
        return {child: nest(child) for child in children[node]}

    return nest(project_id)


class Forest:
    """Every project's parent and domain, loaded once, for expanding inherited assignments."""

    def __init__(self, session: Session) -> None:
        self.children: dict[str, list[str]] = defaultdict(list)
        self.by_domain: dict[str, list[str]] = defaultdict(list)
        for pid, parent_id, domain_id in session.execute(
                sa.select(Project.id, Project.parent_id, Project.domain_id).order_by(Project.id)):
            if parent_id is not None:
                self.children[parent_id].append(pid)
            self.by_domain[domain_id].append(pid)

    def below(self, project_id: str) -> list[str]:
        """The ids of every project under ``project_id`` (itself excluded)."""
        found: list[str] = []
        frontier = list(self.children.get(project_id, ()))
        seen: set[str] = set()
        while frontier:
            node = frontier.pop()
            if node in seen:
                continue
            seen.add(node)
            found.append(node)
            frontier.extend(self.children.get(node, ()))
        return found

    def in_domain(self, domain_id: str) -> list[str]:
        return list(self.by_domain.get(domain_id, ()))
