"""A daemon's own token: its cell's service account logged in at the cell's identity service, renewed."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import requests

from cells.config import CellConfig
from cells.exception import ConfigError, ServiceUnavailable, Unauthorized


class ServiceToken:
    """The token of the cell's service account, obtained from its identity service and renewed.

    ``get()`` returns a token valid for a while yet, logging in again when a
    quarter of its lifetime (at least 30 s, at most 5 min) is left. Safe to
    share between threads: one thread logs in while the others wait for it.
    """

    def __init__(self, conf: CellConfig, *, timeout: float = 5.0,
                 session: requests.Session | None = None) -> None:
        if conf.service_user is None:
            raise ConfigError("auth.service_user is required for a service token")
        if not conf.identity_url:
            raise ConfigError("auth.identity_url is required for a service token")
        self.user = conf.service_user
        self.url = conf.identity_url.rstrip("/") + "/v3/auth/tokens"
        self.timeout = timeout
        self._session = session or requests.Session()
        self._lock = threading.Lock()
        self._current: tuple[str, float] | None = None  # (token, renew at, epoch seconds)

    def get(self) -> str:
        """Return a valid token; raises Unauthorized if refused, ServiceUnavailable if unreachable."""
        current = self._current
        if current is not None and time.time() < current[1]:
            return current[0]
        with self._lock:
            current = self._current
            if current is not None and time.time() < current[1]:
                return current[0]
            token, expires = self._login()
            now = time.time()
            margin = min(300.0, max(30.0, (expires - now) / 4))
            self._current = (token, max(now, expires - margin))
            return token

    def invalidate(self) -> None:
        """Forget the token (say, after a 401), so the next ``get()`` logs in again."""
        self._current = None

    def _login(self) -> tuple[str, float]:
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.user.name, "domain": {"id": "default"}, "password": self.user.password()}}},
            "scope": {"project": {"name": self.user.project, "domain": {"id": "default"}}},
        }}
        response = None
        for attempt in (1, 2):
            try:
                response = self._session.post(self.url, json=body, timeout=self.timeout)
                break
            except requests.ConnectionError as exc:
                # A pooled keep-alive connection the server has meanwhile closed: try once more.
                if attempt == 2:
                    raise ServiceUnavailable(f"identity service at {self.url} is unreachable "
                                             f"({type(exc).__name__})") from exc
            except requests.RequestException as exc:
                raise ServiceUnavailable(f"identity service at {self.url} is unreachable "
                                         f"({type(exc).__name__})") from exc
        assert response is not None
        if response.status_code in (401, 403, 429):
            raise Unauthorized(f"service user {self.user.name!r} was refused by {self.url}: "
                               f"{_error_message(response)}")
        token = response.headers.get("X-Subject-Token")
        if response.status_code != 201 or not token:
            raise ServiceUnavailable(f"identity service at {self.url} answered {response.status_code}")
        try:
            expires_at = response.json()["token"]["expires_at"]
            expires = _parse_time(expires_at)
        except (ValueError, KeyError, TypeError) as exc:
            raise ServiceUnavailable(f"identity service at {self.url} sent no valid expiry") from exc
        return token, expires


def _parse_time(text: str) -> float:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _error_message(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
