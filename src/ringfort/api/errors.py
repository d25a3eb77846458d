"""Errors as the API answers them: JSON whose ``detail`` says what to do, ``field`` naming
the field at fault.

A service's refusal maps by its type (ValidationError 400, NotFoundError 404,
ConflictError 409); a request that does not fit its schema is a 422 in the same
shape, and the OpenAPI document describes it so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ringfort.errors import ConflictError, NotFoundError, ValidationError

__all__ = ["ERROR_RESPONSES", "ERROR_SCHEMA", "install_error_answers", "validation_body"]


def install_error_answers(app: FastAPI) -> None:
    """A service's refusal as a 4xx whose ``detail`` says what to do."""

    def answer(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            field = getattr(exc, "field", None)
            body: dict[str, Any] = {"detail": str(exc)}
            if field:
                body["field"] = field
            return JSONResponse(body, status_code=status)

        return handler

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        # A duplicate is both a bad value and a clash (DuplicateRuleError); to an
        # HTTP client it is the clash, 409, as for any other duplicate.
        return await answer(409 if isinstance(exc, ConflictError) else 400)(request, exc)

    async def malformed(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(validation_body(exc.errors()), status_code=422)

    app.add_exception_handler(ValidationError, refused)
    app.add_exception_handler(NotFoundError, answer(404))
    app.add_exception_handler(ConflictError, answer(409))
    app.add_exception_handler(RequestValidationError, malformed)

    async def fault(request: Request, exc: Exception) -> JSONResponse:
        # Still an error in JSON; what went wrong is logged, never shown to the client.
        return JSONResponse(
            {"detail": "internal error; the server's log says what went wrong"}, status_code=500
        )

    app.add_exception_handler(Exception, fault)
    app.openapi = _openapi_with_errors(app)  # type: ignore[method-assign]


def _field_of(location: Sequence[Any]) -> str:
    """``("body", "options", "1")`` as ``options.1``; where the value was is said apart."""
    parts = [str(part) for part in location]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts)


def validation_body(errors: Sequence[Any]) -> dict[str, Any]:
    """A request that does not fit its schema, as one message naming the first field at fault
    (``field``), and every problem in ``errors``."""
    problems = []
    for error in errors:
        location = tuple(error.get("loc", ()))
        field = _field_of(location)
        message = str(error.get("msg", "is not valid"))
        kind = error.get("type")
        if kind == "json_invalid":
            # The location holds the offset of the fault, not a field.
            where = location[1] if len(location) > 1 else "?"
            field, message = "body", f"the body is not valid JSON (at character {where})"
        elif location == ("body",) and kind == "missing":
            message = "a JSON body is required"
        elif location == ("body",) and kind in ("dict_type", "model_attributes_type"):
            message = "the body must be a JSON object"
        problems.append(
            {
                "field": field,
                "in": str(location[0]) if location else "request",
                "message": message,
            }
        )
    first = problems[0] if problems else {"field": "", "message": "the request is not valid"}
    named = first["field"] and first["field"] != "body"
    return {
        "detail": f"{first['field']}: {first['message']}" if named else first["message"],
        "field": first["field"],
        "errors": problems,
    }


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "What is wrong, and what to do about it."},
        "field": {"type": "string", "description": "The field at fault, when one is."},
        "errors": {
            "type": "array",
            "description": "Every problem of a request that does not fit its schema.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "in": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
"""What every 4xx answer holds; the OpenAPI document says so for 422 too."""


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "A value is not acceptable; `field` names it.",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    },
    404: {
        "description": "No such object.",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    },
    409: {
        "description": "The change clashes with another object.",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    },
}
"""The answers a router of a resource may give besides its own, for its OpenAPI entry."""


def _openapi_with_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, with the 422 answer described as the app sends it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            schemas = document.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = ERROR_SCHEMA
                schemas.pop("ValidationError", None)
            app.openapi_schema = document
        return app.openapi_schema

    return openapi
