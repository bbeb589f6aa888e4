"""The request bodies and the authentication of the OpenAPI document, from the Segment payload models.

Powertools generates the paths and the answers from the routes; the request bodies are added here from
`featurepulse.ingest.segment` (the routes read the raw body themselves, for throughput and per-event answers,
so Powertools cannot see them).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from featurepulse.ingest.segment import (
    AliasEvent,
    BatchRequest,
    GroupEvent,
    IdentifyEvent,
    PageEvent,
    ScreenEvent,
    TrackEvent,
)

REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "/v1/batch": BatchRequest,
    "/v1/track": TrackEvent,
    "/v1/page": PageEvent,
    "/v1/screen": ScreenEvent,
    "/v1/identify": IdentifyEvent,
    "/v1/group": GroupEvent,
    "/v1/alias": AliasEvent,
}
REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "writeKey"


def request_body_schemas() -> dict[str, Any]:
    """JSON schemas of every request model (and the models they use), keyed by model name."""
    _, top = models_json_schema([(m, "validation") for m in REQUEST_MODELS.values()], ref_template=REF)
    return dict(top.get("$defs", {}))


def add_request_bodies(document: dict[str, Any]) -> dict[str, Any]:
    """Add request bodies and Basic-auth security to a generated OpenAPI document (in place; returned)."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(request_body_schemas())
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "basic",
        "description": "The source's write key as user name, empty password (or `writeKey` in the body).",
    }
    for path, model in REQUEST_MODELS.items():
        operation = document.get("paths", {}).get(path, {}).get("post")
        if operation is None:
            continue
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
        }
        operation["security"] = [{SECURITY_SCHEME: []}, {}]
    return document
