"""A small in-test cloud speaking the real wire formats: Keystone v3 tokens, Compute v2.1, Image v2.

One WSGI app serves all three under path prefixes (/identity, /compute,
/image) on one loopback port. Server state moves one scripted step per
``GET /servers/{id}``, so waits are deterministic without sleeping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

Response = tuple[int, Any, dict[str, str]]
GONE = ("GONE", None, None)


def _error(status: int, kind: str, message: str) -> Response:
    return status, {kind: {"code": status, "message": message}}, {}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeCloud:
    """The WSGI app plus its state; tests read ``requests`` and poke the dicts directly."""

    def __init__(self, *, password: str = "secret", max_limit: int = 3, steps: int = 2,
                 token_ttl: float = 3600.0) -> None:
        self.base = ""
        self.password = password
        self.max_limit = max_limit
        self.steps = steps
        self.token_ttl = token_ttl
        self.lock = threading.Lock()
        self.tokens: set[str] = set()
        self.auth_bodies: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, list[str]], str | None]] = []
        self.servers: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, list[tuple[str, str | None, str | None]]] = {}
        self.flavors: dict[str, dict[str, Any]] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.image_data: dict[str, bytes] = {}
        self.hypervisors: list[dict[str, Any]] = []
        self.cells: list[dict[str, Any]] = []
        # Pre-staging runs, and the states each moves through, one per GET (hosts: cell -> names).
        self.prestages: dict[str, dict[str, Any]] = {}
        self.prestage_plans: dict[str, list[dict[str, Any]]] = {}
        self.cell_hosts: dict[str, list[str]] = {}

    # --- plumbing ---------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        token = environ.get("HTTP_X_AUTH_TOKEN")
        with self.lock:
            self.requests.append((method, path, query, token))
        body = self._read(environ)
        try:
            if path == "/identity/v3/auth/tokens" and method == "POST":
                status, payload, headers = self.issue_token(body)
            elif token not in self.tokens:
                status, payload, headers = 401, {"error": {
                    "code": 401, "title": "Unauthorized",
                    "message": "The request you have made requires authentication."}}, {}
            else:
                with self.lock:
                    status, payload, headers = self.route(method, path, query, body, environ)
        except (KeyError, ValueError, TypeError) as exc:
            status, payload, headers = _error(400, "badRequest", f"Invalid input: {exc}")
        raw = b"" if payload is None else payload.encode() if isinstance(payload, str) else json.dumps(
            payload).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(raw)),
                   "x-openstack-request-id": "req-" + uuid.uuid4().hex[:8], **headers}
        start_response(f"{status} X", list(headers.items()))
        return [raw]

    @staticmethod
    def _read(environ: dict[str, Any]) -> bytes:
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        if length:
            return stream.read(int(length))
        chunks = []
        while chunk := stream.read(65536):
            chunks.append(chunk)
        return b"".join(chunks)

    def catalog(self) -> list[dict[str, Any]]:
        def svc(kind: str, url: str) -> dict[str, Any]:
            return {"type": kind, "name": kind, "id": kind, "endpoints": [
                {"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": url},
                {"interface": "internal", "region": "RegionOne", "url": url + "/internal"},
                {"interface": "public", "region": "RegionTwo", "url": "http://127.0.0.1:9/nowhere"}]}

        return [svc("identity", f"{self.base}/identity/v3"), svc("compute", f"{self.base}/compute/v2.1"),
                svc("image", f"{self.base}/image")]

    def issue_token(self, raw: bytes) -> Response:
        body = json.loads(raw)
        self.auth_bodies.append(body)
        auth = body["auth"]
        user = auth["identity"]["password"]["user"]
        if auth["identity"]["methods"] != ["password"] or user.get("password") != self.password:
            return 401, {"error": {"code": 401, "title": "Unauthorized",
                                   "message": "The request you have made requires authentication."}}, {}
        token = "eyJfake." + uuid.uuid4().hex + ".sig"
        self.tokens.add(token)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.token_ttl)
        expires_at = expires.isoformat().replace("+00:00", "Z")
        payload = {"token": {"methods": ["password"], "expires_at": expires_at,
                             "user": {"id": "u1", "name": user["name"]},
                             "project": {"id": "p1", "name": auth["scope"]["project"].get("name")},
                             "roles": [{"name": "admin"}], "catalog": self.catalog()}}
        return 201, payload, {"X-Subject-Token": token}

    def route(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
              environ: dict[str, Any]) -> Response:
        for pattern, verb, handler in self.ROUTES:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                return handler(self, query, body, *match.groups())
        return _error(404, "itemNotFound", f"No route for {method} {path}")

    # --- compute: servers -----------------------------------------------------------

    def add_server(self, name: str, status: str = "ACTIVE", project: str = "p1", **extra: Any) -> str:
        server_id = str(uuid.uuid4())
        self.servers[server_id] = {
            "id": server_id, "name": name, "status": status, "tenant_id": project, "user_id": "u1",
            "OS-EXT-STS:task_state": None, "OS-EXT-STS:vm_state": status.lower(),
            "OS-EXT-STS:power_state": 1, "flavor": {"id": "f1", "links": []},
            "image": {"id": "i1", "links": []}, "metadata": {}, "created": _now(), "updated": _now(),
            "OS-EXT-SRV-ATTR:host": "host1", **extra}
        return server_id

    def _advance(self, server_id: str) -> None:
        steps = self.pending.get(server_id)
        if not steps:
            return
        status, task, fault = steps.pop(0)
        if status == "GONE":
            del self.servers[server_id]
            return
        server = self.servers[server_id]
        server.update({"status": status, "OS-EXT-STS:task_state": task})
        if fault:
            server["fault"] = {"code": 500, "message": fault}

    def _plan(self, server_id: str, during: tuple[str, str | None], final: tuple[str, str | None, str | None]
              ) -> None:
        self.pending[server_id] = [(*during, None)] * (self.steps - 1) + [final]
        self.servers[server_id].update({"status": during[0], "OS-EXT-STS:task_state": during[1]})

    def list_servers(self, query: dict[str, list[str]], body: bytes) -> Response:
        q = {k: v[0] for k, v in query.items()}
        rows = [s for s in self.servers.values()
                if (q.get("all_tenants") or s["tenant_id"] == "p1")
                and (not q.get("status") or s["status"] == q["status"])
                and (not q.get("name") or re.search(q["name"], s["name"]))]
        if "marker" in q:
            ids = [s["id"] for s in rows]
            if q["marker"] not in ids:
                return _error(400, "badRequest", f"marker [{q['marker']}] not found")
            rows = rows[ids.index(q["marker"]) + 1:]
        limit = min(int(q.get("limit", self.max_limit)), self.max_limit)
        page = rows[:limit]
        payload: dict[str, Any] = {"servers": page}
        if len(page) == limit and page:
            payload["servers_links"] = [{"rel": "next", "href": f"{self.base}/compute/v2.1/servers/detail"
                                         f"?limit={limit}&marker={page[-1]['id']}"}]
        return 200, payload, {}

    def create_server(self, query: dict[str, list[str]], body: bytes) -> Response:
        spec = json.loads(body)["server"]
        if spec["flavorRef"] not in self.flavors:
            return _error(400, "badRequest", f"Flavor {spec['flavorRef']} could not be found.")
        if spec["imageRef"] not in self.images:
            return _error(400, "badRequest", f"Image {spec['imageRef']} could not be found.")
        server_id = self.add_server(spec["name"], status="BUILD", metadata=spec.get("metadata", {}),
                                    flavor={"id": spec["flavorRef"], "links": []},
                                    image={"id": spec["imageRef"], "links": []})
        broken = self.images[spec["imageRef"]]["name"] == "broken"
        self._plan(server_id, ("BUILD", "spawning"),
                   ("ERROR", None, "No valid host was found.") if broken else ("ACTIVE", None, None))
        return 202, {"server": {"id": server_id, "links": [], "adminPass": "pw",
                                "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}]}}, {}

    def show_server(self, query: dict[str, list[str]], body: bytes, server_id: str) -> Response:
        self._advance(server_id)
        if server_id not in self.servers:
            return _error(404, "itemNotFound", f"Instance {server_id} could not be found.")
        return 200, {"server": self.servers[server_id]}, {}

    def delete_server(self, query: dict[str, list[str]], body: bytes, server_id: str) -> Response:
        if server_id not in self.servers:
            return _error(404, "itemNotFound", f"Instance {server_id} could not be found.")
        self._plan(server_id, (self.servers[server_id]["status"], "deleting"), GONE)
        return 204, None, {}

    def server_action(self, query: dict[str, list[str]], body: bytes, server_id: str) -> Response:
        if server_id not in self.servers:
            return _error(404, "itemNotFound", f"Instance {server_id} could not be found.")
        action = json.loads(body)
        server = self.servers[server_id]
        name, allowed, during, final = {
            "os-stop": ("stop", {"ACTIVE", "ERROR"}, (server["status"], "powering-off"), "SHUTOFF"),
            "os-start": ("start", {"SHUTOFF"}, ("SHUTOFF", "powering-on"), "ACTIVE"),
            "reboot": ("reboot", {"ACTIVE", "SHUTOFF"},
                       ("HARD_REBOOT" if (action.get("reboot") or {}).get("type") == "HARD" else "REBOOT",
                        "rebooting"), "ACTIVE"),
        }.get(next(iter(action)), (None, set(), ("", None), ""))
        if name is None:
            return _error(400, "badRequest", f"Unsupported action {next(iter(action))}")
        if server["status"] not in allowed or server["OS-EXT-STS:task_state"]:
            return _error(409, "conflictingRequest", f"Cannot '{name}' instance {server_id} while it is in "
                          f"vm_state {server['OS-EXT-STS:vm_state']}")
        self._plan(server_id, during, (final, None, None))
        return 202, None, {}

    # --- compute: flavors, hypervisors, cells ---------------------------------------------

    def list_flavors(self, query: dict[str, list[str]], body: bytes) -> Response:
        return 200, {"flavors": list(self.flavors.values())}, {}

    def show_flavor(self, query: dict[str, list[str]], body: bytes, flavor_id: str) -> Response:
        if flavor_id not in self.flavors:
            return _error(404, "itemNotFound", f"Flavor {flavor_id} could not be found.")
        return 200, {"flavor": self.flavors[flavor_id]}, {}

    def create_flavor(self, query: dict[str, list[str]], body: bytes) -> Response:
        spec = json.loads(body)["flavor"]
        if any(f["name"] == spec["name"] for f in self.flavors.values()):
            return _error(409, "conflictingRequest", f"Flavor with name {spec['name']} already exists.")
        flavor = {"id": spec.get("id") or str(uuid.uuid4()), "name": spec["name"], "vcpus": spec["vcpus"],
                  "ram": spec["ram"], "disk": spec["disk"], "swap": spec.get("swap", 0),
                  "OS-FLV-EXT-DATA:ephemeral": spec.get("OS-FLV-EXT-DATA:ephemeral", 0),
                  "os-flavor-access:is_public": spec.get("os-flavor-access:is_public", True), "links": []}
        self.flavors[flavor["id"]] = flavor
        return 200, {"flavor": flavor}, {}

    def delete_flavor(self, query: dict[str, list[str]], body: bytes, flavor_id: str) -> Response:
        if self.flavors.pop(flavor_id, None) is None:
            return _error(404, "itemNotFound", f"Flavor {flavor_id} could not be found.")
        return 202, None, {}

    def list_hypervisors(self, query: dict[str, list[str]], body: bytes) -> Response:
        return 200, {"hypervisors": self.hypervisors}, {}

    def list_cells(self, query: dict[str, list[str]], body: bytes) -> Response:
        return 200, {"cells": self.cells}, {}

    # --- compute: os-image-prestages ---------------------------------------------------

    def create_prestage(self, query: dict[str, list[str]], body: bytes) -> Response:
        spec = json.loads(body)["prestage"]
        image = self.images.get(spec["image_id"])
        if image is None:
            return _error(400, "badRequest", f"Image {spec['image_id']} could not be found.")
        if spec["cell"] not in self.cell_hosts:
            return _error(400, "badRequest", f"Cell {spec['cell']} is not a compute cell of this cloud.")
        run = {"id": str(uuid.uuid4()), "image_id": image["id"], "image_name": image["name"],
               "cell": spec["cell"], "status": "queued", "hosts_total": 0, "hosts_done": 0,
               "hosts_failed": 0, "hosts_cached": 0, "from_endpoint": 0, "from_peers": 0, "depth": 0,
               "failures": {}, "error": None, "created_at": _now(), "started_at": None,
               "finished_at": None, "elapsed": None,
               "endpoint_copies": spec.get("endpoint_copies"), "peer_copies": spec.get("peer_copies")}
        self.prestages[run["id"]] = run
        hosts = self.cell_hosts[spec["cell"]]
        broken = image["name"] == "broken"  # its last host fails
        plan: list[dict[str, Any]] = [{}]  # the first look finds it still queued
        for done in range(1, len(hosts) + 1):
            last = done == len(hosts)
            failed = {hosts[-1]: "no answer from the host's agent in 900 s"} if broken and last else {}
            plan.append({"status": "done" if last else "running", "hosts_total": len(hosts),
                         "hosts_done": done - len(failed), "hosts_failed": len(failed), "failures": failed,
                         "from_endpoint": min(done, 2), "from_peers": max(0, done - 2 - len(failed)),
                         "depth": done.bit_length(), "elapsed": float(done)})
        self.prestage_plans[run["id"]] = plan
        return 202, {"prestage": run}, {}

    def show_prestage(self, query: dict[str, list[str]], body: bytes, prestage_id: str) -> Response:
        if prestage_id not in self.prestages:
            return _error(404, "itemNotFound", f"Image pre-staging {prestage_id} could not be found.")
        plan = self.prestage_plans.get(prestage_id)
        if plan:
            self.prestages[prestage_id].update(plan.pop(0))
        return 200, {"prestage": self.prestages[prestage_id]}, {}

    def list_prestages(self, query: dict[str, list[str]], body: bytes) -> Response:
        return 200, {"prestages": list(reversed(self.prestages.values()))}, {}

    # --- image v2 ------------------------------------------------------------------

    def create_image(self, query: dict[str, list[str]], body: bytes) -> Response:
        spec = json.loads(body)
        if spec.get("disk_format") not in ("qcow2", "raw", "iso"):
            return 400, {"message": "Invalid disk format", "code": "400 Bad Request",
                         "title": "Bad Request"}, {}
        image = {**spec, "id": str(uuid.uuid4()), "status": "queued", "size": None, "checksum": None,
                 "visibility": spec.get("visibility", "shared"), "min_disk": 0, "min_ram": 0,
                 "created_at": _now(), "updated_at": _now(), "tags": [], "owner": "p1"}
        image["self"] = f"/v2/images/{image['id']}"
        image["file"] = image["self"] + "/file"
        self.images[image["id"]] = image
        return 201, image, {}

    def list_images(self, query: dict[str, list[str]], body: bytes) -> Response:
        q = {k: v[0] for k, v in query.items()}
        rows = [i for i in self.images.values() if not q.get("name") or i["name"] == q["name"]]
        if "marker" in q:
            rows = rows[[i["id"] for i in rows].index(q["marker"]) + 1:]
        limit = min(int(q.get("limit", self.max_limit)), self.max_limit)
        payload: dict[str, Any] = {"images": rows[:limit], "first": "/v2/images",
                                   "schema": "/v2/schemas/images"}
        if len(rows) > limit:
            extra = f"&name={q['name']}" if q.get("name") else ""
            payload["next"] = f"/v2/images?limit={limit}&marker={rows[limit - 1]['id']}{extra}"
        return 200, payload, {}

    def show_image(self, query: dict[str, list[str]], body: bytes, image_id: str) -> Response:
        if image_id not in self.images:
            # Glance answers 404 in plain text, not JSON.
            return 404, "404 Not Found\n\nThe resource could not be found.\n\n   ", {
                "Content-Type": "text/plain"}
        return 200, self.images[image_id], {}

    def upload_image(self, query: dict[str, list[str]], body: bytes, image_id: str) -> Response:
        image = self.images.get(image_id)
        if image is None:
            return _error(404, "itemNotFound", f"No image found with ID {image_id}")
        if image["status"] != "queued":
            return 409, {"message": "Image status transition from active to saving is not allowed",
                         "code": "409 Conflict", "title": "Conflict"}, {}
        self.image_data[image_id] = body
        image.update(status="active", size=len(body), checksum=hashlib.md5(body).hexdigest())
        return 204, None, {}

    ROUTES: list[tuple[str, str, Callable[..., Response]]] = [
        (r"/compute/v2\.1/servers/detail", "GET", list_servers),
        (r"/compute/v2\.1/servers", "POST", create_server),
        (r"/compute/v2\.1/servers/([^/]+)", "GET", show_server),
        (r"/compute/v2\.1/servers/([^/]+)", "DELETE", delete_server),
        (r"/compute/v2\.1/servers/([^/]+)/action", "POST", server_action),
        (r"/compute/v2\.1/flavors/detail", "GET", list_flavors),
        (r"/compute/v2\.1/flavors", "POST", create_flavor),
        (r"/compute/v2\.1/flavors/([^/]+)", "GET", show_flavor),
        (r"/compute/v2\.1/flavors/([^/]+)", "DELETE", delete_flavor),
        (r"/compute/v2\.1/os-hypervisors/detail", "GET", list_hypervisors),
        (r"/compute/v2\.1/os-cells", "GET", list_cells),
        (r"/compute/v2\.1/os-image-prestages", "POST", create_prestage),
        (r"/compute/v2\.1/os-image-prestages", "GET", list_prestages),
        (r"/compute/v2\.1/os-image-prestages/([^/]+)", "GET", show_prestage),
        (r"/image/v2/images", "POST", create_image),
        (r"/image/v2/images", "GET", list_images),
        (r"/image/v2/images/([^/]+)", "GET", show_image),
        (r"/image/v2/images/([^/]+)/file", "PUT", upload_image),
    ]
