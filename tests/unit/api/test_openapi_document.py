"""The OpenAPI document and the interactive docs: every resource, errors described as sent."""

from __future__ import annotations

import httpx

RESOURCES = (
    "/api/v1/extensions",
    "/api/v1/extensions/{number}",
    "/api/v1/extensions/{number}/password",
    "/api/v1/agents",
    "/api/v1/agents/{number}",
    "/api/v1/queues",
    "/api/v1/queues/{name}",
    "/api/v1/queues/{name}/members",
    "/api/v1/queues/{name}/members/{agent}",
    "/api/v1/menus",
    "/api/v1/menus/{name}",
    "/api/v1/timeconditions",
    "/api/v1/timeconditions/{name}",
    "/api/v1/timeconditions/{name}/check",
    "/api/v1/recording-rules",
    "/api/v1/recording-rules/{rule_id}",
    "/api/v1/cdr",
    "/api/v1/cdr/{uniqueid}",
    "/api/v1/recordings",
    "/api/v1/recordings/{uniqueid}",
    "/api/v1/recordings/{uniqueid}/audio",
    "/api/v1/calls",
    "/api/v1/calls/{uniqueid}",
    "/api/v1/reports/{name}",
    "/api/v1/status",
    "/metrics",
    "/healthz",
    "/readyz",
)


async def test_the_document_describes_every_resource_and_its_errors(
    api: httpx.AsyncClient,
) -> None:
    answer = await api.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    missing = [path for path in RESOURCES if path not in document["paths"]]
    assert not missing
    schemas = document["components"]["schemas"]
    assert set(schemas["HTTPValidationError"]["properties"]) == {"detail", "field", "errors"}
    create = document["paths"]["/api/v1/extensions"]["post"]
    assert {"201", "400", "409", "422"} <= set(create["responses"])
    listing = document["paths"]["/api/v1/cdr"]["get"]
    names = {parameter["name"] for parameter in listing["parameters"]}
    assert {"limit", "offset", "order", "direction", "search", "since", "disposition"} <= names
    order = next(p for p in listing["parameters"] if p["name"] == "order")
    assert "billsec" in order["description"]


async def test_the_interactive_docs_are_served(api: httpx.AsyncClient) -> None:
    docs = await api.get("/api/docs")
    assert docs.status_code == 200
    assert "/api/v1/openapi.json" in docs.text
