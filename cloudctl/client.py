"""The Python client: clouds.yaml, Keystone v3 password auth, Compute v2.1 and Image v2 over HTTP.

``Client.from_cloud("mycloud")`` reads the cloud's settings the way the
OpenStack tools do, logs in once (project-scoped token, catalog) and offers
typed methods per resource: ``client.servers``, ``client.flavors``,
``client.images``, ``client.hypervisors``, ``client.cells``. Resources are
the wire-format dicts the APIs return. Every HTTP failure raises
``CloudApiError`` carrying the status and the API's own message; tokens and
passwords are never logged or shown.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import requests
import yaml

LOG = logging.getLogger(__name__)
USER_AGENT = "cloudctl/0.1"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
FINAL_STATUSES = frozenset({"ACTIVE", "SHUTOFF", "ERROR"})
Resource = dict[str, Any]
Progress = Callable[[str, float], None]


# --- errors --------------------------------------------------------------------

class CloudError(Exception):
    """Anything that keeps a request from succeeding; ``message`` is fit for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CloudConfigError(CloudError):
    """The cloud's settings are missing or invalid."""


class CloudApiError(CloudError):
    """An API answered with an error status; ``message`` is the API's own message."""

    def __init__(self, status: int, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})"


class NotFound(CloudApiError):
    """No resource with that id (404) or name."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(404, message, request_id)


class AmbiguousName(CloudError):
    """More than one resource carries the name given."""


class WaitTimeout(CloudError):
    """A resource did not reach a final state in time; ``status`` is the last one seen."""

    def __init__(self, message: str, status: str | None) -> None:
        super().__init__(message)
        self.status = status


def error_message(response: requests.Response) -> str:
    """Return the message of an OpenStack error body (Nova, Keystone, Glance styles) or its text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if len(body) == 1:
            inner = next(iter(body.values()))
            if isinstance(inner, dict) and inner.get("message"):
                return str(inner["message"])
        for key in ("message", "error_message", "detail", "title"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    text = re.sub(r"<[^>]+>", " ", response.text or "")
    text = " ".join(text.split())[:500]
    return text or f"HTTP {response.status_code} {response.reason or ''}".strip()


def raise_for_status(response: requests.Response) -> None:
    """Raise NotFound or CloudApiError for any 4xx/5xx response."""
    if response.status_code < 400:
        return
    request_id = (response.headers.get("x-openstack-request-id")
                  or response.headers.get("x-compute-request-id"))
    message = error_message(response)
    if response.status_code == 404:
        raise NotFound(message, request_id)
    raise CloudApiError(response.status_code, message, request_id)


# --- configuration ---------------------------------------------------------------

def config_search_path() -> list[str]:
    """Return the directories searched for clouds.yaml and secure.yaml, in order."""
    return [os.getcwd(), os.path.expanduser("~/.config/openstack"), "/etc/openstack"]


def _find_file(stem: str, override: str | None) -> str | None:
    if override and not os.path.isfile(override):
        raise CloudConfigError(f"{override}: no such file")
    candidates = [override] if override else []
    candidates += [os.path.join(d, stem + ext) for d in config_search_path()
                   for ext in (".yaml", ".yml")]
    return next((c for c in candidates if c and os.path.isfile(c)), None)


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CloudConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("clouds", {}), dict):
        raise CloudConfigError(f"{path}: expected a mapping with a 'clouds' mapping")
    return data


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(
            out.get(key), dict) else value
    return out


@dataclass(frozen=True)
class CloudConfig:
    """How to reach and log in to one cloud; the password never appears in its repr."""

    auth_url: str
    username: str
    password: str = field(repr=False)
    project_name: str | None = None
    project_id: str | None = None
    user_domain_name: str | None = None
    user_domain_id: str | None = None
    project_domain_name: str | None = None
    project_domain_id: str | None = None
    region_name: str | None = None
    interface: str = "public"
    verify: bool | str = True
    timeout: float = 60.0
    endpoint_overrides: Mapping[str, str] = field(default_factory=dict)
    name: str = "envvars"


_AUTH_KEYS = ("auth_url", "username", "password", "project_name", "project_id", "user_domain_name",
              "user_domain_id", "project_domain_name", "project_domain_id")


def cloud_from_dict(name: str, entry: Mapping[str, Any], env: Mapping[str, str] | None = None) -> CloudConfig:
    """Build a CloudConfig from one clouds.yaml entry; raises CloudConfigError when incomplete."""
    env = os.environ if env is None else env
    auth = dict(entry.get("auth") or {})
    auth_type = entry.get("auth_type", "password")
    if auth_type not in ("password", "v3password"):
        raise CloudConfigError(f"cloud {name!r}: auth_type {auth_type!r} is not supported (use password)")
    if not auth.get("password") and env.get("OS_PASSWORD"):
        auth["password"] = env["OS_PASSWORD"]
    missing = [k for k in ("auth_url", "username", "password") if not auth.get(k)]
    if not (auth.get("project_name") or auth.get("project_id")):
        missing.append("project_name")
    if missing:
        raise CloudConfigError(f"cloud {name!r}: missing auth settings: {', '.join(missing)}")
    if not (auth.get("user_domain_name") or auth.get("user_domain_id")):
        auth["user_domain_name"] = auth.get("domain_name") or "Default"
    if not (auth.get("project_domain_name") or auth.get("project_domain_id")):
        auth["project_domain_name"] = auth.get("domain_name") or "Default"
    verify: bool | str = bool(entry.get("verify", True)) and not entry.get("insecure", False)
    if verify and entry.get("cacert"):
        verify = str(entry["cacert"])
    overrides = {k[: -len("_endpoint_override")]: str(v) for k, v in entry.items()
                 if k.endswith("_endpoint_override") and v}
    return CloudConfig(**{k: str(auth[k]) for k in _AUTH_KEYS if auth.get(k)},
                       region_name=entry.get("region_name"),
                       interface=str(entry.get("interface") or entry.get("endpoint_type") or "public"),
                       verify=verify, timeout=float(entry.get("api_timeout") or 60.0),
                       endpoint_overrides=overrides, name=name)


def cloud_from_env(env: Mapping[str, str]) -> CloudConfig:
    """Build a CloudConfig from OS_* environment variables."""
    auth = {k: env[f"OS_{k.upper()}"] for k in _AUTH_KEYS if env.get(f"OS_{k.upper()}")}
    entry: dict[str, Any] = {"auth": auth, "region_name": env.get("OS_REGION_NAME"),
                             "interface": env.get("OS_INTERFACE"), "cacert": env.get("OS_CACERT"),
                             "insecure": env.get("OS_INSECURE", "").lower() in ("1", "true", "yes")}
    return cloud_from_dict("envvars", entry, env)


def load_cloud(name: str | None = None, config_file: str | None = None,
               env: Mapping[str, str] | None = None) -> CloudConfig:
    """Return the settings of cloud ``name`` (or $OS_CLOUD, or OS_* variables, or the only cloud).

    ``config_file`` replaces the search (OS_CLIENT_CONFIG_FILE, ./clouds.yaml,
    ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml); a
    secure.yaml found the same way is merged in. Raises CloudConfigError.
    """
    env = os.environ if env is None else env
    name = name or env.get("OS_CLOUD") or None
    path = config_file or _find_file("clouds", env.get("OS_CLIENT_CONFIG_FILE"))
    clouds: dict[str, Any] = _read_yaml(path).get("clouds", {}) if path else {}
    secure = None if config_file else _find_file("secure", env.get("OS_CLIENT_SECURE_FILE"))
    if secure:
        clouds = _merge(clouds, _read_yaml(secure).get("clouds", {}))
    if name is None:
        if env.get("OS_AUTH_URL"):
            return cloud_from_env(env)
        if len(clouds) != 1:
            raise CloudConfigError("no cloud chosen: pass --os-cloud NAME, set OS_CLOUD, or set OS_AUTH_URL"
                                   f" and friends (clouds found: {', '.join(sorted(clouds)) or 'none'})")
        name = next(iter(clouds))
    if name not in clouds:
        where = path or "no clouds.yaml found"
        raise CloudConfigError(f"cloud {name!r} is not defined ({where})")
    return cloud_from_dict(name, clouds[name], env)


# --- the authenticated HTTP session ------------------------------------------------

def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _service_root(service: str, url: str) -> str:
    """Versioned root of a catalog URL: compute gets /v2.1 and image /v2 when the URL has none."""
    url = url.rstrip("/")
    path = urlsplit(url).path
    if service == "compute" and not re.search(r"/v2(\.1)?(/|$)", path):
        return url + "/v2.1"
    if service == "image" and not re.search(r"/v2$", path):
        return url + "/v2"
    return url


class Session:
    """A requests.Session with a project-scoped token, the catalog, timeouts and one re-login on 401."""

    def __init__(self, cloud: CloudConfig, http: requests.Session | None = None,
                 connect_timeout: float = 10.0) -> None:
        self.cloud = cloud
        self.http = http or requests.Session()
        self.http.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.http.verify = cloud.verify
        self.timeout = (connect_timeout, cloud.timeout)
        self.identity_root = re.sub(r"/v3/?$", "", cloud.auth_url.rstrip("/"))
        self._token: str | None = None
        self._expires: float | None = None
        self._margin = 30.0
        self.token_data: Resource = {}
        self._endpoints: dict[str, str] = {}

    def authenticate(self) -> None:
        """Log in with the password; keeps the token and the service roots from the catalog."""
        c = self.cloud
        user: Resource = {"name": c.username, "password": c.password,
                          "domain": {"id": c.user_domain_id} if c.user_domain_id
                          else {"name": c.user_domain_name}}
        project: Resource = {"id": c.project_id} if c.project_id else {
            "name": c.project_name, "domain": {"id": c.project_domain_id} if c.project_domain_id
            else {"name": c.project_domain_name}}
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                         "scope": {"project": project}}}
        response = self._send("POST", f"{self.identity_root}/v3/auth/tokens", json=body)
        raise_for_status(response)
        token = response.headers.get("X-Subject-Token")
        if not token:
            raise CloudApiError(response.status_code, "identity answered without an X-Subject-Token")
        self._token = token
        self.token_data = response.json().get("token", {})
        self._expires = _parse_time(self.token_data.get("expires_at"))
        # Renew 30 s before expiry, or half-way through a token shorter-lived than a minute.
        self._margin = min(30.0, max(0.0, (self._expires or 0) - time.time()) / 2)
        self._endpoints = {}

    def endpoint(self, service: str) -> str:
        """Return the versioned root URL of ``service`` (compute, image, identity)."""
        if service in self._endpoints:
            return self._endpoints[service]
        override = self.cloud.endpoint_overrides.get(service)
        if override:
            url = override
        elif service == "identity" and not self._token:
            url = self.identity_root + "/v3"
        else:
            self._ensure_token()
            url = self._from_catalog(service)
        self._endpoints[service] = _service_root(service, url)
        return self._endpoints[service]

    def _from_catalog(self, service: str) -> str:
        region, interface = self.cloud.region_name, self.cloud.interface.replace("URL", "")
        for entry in self.token_data.get("catalog") or []:
            if entry.get("type") != service:
                continue
            for ep in entry.get("endpoints", []):
                if ep.get("interface") == interface and (
                        region is None or region in (ep.get("region"), ep.get("region_id"))):
                    return str(ep["url"])
        where = f" in region {region}" if region else ""
        raise CloudConfigError(f"no {interface} {service} endpoint{where} in the service catalog")

    def _ensure_token(self) -> str:
        if self._token is None or (self._expires is not None and self._expires - time.time() < self._margin):
            self.authenticate()
        assert self._token is not None
        return self._token

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        started = time.monotonic()
        try:
            response = self.http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise CloudError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from exc
        LOG.debug("%s %s -> %d (%.1f ms)", method, response.url, response.status_code,
                  (time.monotonic() - started) * 1000)
        return response

    def request(self, service: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send an authenticated request to ``service`` at ``path``; raises CloudApiError on 4xx/5xx."""
        url = self.endpoint(service) + path
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in (1, 2):
            headers["X-Auth-Token"] = self._ensure_token()
            response = self._send(method, url, headers=headers, **kwargs)
            if response.status_code != 401 or attempt == 2 or not _rewind(kwargs.get("data")):
                break
            self._token = None  # revoked or expired early: log in again once
        raise_for_status(response)
        return response


def _rewind(data: Any) -> bool:
    """Make a request body sendable again; False if it is a stream that cannot be rewound."""
    if data is None or isinstance(data, bytes | str):
        return True
    try:
        data.seek(0)
        return True
    except (AttributeError, OSError):
        return False


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


class Hypervisors(_Manager):
    def list(self) -> list[Resource]:
        """Return every hypervisor with its usage (admin)."""
        return list(self._paginate("/os-hypervisors/detail", "hypervisors", {}, None, None))


class Cells(_Manager):
    def list(self) -> list[Resource]:
        """Return the cell tree with capacity (admin): one dict per cell, each with its ``path``."""
        return list(self._get("/os-cells").get("cells", []))


class Client:
    """Entry point: one logged-in session and a manager per resource."""

    def __init__(self, cloud: CloudConfig, http: requests.Session | None = None) -> None:
        self.session = Session(cloud, http)
        self.servers = Servers(self.session)
        self.flavors = Flavors(self.session)
        self.images = Images(self.session)
        self.hypervisors = Hypervisors(self.session)
        self.cells = Cells(self.session)

    @classmethod
    def from_cloud(cls, name: str | None = None, config_file: str | None = None,
                   env: Mapping[str, str] | None = None) -> Client:
        """Return a client for a clouds.yaml cloud (see ``load_cloud``); logs in on first use."""
        return cls(load_cloud(name, config_file, env))
