"""Which cloud to talk to: clouds.yaml, secure.yaml and the OS_* variables, read as the OpenStack tools do.

``load_cloud("mycloud")`` returns a ``CloudConfig``: where to log in, as
whom, and which region, interface and endpoint overrides to use. Nothing
here touches the network. ``CloudError``, the root of every error the
client raises, lives here because the settings are the first thing that
can fail.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml


class CloudError(Exception):
    """Anything that keeps a request from succeeding; ``message`` is fit for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CloudConfigError(CloudError):
    """The cloud's settings are missing or invalid."""


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

