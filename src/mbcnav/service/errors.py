"""Every error of the service as a FHIR OperationOutcome with the right status, never a traceback."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mbcnav.outcome import operation_outcome

FHIR_JSON = "application/fhir+json"

# HTTP status -> FHIR IssueType (http://hl7.org/fhir/issue-type)
_ISSUE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    500: "exception",
    503: "transient",
}


class ApiError(Exception):
    """An error the service reports as an OperationOutcome: status, message, and the problems (location, message)."""

    def __init__(
        self, status: int, message: str, problems: list[Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []
        self.headers = headers or {}


def outcome_response(
    status: int, message: str, problems: list[Any] | tuple[Any, ...] = (), headers: dict[str, str] | None = None
) -> JSONResponse:
    doc = operation_outcome(message, problems, _ISSUE.get(status, "processing"))
    return JSONResponse(doc, status_code=status, media_type=FHIR_JSON, headers=headers)


OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string"},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can give (each an OperationOutcome)."""
    described = {
        400: "Malformed request",
        401: "No token, or a token that is expired or untrusted",
        403: "Signed in, but not allowed to see this",
        404: "No such patient",
        413: "Body too large",
        415: "Unsupported content type",
        422: "The record cannot be used",
        429: "Too many requests",
        503: "A part of the service is not ready (e.g. no trial store)",
    }
    return {
        c: {"description": described.get(c, "Error"), "content": {FHIR_JSON: {"schema": OUTCOME_SCHEMA}}} for c in codes
    }


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return outcome_response(exc.status, exc.message, exc.problems, exc.headers)


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = {404: "no such route", 405: "method not allowed on this route"}.get(exc.status_code, str(exc.detail))
    return outcome_response(exc.status_code, message, headers=getattr(exc, "headers", None))


class _Problem:
    def __init__(self, location: str, message: str) -> None:
        self.location = location
        self.message = message


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        _Problem(".".join(str(x) for x in e.get("loc", ())), str(e.get("msg", "invalid"))[:200])
        for e in exc.errors()[:20]
    ]
    return outcome_response(400, "the request is malformed", problems)
