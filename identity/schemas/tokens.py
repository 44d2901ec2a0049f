"""Schema of POST /v3/auth/tokens (Keystone v3: password, token and application_credential methods)."""

from __future__ import annotations

from typing import Any

_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
_ID_OR_NAME = {"anyOf": [{"required": ["id"]}, {"required": ["name"]}]}

DOMAIN: dict[str, Any] = {
    "type": "object",
    "properties": {"id": _ID, "name": _NAME},
    **_ID_OR_NAME,
}

USER: dict[str, Any] = {
    "type": "object",
    "required": ["password"],
    "properties": {
        "id": _ID,
        "name": _NAME,
        "domain": DOMAIN,
        "password": {"type": "string", "maxLength": 4096},
    },
    **_ID_OR_NAME,
}

TOKEN: dict[str, Any] = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 16384}},
}

# By id, or by name with the owning user (by id, or by name and domain).
APPLICATION_CREDENTIAL: dict[str, Any] = {
    "type": "object",
    "required": ["secret"],
    "properties": {
        "id": _ID,
        "name": _NAME,
        "secret": {"type": "string", "minLength": 1, "maxLength": 4096},
        "user": {"type": "object", "properties": {"id": _ID, "name": _NAME, "domain": DOMAIN},
                 **_ID_OR_NAME},
    },
    "anyOf": [{"required": ["id"]}, {"required": ["name", "user"]}],
}

PROJECT: dict[str, Any] = {
    "type": "object",
    "properties": {"id": _ID, "name": _NAME, "domain": DOMAIN},
    **_ID_OR_NAME,
}

AUTH: dict[str, Any] = {
    "type": "object",
    "required": ["auth"],
    "properties": {
        "auth": {
            "type": "object",
            "required": ["identity"],
            "properties": {
                "identity": {
                    "type": "object",
                    "required": ["methods"],
                    "properties": {
                        "methods": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                        "password": {
                            "type": "object",
                            "required": ["user"],
                            "properties": {"user": USER},
                        },
                        "token": TOKEN,
                        "application_credential": APPLICATION_CREDENTIAL,
                    },
                },
                "scope": {
                    "anyOf": [
                        {"enum": ["unscoped"]},
                        {"type": "object", "properties": {"project": PROJECT, "domain": DOMAIN,
                                                           "system": {"type": "object"}}},
                    ],
                },
            },
        },
    },
}
