"""Cell paths and routing: which neighbour a message for a path goes to next.

A cell is addressed by its path from the root, names joined by '!', for
example ``top!geneva!geneva-a``. Pure functions, no I/O.
"""

from __future__ import annotations

SEPARATOR = "!"


def join(parent: str, name: str) -> str:
    """Return the path of child ``name`` under ``parent``."""
    return f"{parent}{SEPARATOR}{name}"


def split(path: str) -> list[str]:
    """Return the names along ``path``; raises ValueError on an empty component."""
    names = path.split(SEPARATOR)
    if not all(names):
        raise ValueError(f"malformed cell path {path!r}")
    return names


def parent_of(path: str) -> str | None:
    """Return the parent's path, or None for the root."""
    head, sep, _ = path.rpartition(SEPARATOR)
    return head if sep else None


def is_below(path: str, ancestor: str) -> bool:
    """True if ``path`` is ``ancestor`` itself or lies in its subtree."""
    return path == ancestor or path.startswith(ancestor + SEPARATOR)


def next_hop(here: str, target: str) -> str | None:
    """Return the neighbour of ``here`` on the way to ``target``.

    None means the target is ``here``. A target outside ``here``'s subtree
    goes to the parent; one inside goes to the child on its path.
    """
    if target == here:
        return None
    if not is_below(target, here):
        parent = parent_of(here)
        if parent is None:
            raise ValueError(f"cell {target!r} is not in the tree rooted at {here!r}")
        return parent
    rest = target[len(here) + 1 :]
    return join(here, rest.split(SEPARATOR, 1)[0])
