"""The authenticated HTTP session: Keystone v3 password login, token renewal, endpoints, API errors.

``Session(cloud)`` logs in on first use (a project-scoped token and the
service catalog), renews the token shortly before it expires, logs in again
once if a request is refused with 401, finds each service's versioned root
in the catalog (or the cloud's endpoint overrides) and turns every 4xx/5xx
answer into ``CloudApiError`` carrying the API's own message. Tokens and
passwords are never logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from cloudctl.clouds import CloudConfig, CloudConfigError, CloudError

LOG = logging.getLogger(__name__)
USER_AGENT = "cloudctl/0.1"


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
        self.token_data: dict[str, Any] = {}
        self._endpoints: dict[str, str] = {}

    def authenticate(self) -> None:
        """Log in with the password; keeps the token and the service roots from the catalog."""
        c = self.cloud
        user: dict[str, Any] = {"name": c.username, "password": c.password,
                          "domain": {"id": c.user_domain_id} if c.user_domain_id
                          else {"name": c.user_domain_name}}
        project: dict[str, Any] = {"id": c.project_id} if c.project_id else {
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
        return self.request_url(method, self.endpoint(service) + path, **kwargs)

    def root(self, service: str) -> str:
        """Return the unversioned root URL of ``service`` (its endpoint without /v2.1, /v2 or /v3)."""
        return re.sub(r"/v(2(\.1)?|3)/?$", "", self.endpoint(service).rstrip("/"))

    def request_url(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send an authenticated request to an absolute ``url``; raises CloudApiError on 4xx/5xx."""
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

