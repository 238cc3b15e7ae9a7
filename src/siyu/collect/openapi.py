"""OpenAPI descriptions of the tracking endpoints (the handlers read raw bodies for speed)."""

from __future__ import annotations

from typing import Any

_ID = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
_OBJ: dict[str, Any] = {"type": "object", "additionalProperties": True}
_TS = {"type": "string", "format": "date-time"}

MESSAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["track", "identify", "page", "screen", "group", "alias"]},
        "messageId": {"type": "string", "maxLength": 100},
        "userId": _ID,
        "anonymousId": _ID,
        "event": {"type": "string"},
        "name": {"type": "string"},
        "previousId": _ID,
        "groupId": _ID,
        "properties": _OBJ,
        "traits": _OBJ,
        "context": _OBJ,
        "integrations": _OBJ,
        "timestamp": _TS,
        "originalTimestamp": _TS,
        "sentAt": _TS,
        "writeKey": {"type": "string"},
    },
    "additionalProperties": True,
}

BATCH: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": MESSAGE},
        "context": _OBJ,
        "integrations": _OBJ,
        "sentAt": _TS,
        "writeKey": {"type": "string"},
    },
}

ACCEPTED: dict[str, Any] = {
    "type": "object",
    "required": ["success", "accepted", "rejected"],
    "properties": {
        "success": {"type": "boolean"},
        "accepted": {"type": "integer"},
        "rejected": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"index": {"type": "integer"}, "code": {"type": "string"},
                               "message": {"type": "string"}},
            },
        },
    },
}

ERROR: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
        }
    },
}


def extra(schema: dict[str, Any]) -> dict[str, Any]:
    content = {"application/json": {"schema": schema}, "text/plain": {"schema": schema}}
    err = {"application/json": {"schema": ERROR}}
    return {
        "requestBody": {"required": True, "content": content},
        "responses": {
            "200": {"description": "Accepted and durable", "content": {"application/json": {"schema": ACCEPTED}}},
            "400": {"description": "Malformed or invalid", "content": err},
            "401": {"description": "Missing or invalid write key", "content": err},
            "413": {"description": "Too large", "content": err},
            "415": {"description": "Unsupported encoding", "content": err},
            "429": {"description": "Rate limited (see Retry-After)", "content": err},
            "503": {"description": "Bus unavailable (retry)", "content": err},
        },
        "security": [{"writeKeyBasic": []}, {"sourceBearer": []}, {}],
    }
