"""The Python client: typed methods for Compute v2.1 and Image v2 resources over one session.

``Client.from_cloud("mycloud")`` reads the cloud's settings (``cloudctl.clouds``),
logs in on first use (``cloudctl.session``) and offers a manager per
resource: ``client.servers``, ``client.flavors``, ``client.images``,
``client.hypervisors``, ``client.cells``, ``client.prestages``. Resources are the wire-format
dicts the APIs return. Every HTTP failure raises ``CloudApiError`` carrying
the status and the API's own message. The names of the settings and session
modules are offered here too, so callers need one import.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import requests

from cloudctl.clouds import (
    CloudConfig,
    CloudConfigError,
    CloudError,
    cloud_from_dict,
    cloud_from_env,
    config_search_path,
    load_cloud,
)
from cloudctl.session import USER_AGENT, CloudApiError, NotFound, Session, error_message, raise_for_status

__all__ = [
    "FINAL_STATUSES", "PRESTAGE_FINAL", "USER_AGENT", "UUID_RE", "AmbiguousName", "Cells", "Client",
    "CloudApiError", "CloudConfig", "CloudConfigError", "CloudError", "Flavors", "Hypervisors", "Images",
    "NotFound", "PrestageProgress", "Prestages", "Progress", "Resource", "Servers", "Session",
    "WaitTimeout", "cloud_from_dict", "cloud_from_env", "config_search_path", "error_message",
    "load_cloud", "raise_for_status",
]

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
FINAL_STATUSES = frozenset({"ACTIVE", "SHUTOFF", "ERROR"})
Resource = dict[str, Any]
Progress = Callable[[str, float], None]
PrestageProgress = Callable[[Resource, float], None]
PRESTAGE_FINAL = frozenset({"done", "error"})


class AmbiguousName(CloudError):
    """More than one resource carries the name given."""


class WaitTimeout(CloudError):
    """A resource did not reach a final state in time; ``status`` is the last one seen."""

    def __init__(self, message: str, status: str | None) -> None:
        super().__init__(message)
        self.status = status


def _marker(links: Any) -> str | None:
    """Marker of the rel=next link in a Compute ``*_links`` list, if any."""
    for link in links or []:
        if link.get("rel") == "next":
            return (parse_qs(urlsplit(link.get("href", "")).query).get("marker") or [None])[0]
    return None


# --- resources ------------------------------------------------------------------------

class _Manager:
    service = "compute"

    def __init__(self, session: Session) -> None:
        self.session = session

    def _get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.session.request(self.service, "GET", path, params=clean or None).json()

    def _paginate(self, path: str, key: str, params: Mapping[str, Any], limit: int | None,
                  page_size: int | None) -> Iterator[Resource]:
        """Yield items of a Compute list, following ``<key>_links`` next markers up to ``limit``."""
        marker, count = None, 0
        while True:
            sizes = [x for x in (limit - count if limit else None, page_size) if x]
            body = self._get(path, **params, limit=min(sizes) if sizes else None, marker=marker)
            items = body.get(key, [])
            for item in items:
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return
            next_marker = _marker(body.get(f"{key}_links"))
            if not items or not next_marker or next_marker == marker:
                return
            marker = next_marker


def _pick(kind: str, name: str, matches: list[Resource]) -> Resource:
    if not matches:
        raise NotFound(f"No {kind} with a name or ID of '{name}' exists.")
    if len(matches) > 1:
        raise AmbiguousName(f"More than one {kind} exists with the name '{name}'; use its ID.")
    return matches[0]


class Servers(_Manager):
    """Compute v2.1 servers and their actions."""

    def create(self, name: str, flavor_id: str, image_id: str, metadata: Mapping[str, str] | None = None,
               **extra: Any) -> Resource:
        """Ask for a server; returns the 202 body's server (id, links); poll with wait_for."""
        body = {"server": {"name": name, "flavorRef": flavor_id, "imageRef": image_id,
                           "metadata": dict(metadata or {}), **extra}}
        return self.session.request("compute", "POST", "/servers", json=body).json()["server"]

    def iter(self, *, all_projects: bool = False, status: str | None = None, name: str | None = None,
             limit: int | None = None, page_size: int | None = None, **filters: Any) -> Iterator[Resource]:
        """Yield servers (detail view) across pages, at most ``limit``."""
        params = {**filters, "status": status, "name": name, "all_tenants": 1 if all_projects else None}
        yield from self._paginate("/servers/detail", "servers", params, limit, page_size)

    def list(self, **kwargs: Any) -> list[Resource]:
        """Return servers (see ``iter`` for the filters)."""
        return list(self.iter(**kwargs))

    def get(self, server_id: str) -> Resource:
        """Return one server; raises NotFound."""
        return self._get(f"/servers/{server_id}")["server"]

    def find(self, name_or_id: str, all_projects: bool = False) -> Resource:
        """Return the server with this id or exact name; raises NotFound or AmbiguousName."""
        if UUID_RE.match(name_or_id):
            try:
                return self.get(name_or_id)
            except NotFound:
                pass
        # The API's name filter may match substrings (Nova: regex); keep exact matches only.
        matches = [s for s in self.iter(name=name_or_id, all_projects=all_projects)
                   if s.get("name") == name_or_id]
        return _pick("server", name_or_id, matches)

    def delete(self, server_id: str) -> None:
        self.session.request("compute", "DELETE", f"/servers/{server_id}")

    def _action(self, server_id: str, body: Resource) -> None:
        self.session.request("compute", "POST", f"/servers/{server_id}/action", json=body)

    def start(self, server_id: str) -> None:
        self._action(server_id, {"os-start": None})

    def stop(self, server_id: str) -> None:
        self._action(server_id, {"os-stop": None})

    def reboot(self, server_id: str, hard: bool = False) -> None:
        self._action(server_id, {"reboot": {"type": "HARD" if hard else "SOFT"}})

    def create_image(self, server_id: str, name: str, metadata: Mapping[str, str] | None = None) -> str:
        """Snapshot the server into a new image; returns the image's id (poll with images.wait_for)."""
        action: Resource = {"name": name}
        if metadata:
            action["metadata"] = dict(metadata)
        response = self.session.request("compute", "POST", f"/servers/{server_id}/action",
                                        json={"createImage": action})
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("image_id"):
            return str(body["image_id"])  # microversion 2.45 and later
        location = response.headers.get("Location", "")
        if not location:
            raise CloudError("The createImage answer names no image.")
        return location.rstrip("/").rsplit("/", 1)[-1]

    def wait_for(self, server_id: str, statuses: Collection[str], timeout: float = 600.0,
                 interval: float = 0.5, progress: Progress | None = None) -> Resource | None:
        """Poll until the server is idle in one of ``statuses`` or in ERROR; return it.

        Include "DELETED" in ``statuses`` to wait for a delete: the server's
        disappearance then returns None. ``progress(status, elapsed)`` is called
        on each status change. Raises WaitTimeout, or NotFound if the server
        vanishes while not waiting for a delete.
        """
        started, last, delay = time.monotonic(), None, interval
        while True:
            elapsed = time.monotonic() - started
            try:
                server: Resource | None = self.get(server_id)
                status = str(server.get("status", "UNKNOWN")) if server else "UNKNOWN"
            except NotFound:
                if "DELETED" not in statuses:
                    raise
                server, status = None, "DELETED"
            if status != last and progress:
                progress(status, elapsed)
            last = status
            if status == "DELETED":
                if "DELETED" in statuses:
                    return None
                raise NotFound(f"server {server_id} was deleted")
            idle = server is None or not server.get("OS-EXT-STS:task_state")
            if idle and (status in statuses or status == "ERROR"):
                return server
            if elapsed >= timeout:
                raise WaitTimeout(f"server {server_id} still {status} after {timeout:.0f} s", status)
            time.sleep(min(delay, max(0.0, timeout - elapsed)))
            delay = min(delay * 1.5, 5.0)


class Flavors(_Manager):
    """Compute v2.1 flavors."""

    def list(self, limit: int | None = None) -> list[Resource]:
        return list(self._paginate("/flavors/detail", "flavors", {}, limit, None))

    def get(self, flavor_id: str) -> Resource:
        return self._get(f"/flavors/{flavor_id}")["flavor"]

    def find(self, name_or_id: str) -> Resource:
        """Return the flavor with this id or name; raises NotFound or AmbiguousName."""
        try:
            return self.get(name_or_id)
        except NotFound:
            return _pick("flavor", name_or_id, [f for f in self.list() if f.get("name") == name_or_id])

    def create(self, name: str, vcpus: int, ram: int, disk: int, flavor_id: str | None = None,
               ephemeral: int = 0, swap: int = 0, is_public: bool = True) -> Resource:
        """Create a flavor (admin); ram in MiB, disk in GiB; returns it."""
        flavor: Resource = {"name": name, "vcpus": vcpus, "ram": ram, "disk": disk,
                            "OS-FLV-EXT-DATA:ephemeral": ephemeral, "swap": swap,
                            "os-flavor-access:is_public": is_public}
        if flavor_id:
            flavor["id"] = flavor_id
        return self.session.request("compute", "POST", "/flavors", json={"flavor": flavor}).json()["flavor"]

    def delete(self, flavor_id: str) -> None:
        self.session.request("compute", "DELETE", f"/flavors/{flavor_id}")


class Images(_Manager):
    """Image v2 images and their data."""

    service = "image"

    def create(self, name: str, disk_format: str = "qcow2", container_format: str = "bare",
               visibility: str | None = None, properties: Mapping[str, str] | None = None,
               **extra: Any) -> Resource:
        """Register an image (status queued); returns it."""
        body = {**dict(properties or {}), **extra, "name": name, "disk_format": disk_format,
                "container_format": container_format}
        if visibility:
            body["visibility"] = visibility
        return self.session.request("image", "POST", "/images", json=body).json()

    def upload(self, image_id: str, data: str | os.PathLike[str] | IO[bytes]) -> None:
        """Stream a file (path or binary file object) as the image's data."""
        headers = {"Content-Type": "application/octet-stream"}
        if isinstance(data, str | os.PathLike):
            with open(data, "rb") as fh:
                self.session.request("image", "PUT", f"/images/{image_id}/file", data=fh, headers=headers)
        else:
            self.session.request("image", "PUT", f"/images/{image_id}/file", data=data, headers=headers)

    def iter(self, limit: int | None = None, **filters: Any) -> Iterator[Resource]:
        """Yield images across pages (following ``next``), at most ``limit``."""
        params: dict[str, Any] = dict(filters)
        count = 0
        while True:
            body = self._get("/images", **params)
            for image in body.get("images", []):
                yield image
                count += 1
                if limit is not None and count >= limit:
                    return
            query = {k: v[0] for k, v in parse_qs(urlsplit(body.get("next") or "").query).items()}
            if not body.get("images") or not query.get("marker") or query["marker"] == params.get("marker"):
                return
            params = query

    def list(self, **filters: Any) -> list[Resource]:
        return list(self.iter(**filters))

    def get(self, image_id: str) -> Resource:
        return self._get(f"/images/{image_id}")

    def find(self, name_or_id: str) -> Resource:
        """Return the image with this id or name; raises NotFound or AmbiguousName."""
        if UUID_RE.match(name_or_id):
            try:
                return self.get(name_or_id)
            except NotFound:
                pass
        return _pick("image", name_or_id, [i for i in self.iter(name=name_or_id)
                                           if i.get("name") == name_or_id])

    def delete(self, image_id: str) -> None:
        self.session.request("image", "DELETE", f"/images/{image_id}")

    def wait_for(self, image_id: str, timeout: float = 600.0, interval: float = 0.5,
                 progress: Progress | None = None) -> Resource:
        """Poll until the image is active or killed; return it.

        ``progress(status, elapsed)`` is called on each status change. Raises
        WaitTimeout, or NotFound if the image is deleted meanwhile (a snapshot
        that failed deletes its image).
        """
        started, last, delay = time.monotonic(), None, interval
        while True:
            elapsed = time.monotonic() - started
            image = self.get(image_id)
            status = str(image.get("status", "unknown"))
            if status != last and progress:
                progress(status, elapsed)
            last = status
            if status in ("active", "killed"):
                return image
            if elapsed >= timeout:
                raise WaitTimeout(f"image {image_id} still {status} after {timeout:.0f} s", status)
            time.sleep(min(delay, max(0.0, timeout - elapsed)))
            delay = min(delay * 1.5, 5.0)


class Hypervisors(_Manager):
    """Compute v2.1 os-hypervisors (admin); each carries ``cell_path``, our extension."""

    def list(self) -> list[Resource]:
        """Return every hypervisor with its usage (the detail view)."""
        return list(self._paginate("/os-hypervisors/detail", "hypervisors", {}, None, None))


class Cells(_Manager):
    """os-cells (admin; our extension): the cell tree with each cell's capacity."""

    def list(self) -> list[Resource]:
        """Return the cells as the API lists them: ordered by path, each naming its ``parent``.

        Each cell is ``{path, name, parent, type, vcpus_free, ..., reported_at}``
        (docs/architecture.md, "HTTP APIs served"). Raises CloudError if the
        answer is not that document.
        """
        body = self._get("/os-cells")
        cells = body.get("cells") if isinstance(body, dict) else None
        if not isinstance(cells, list) or not all(
                isinstance(c, dict) and isinstance(c.get("path"), str) and "parent" in c for c in cells):
            raise CloudError("the os-cells answer is not a list of cells, each with a path and a parent")
        return cells


class Prestages(_Manager):
    """os-image-prestages (admin; our extension): push an image to every host of a compute cell."""

    def create(self, image_id: str, cell: str, endpoint_copies: int | None = None,
               peer_copies: int | None = None) -> Resource:
        """Start a run of ``image_id`` to the hosts of ``cell`` (a path); returns it (queued).

        ``endpoint_copies`` and ``peer_copies`` (0: no tree), when given, override the
        cell's configuration for this run.
        """
        spec: dict[str, Any] = {"image_id": image_id, "cell": cell}
        for key, value in (("endpoint_copies", endpoint_copies), ("peer_copies", peer_copies)):
            if value is not None:
                spec[key] = value
        body = {"prestage": spec}
        return self.session.request("compute", "POST", "/os-image-prestages", json=body).json()["prestage"]

    def get(self, prestage_id: str) -> Resource:
        """Return one run; raises NotFound."""
        return self._get(f"/os-image-prestages/{prestage_id}")["prestage"]

    def list(self, limit: int | None = None) -> list[Resource]:
        """Return runs, newest first, at most ``limit``."""
        return list(self._paginate("/os-image-prestages", "prestages", {}, limit, None))

    def wait_for(self, prestage_id: str, timeout: float = 3600.0, interval: float = 1.0,
                 progress: PrestageProgress | None = None) -> Resource:
        """Poll until the run is done or in error; returns it.

        ``progress(run, elapsed)`` is called whenever its status or counts change.
        Raises WaitTimeout.
        """
        started, last, delay = time.monotonic(), None, min(interval, 0.5)
        while True:
            elapsed = time.monotonic() - started
            run = self.get(prestage_id)
            seen = tuple(run.get(k) for k in ("status", "hosts_total", "hosts_done", "hosts_failed"))
            if seen != last and progress:
                progress(run, elapsed)
            last = seen
            if run.get("status") in PRESTAGE_FINAL:
                return run
            if elapsed >= timeout:
                raise WaitTimeout(f"pre-staging {prestage_id} still {run.get('status')} after "
                                  f"{timeout:.0f} s", str(run.get("status")))
            time.sleep(min(delay, max(0.0, timeout - elapsed)))
            delay = min(delay * 1.5, interval)


class Client:
    """Entry point: one logged-in session and a manager per resource."""

    def __init__(self, cloud: CloudConfig, http: requests.Session | None = None) -> None:
        self.session = Session(cloud, http)
        self.servers = Servers(self.session)
        self.flavors = Flavors(self.session)
        self.images = Images(self.session)
        self.hypervisors = Hypervisors(self.session)
        self.cells = Cells(self.session)
        self.prestages = Prestages(self.session)

    @classmethod
    def from_cloud(cls, name: str | None = None, config_file: str | None = None,
                   env: Mapping[str, str] | None = None) -> Client:
        """Return a client for a clouds.yaml cloud (see ``load_cloud``); logs in on first use."""
        return cls(load_cloud(name, config_file, env))
