"""The OpenAPI 3.1 document, generated from the routes and the pydantic schemas that
validate them: nothing here is written by hand per route."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from flask import Blueprint, Response, jsonify, render_template
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from affiliates.api.core import ENDPOINTS, Endpoint, api
from affiliates.api.schemas import MAX_ID, Problem

_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
REF = "#/components/schemas/{model}"
# The errors a route can answer, by what it takes: every route checks its key; a route with
# a path id looks it up; one with a body reads it; one with a body or a query validates it;
# every route reads the database, which may not answer.
ALWAYS = {
    401: "Missing or unknown API key; for a signed key, a missing, wrong, stale or used "
    "X-Affiliates-Signature",
    403: "Scope too narrow, or the key's partner is suspended",
    503: "The database does not answer; retry after Retry-After seconds",
}
WITH_PATH = {404: "Unknown id, or not yours"}
WITH_BODY = {
    400: "Malformed request: not JSON, or not an object",
    413: "The request body is over the size limit",
}
VALIDATED = {422: "Validation failed: each error names its field"}
# a path id, as the id columns hold them: out of range is 404, as an unknown id
PATH_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def _path_and_params(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for converter, name in _CONVERTER.findall(rule):
        kind = dict(PATH_ID) if converter == "int" else {"type": "string", "minLength": 1}
        params.append({"name": name, "in": "path", "required": True, "schema": kind})
    return _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule), params


def errors_of(ep: Endpoint) -> dict[int, str]:
    """Every error status `ep` can answer, with what it means there."""
    errors = dict(ALWAYS)
    if _CONVERTER.search(ep.rule):
        errors |= WITH_PATH
    if ep.body is not None:
        errors |= WITH_BODY
    if ep.body is not None or ep.query is not None:
        errors |= VALIDATED
    return dict(sorted((errors | ep.responses).items()))


def _query_params(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    schemas.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _no_null(prop)}
        for name, prop in schema.get("properties", {}).items()
    ]


def _no_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: one left out is unset, and the query string has no null."""
    prop = {key: value for key, value in prop.items() if not (key == "default" and value is None)}
    branches = [branch for branch in prop.pop("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        return {**branches[0], **prop}
    return {**prop, "anyOf": branches} if branches else prop


@cache
def build_document(base_url: str = "/api/v1") -> dict[str, Any]:
    """The whole document."""
    models: list[tuple[type[BaseModel], Any]] = [(Problem, "serialization")]
    for ep in ENDPOINTS:
        if ep.body is not None:
            models.append((ep.body, "validation"))
        if ep.response is not None:
            models.append((ep.response, "serialization"))
    refs, defs = models_json_schema(models, ref_template=REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        path, params = _path_and_params(ep.rule)
        if ep.query is not None:
            params += _query_params(ep.query, schemas)
        operation: dict[str, Any] = {
            "operationId": f"{ep.method.lower()}_{path.strip('/').replace('/', '_')}",
            "summary": ep.summary,
            "parameters": params,
            "security": [{"bearer": []}],
            "x-scopes": ["admin", *ep.scopes],
            "responses": {},
        }
        if ep.body is not None:
            operation["requestBody"] = {
                "required": not ep.body_optional,
                "content": {"application/json": {"schema": refs[(ep.body, "validation")]}},
            }
        ok: dict[str, Any] = {"description": "Success"}
        if ep.response is not None:
            ok["content"] = {ep.content_type: {"schema": refs[(ep.response, "serialization")]}}
        operation["responses"][str(ep.status)] = ok
        problem_ref = refs[(Problem, "serialization")]
        # the HTTP server's own answer (gunicorn's page, before the API reads anything)
        operation["responses"]["414"] = {
            "description": "Request line too long (over 4094 bytes): the HTTP server's page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
        for code, text in errors_of(ep).items():
            if code < 400:  # another success (a repeat's 200): the same body as the first
                operation["responses"][str(code)] = {**ok, "description": text}
                continue
            operation["responses"][str(code)] = {
                "description": text,
                "content": {"application/problem+json": {"schema": problem_ref}},
            }
        paths.setdefault(base_url + path, {})[ep.method.lower()] = operation
    paths[base_url + "/openapi.json"] = {
        "get": {
            "operationId": "get_openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "affiliates API",
            "version": "1.0.0",
            "description": "Affiliate and referral tracking: offers, partners, tracked links, "
            "promo codes, conversions and stats. Money is a decimal string with two places.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@api.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI document for every /api/v1 route (public, like the contract)."""
    return jsonify(build_document())


docs = Blueprint("docs", __name__)


@docs.get("/")
def reference() -> str:
    """A readable API reference, rendered from the same document."""
    document = build_document()
    operations = [
        (path, method.upper(), operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    return render_template(
        "api_reference.html",
        operations=operations,
        schemas=document["components"]["schemas"],
    )
