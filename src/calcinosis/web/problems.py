"""How the service says no: RFC 9457 problem documents, and the headers on every answer.

One place for the problem document (as a response for the routes and handlers, as bytes
for the ASGI middlewares and the raw HTTP protocol that answer before any route runs),
its OpenAPI schema, and the security headers every response carries.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["PROBLEM_JSON", "PROBLEM_SCHEMA", "SECURITY_HEADERS", "problem", "problem_body"]

PROBLEM_JSON = "application/problem+json"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def problem_body(status: int, title: str, detail: str) -> bytes:
    """An RFC 9457 problem document, encoded (for answers sent before any route runs)."""
    document = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return json.dumps(document, separators=(",", ":")).encode()


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
