"""The OpenAPI 3.1 document of the control API, built from the endpoint declarations: the
schemas are the pydantic models that validate requests and shape responses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from mc_pipelines.api.endpoint import PATH_PARAMS, Endpoint
from mc_pipelines.api.errors import FIX
from mc_pipelines.api.models import ErrorOut

_REF = "#/components/schemas/{model}"
_DESCRIPTIONS = {400: "refused: the error says what to fix", 401: "missing or wrong service token",
                 404: "not found in this org", 409: "conflicts with the current state",
                 413: "the request body is over the operation's limit",
                 422: "invalid request: each invalid field is named", 500: "internal error",
                 502: "Mailchimp failed"}


def _error(status: int) -> dict[str, Any]:
    return {"description": f"{_DESCRIPTIONS[status]} ({FIX[status]})",
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorOut")}}}}


def _parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": TypeAdapter(PATH_PARAMS[name]).json_schema()}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One `in: query` parameter per field of the query model (its JSON schema inlined)."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required,
             **({"description": prop["description"]} if "description" in prop else {}),
             "schema": {k: v for k, v in prop.items() if k not in ("title", "description")}}
            for name, prop in schema["properties"].items()]


def _file(media_types: tuple[str, ...]) -> dict[str, Any]:
    """Binary content (OpenAPI 3.1: a string whose content is the media type's bytes)."""
    return {media: {"schema": {"type": "string", "contentMediaType": media}} for media in media_types}


def _operation(endpoint: Endpoint, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id, "summary": endpoint.summary,
        "tags": [endpoint.tag] if endpoint.tag else [],
        "parameters": [_parameter(n) for n in endpoint.path_names] +
                      (_query_parameters(endpoint.query) if endpoint.query is not None else []),
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": endpoint.body_required,
            "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}}}
    if endpoint.upload is not None:
        operation["requestBody"] = {
            "required": True, "content": _file(endpoint.upload.media_types),
            "description": f"{endpoint.upload.description} (at most {endpoint.upload.max_bytes} "
                           "bytes, else 413)"}
    ok: dict[str, Any] = {"description": endpoint.summary}
    if endpoint.download is not None:
        ok["description"] = endpoint.download.description or endpoint.summary
        ok["content"] = _file(endpoint.download.media_types)
    elif endpoint.response is not None:
        ok["content"] = {"application/json": {"schema": refs[(endpoint.response, "serialization")]}}
    responses: dict[str, Any] = {str(endpoint.status): ok}
    statuses = {401, 500, *endpoint.errors}
    if endpoint.path_names or endpoint.body is not None or endpoint.query is not None:
        statuses.add(422)
    if endpoint.upload is not None:
        statuses.update((400, 413))
    for status in sorted(statuses):
        responses[str(status)] = _error(status)
    operation["responses"] = responses
    return operation


def openapi_document(endpoints: Iterable[Endpoint], *, title: str = "mc_pipelines control API",
                     version: str = "1") -> dict[str, Any]:
    """The document for `endpoints` (paths prefixed with `/api`)."""
    endpoints = list(endpoints)
    models = {(ErrorOut, "serialization")}
    for endpoint in endpoints:
        if endpoint.body is not None:
            models.add((endpoint.body, "validation"))
        if endpoint.response is not None:
            models.add((endpoint.response, "serialization"))
    ordered = sorted(models, key=lambda m: (m[0].__name__, m[1]))
    refs, schemas = models_json_schema(ordered, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault("/api" + endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": (
            "Operate each org's Mailchimp sync. Every request but this document needs "
            "`Authorization: Bearer <MC_SERVICE_TOKEN>`. Errors are JSON `{error, fix}`.")},
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {}),
                       "securitySchemes": {"serviceToken": {"type": "http", "scheme": "bearer"}}},
        "security": [{"serviceToken": []}],
    }
