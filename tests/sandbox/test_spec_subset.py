"""The carried OpenAPI subset covers every sandbox route, holds no prose and resolves in itself."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from werkzeug.routing import Map, Rule

from sandbox.jira_app import URL_MAP
from sandbox.spec_check import SPEC_HOST, SpecChecker
from sandbox.spec_subset import SUBSET_PATH, make_subset, render, routed_operations

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "make_jira_spec_subset.py"
PROSE = {"description", "summary", "example", "examples"}
ROUTES = routed_operations(URL_MAP)


def _shape(template: str) -> str:
    """Return a path template with every variable, <werkzeug> or {openapi}, as {}."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", template)


def _subset() -> dict[str, Any]:
    return json.loads(SUBSET_PATH.read_text(encoding="utf-8"))


def _walk(node: Any, pointer: str = "#") -> Iterator[tuple[str, str, Any]]:
    """Yield (pointer of the object, key, value) for every key of every object in node."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, f"{pointer}/{index}")
    elif isinstance(node, dict):
        for key, value in node.items():
            yield pointer, key, value
            yield from _walk(value, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")


def _resolves(document: dict[str, Any], ref: str) -> bool:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@pytest.mark.parametrize(("method", "rule"), ROUTES,
                         ids=[f"{m.upper()} {r}" for m, r in ROUTES])
def test_subset_has_the_full_operation_of_every_routed_one(method, rule):
    path = re.sub(r"<[^>]+>", "CHG-1", rule)
    found = SpecChecker().openapi.request_validator.path_finder.find(method, SPEC_HOST + path)
    operation = found.operation.read_value()
    assert (_shape(found.path_result.pattern), bool(operation["responses"])) == (
        _shape(rule), True)


def test_routes_are_read_from_the_sandbox_table():
    assert ("post", "/rest/api/3/issue/<key>/transitions") in ROUTES
    assert all(rule.startswith("/rest/api/3/") for _, rule in ROUTES)


def _prose(node: Any, pointer: str = "#", names: bool = False) -> Iterator[str]:
    """Yield the pointer of every prose or `x-` key, but not property names or JSON data."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _prose(item, f"{pointer}/{index}")
    elif isinstance(node, dict):
        for key, value in node.items():
            if not names and (key in PROSE or key.startswith("x-")):
                yield f"{pointer}/{key}"
            if names or key not in {"default", "enum"}:
                yield from _prose(value, f"{pointer}/{key}",
                                  names=not names and key == "properties")


def test_subset_holds_no_prose():
    assert list(_prose(_subset())) == []


def test_prose_finder_keeps_property_names_and_finds_annotations():
    assert list(_prose(SPEC["components"])) == [
        "#/schemas/Thing/description",
        "#/schemas/Thing/x-showInExample",
        "#/schemas/Thing/properties/description/description",
        "#/schemas/Thing/properties/kind/example",
        "#/schemas/Summary/properties/parent/description",
        "#/securitySchemes/basicAuth/description",
        "#/securitySchemes/OAuth2/description",
    ]


def test_every_ref_resolves_inside_the_subset_and_every_schema_is_used():
    subset = _subset()
    refs = {value for _, key, value in _walk(subset) if key == "$ref"}
    assert [ref for ref in sorted(refs) if not _resolves(subset, ref)] == []
    assert {f"#/components/schemas/{name}" for name in subset["components"]["schemas"]} == {
        ref for ref in refs if ref.startswith("#/components/schemas/")}


def test_committed_subset_is_rendered_as_the_generator_renders():
    text = SUBSET_PATH.read_text(encoding="utf-8")
    assert render(json.loads(text)) == text


SCHEME_SCOPES = {"read:jira-work": "Read.", "write:jira-work": "Write."}
SPEC: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "Jira", "version": "1.0", "description": "About.", "license": {"name": "x"}},
    "servers": [{"url": "https://your-domain.atlassian.net", "description": "The site."}],
    "tags": [{"name": "Things", "description": "Things."}],
    "x-atlassian-narrative": {"documents": []},
    "paths": {
        "/rest/api/3/thing/{thingId}": {
            "get": {
                "summary": "Get thing",
                "description": "Returns a thing.",
                "operationId": "getThing",
                "tags": ["Things"],
                "deprecated": False,
                "x-atlassian-connect-scope": "READ",
                "parameters": [{"name": "thingId", "in": "path", "required": True,
                                "description": "The ID.", "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "Returned if found.", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Thing"},
                        "example": '{"id": 1}',
                        "examples": {"one": {"$ref": "#/components/examples/One"}},
                    }}},
                    "404": {"description": "Returned if not found."},
                },
                "security": [{"basicAuth": []}, {"OAuth2": ["read:jira-work"]}],
            },
            "delete": {"operationId": "deleteThing",
                       "responses": {"204": {"description": "Gone."}}},
        },
        "/rest/api/3/other": {"post": {
            "requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Unused"}}}},
            "responses": {"200": {"description": "OK."}},
        }},
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "description": "A thing.",
                "additionalProperties": False,
                "required": ["description"],
                "x-showInExample": "true",
                "properties": {
                    "description": {"type": "string", "nullable": True,
                                    "description": "The thing's description."},
                    "summary": {"$ref": "#/components/schemas/Summary"},
                    "kind": {"type": "string", "enum": ["a", "b"], "example": "a"},
                    "options": {"type": "object", "default": {"description": "data"}},
                },
            },
            "Summary": {
                "type": "object",
                "externalDocs": {"url": "https://example.com"},
                "properties": {"parent": {"$ref": "#/components/schemas/Summary",
                                          "description": "The parent."}},
            },
            "Unused": {"type": "object"},
        },
        "securitySchemes": {
            "basicAuth": {"type": "http", "scheme": "basic", "description": "Basic auth."},
            "OAuth2": {"type": "oauth2", "description": "OAuth.", "flows": {"authorizationCode": {
                "authorizationUrl": "https://auth", "tokenUrl": "https://token",
                "scopes": SCHEME_SCOPES}}},
        },
    },
}
SUBSET: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "Jira", "version": "1.0"},
    "servers": [{"url": "https://your-domain.atlassian.net"}],
    "paths": {
        "/rest/api/3/thing/{thingId}": {
            "get": {
                "operationId": "getThing",
                "deprecated": False,
                "parameters": [{"name": "thingId", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {
                    "200": {"content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Thing"}}}},
                    "404": {},
                },
                "security": [{"basicAuth": []}, {"OAuth2": ["read:jira-work"]}],
            },
            "delete": {"responses": {}},
        },
        "/rest/api/3/other": {"post": {"responses": {}}},
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "additionalProperties": False,
                "required": ["description"],
                "properties": {
                    "description": {"type": "string", "nullable": True},
                    "summary": {"$ref": "#/components/schemas/Summary"},
                    "kind": {"type": "string", "enum": ["a", "b"]},
                    "options": {"type": "object", "default": {"description": "data"}},
                },
            },
            "Summary": {
                "type": "object",
                "properties": {"parent": {"$ref": "#/components/schemas/Summary"}},
            },
        },
        "securitySchemes": {
            "basicAuth": {"type": "http", "scheme": "basic"},
            "OAuth2": {"type": "oauth2", "flows": {"authorizationCode": {
                "authorizationUrl": "https://auth", "tokenUrl": "https://token",
                "scopes": {"read:jira-work": "Read."}}}},
        },
    },
}


def test_subset_of_a_small_spec_is_exactly_its_served_structure():
    assert make_subset(SPEC, [("get", "/rest/api/3/thing/<key>")]) == SUBSET


def _spec_where_summary_refers_to(ref: str) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    spec["components"]["schemas"]["Thing"]["properties"]["summary"]["$ref"] = ref
    return spec


@pytest.mark.parametrize(
    ("spec", "route", "message"),
    [
        (SPEC, ("get", "/rest/api/3/missing"),
         "the spec has no single operation for GET /rest/api/3/missing"),
        (SPEC, ("put", "/rest/api/3/thing/<key>"),
         "the spec has no single operation for PUT /rest/api/3/thing/<key>"),
        (_spec_where_summary_refers_to("#/components/schemas/Gone"),
         ("get", "/rest/api/3/thing/<key>"),
         "$ref #/components/schemas/Gone does not resolve in the spec"),
        (_spec_where_summary_refers_to("#/paths/~1rest~1api~13~1other"),
         ("get", "/rest/api/3/thing/<key>"),
         "unsupported $ref #/paths/~1rest~1api~13~1other: only #/components/<kind>/<name>"),
    ],
    ids=["route-not-in-spec", "method-not-in-spec", "dangling-ref", "ref-outside-components"],
)
def test_subset_refuses_what_it_cannot_carry(spec, route, message):
    with pytest.raises(ValueError) as raised:
        make_subset(spec, [route])
    assert str(raised.value) == message


def test_routed_operations_are_the_rest_v3_rules_without_implied_head():
    url_map = Map([
        Rule("/rest/api/3/thing/<key>", endpoint="a", methods=["GET"]),
        Rule("/rest/api/3/things", endpoint="b", methods=["GET", "POST"]),
        Rule("/rest/webhooks/1.0/webhook", endpoint="c", methods=["GET"]),
    ])
    assert routed_operations(url_map) == [
        ("get", "/rest/api/3/thing/<key>"),
        ("get", "/rest/api/3/things"),
        ("post", "/rest/api/3/things"),
    ]


def _stale_spec(tmp_path: Path) -> Path:
    """Write a spec with every routed operation, bare: the committed subset is not its subset."""
    paths: dict[str, dict[str, Any]] = {}
    for method, rule in ROUTES:
        template = re.sub(r"<([^>]+)>", r"{\1}", rule)
        paths.setdefault(template, {})[method] = {"responses": {}}
    spec = {"openapi": "3.0.1", "info": {"title": "Jira", "version": "0"}, "paths": paths}
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("spec", "status", "stderr"),
    [
        (lambda tmp: tmp / "missing.json", 2,
         "error: Jira OpenAPI spec not found at {tmp}/missing.json; pass --spec PATH\n"),
        (_stale_spec, 1,
         "sandbox/openapi/jira-rest-v3-subset.json is out of date; "
         "run scripts/make_jira_spec_subset.py\n"),
    ],
    ids=["spec-missing", "subset-stale"],
)
def test_generator_check_fails_clearly(tmp_path, spec, status, stderr):
    done = subprocess.run([sys.executable, str(GENERATOR), "--spec", str(spec(tmp_path)),
                           "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr, done.stdout) == (
        status, stderr.format(tmp=tmp_path), "")
