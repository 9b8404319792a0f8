"""Cut Atlassian's Jira REST v3 OpenAPI spec down to the structure the sandbox's checks need."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from werkzeug.routing import Map

SUBSET_PATH = Path(__file__).with_name("openapi") / "jira-rest-v3-subset.json"
REST_V3_PREFIX = "/rest/api/3/"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# A Jira operation the sandbox does not serve keeps its path and method, nothing else, so a
# request for it is still told apart from one for an operation Jira does not have.
UNSERVED_OPERATION: dict[str, Any] = {"responses": {}}

# Annotation keywords: documentation only, no effect on what validates. Every `x-` extension
# in Jira's spec is documentation too (scopes, data-security policy, experimental flags).
PROSE = frozenset({"description", "summary", "title", "example", "examples", "externalDocs",
                   "tags"})
# Keys whose value maps names (properties, media types, status codes, ...) to objects: a name
# there is structure, even one spelled "description".
NAME_MAPS = frozenset({"paths", "schemas", "responses", "parameters", "requestBodies",
                       "headers", "securitySchemes", "links", "callbacks", "content",
                       "encoding", "properties", "mapping", "scopes", "variables"})
# Keys whose value is data (JSON values, security requirements), copied as it is.
DATA = frozenset({"default", "enum", "security"})

_RULE_VARIABLE = re.compile(r"<[^>]+>")
_SPEC_VARIABLE = re.compile(r"\{[^}]+\}")


def routed_operations(url_map: Map) -> list[tuple[str, str]]:
    """Return (method, rule) for every REST v3 operation a routing table serves."""
    # Werkzeug adds HEAD to every GET rule by itself; no handler asks for it.
    return sorted(
        (method.lower(), rule.rule)
        for rule in url_map.iter_rules()
        if rule.rule.startswith(REST_V3_PREFIX)
        for method in (rule.methods or set()) - {"HEAD"}
    )


def served_paths(spec: Mapping[str, Any],
                 routes: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Map each spec path template the routes serve to the methods served on it."""
    templates: dict[str, list[str]] = {}
    for template in spec["paths"]:
        templates.setdefault(_SPEC_VARIABLE.sub("{}", template), []).append(template)
    served: dict[str, set[str]] = {}
    for method, rule in routes:
        matches = templates.get(_RULE_VARIABLE.sub("{}", rule), [])
        if len(matches) != 1 or method not in spec["paths"][matches[0]]:
            raise ValueError(f"the spec has no single operation for {method.upper()} {rule}")
        served.setdefault(matches[0], set()).add(method)
    return served


def make_subset(spec: Mapping[str, Any], routes: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Return the spec's structure for the routed operations and what they reference."""
    served = served_paths(spec, routes)
    refs: set[str] = set()
    paths: dict[str, Any] = {}
    for template, item in spec["paths"].items():
        methods = served.get(template, set())
        paths[template] = {
            m: _strip(item[m], refs) if m in methods else copy.deepcopy(UNSERVED_OPERATION)
            for m in HTTP_METHODS if m in item
        }
        if methods and "parameters" in item:
            paths[template]["parameters"] = _strip(item["parameters"], refs)
    components = _referenced_components(spec, refs)
    operations = [spec["paths"][t][m] for t, methods in served.items() for m in methods]
    if schemes := _security_schemes(spec, operations):
        components["securitySchemes"] = schemes
    return {
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "servers": _strip(spec.get("servers", []), set()),
        "paths": paths,
        "components": components,
    }


def render(subset: Mapping[str, Any]) -> str:
    """Return the subset as the committed file holds it: sorted keys, indented, one newline."""
    return json.dumps(subset, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _strip(node: Any, refs: set[str], names: bool = False) -> Any:
    """Return a copy of node without prose, adding the `$ref`s it keeps to refs."""
    if isinstance(node, list):
        return [_strip(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    if names:
        return {name: _strip(value, refs) for name, value in node.items()}
    kept: dict[str, Any] = {}
    for key, value in node.items():
        if key in PROSE or key.startswith("x-"):
            continue
        if key == "$ref":
            refs.add(value)
        kept[key] = value if key in DATA else _strip(value, refs, names=key in NAME_MAPS)
    return kept


def _referenced_components(spec: Mapping[str, Any], refs: set[str]) -> dict[str, Any]:
    """Return the components reachable from refs, each stripped of prose."""
    components: dict[str, dict[str, Any]] = {}
    pending, seen = sorted(refs), set(refs)
    while pending:
        ref = pending.pop()
        kind, name = _component_name(ref)
        try:
            target = spec["components"][kind][name]
        except KeyError as exc:
            raise ValueError(f"$ref {ref} does not resolve in the spec") from exc
        found: set[str] = set()
        components.setdefault(kind, {})[name] = _strip(target, found)
        pending.extend(sorted(found - seen))
        seen |= found
    return components


def _component_name(ref: str) -> tuple[str, str]:
    """Split '#/components/<kind>/<name>' into kind and name (JSON pointer unescaped)."""
    parts = ref.split("/")
    if len(parts) != 4 or parts[:2] != ["#", "components"]:
        raise ValueError(f"unsupported $ref {ref}: only #/components/<kind>/<name>")
    return parts[2], parts[3].replace("~1", "/").replace("~0", "~")


def _security_schemes(spec: Mapping[str, Any],
                      operations: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Return the security schemes the operations name, with only the OAuth scopes they use."""
    used: dict[str, set[str]] = {}
    for operation in operations:
        for requirement in operation.get("security", []):
            for name, scopes in requirement.items():
                used.setdefault(name, set()).update(scopes)
    schemes = {}
    for name, scopes in used.items():
        scheme = _strip(spec["components"]["securitySchemes"][name], set())
        for flow in scheme.get("flows", {}).values():
            flow["scopes"] = {s: text for s, text in flow.get("scopes", {}).items() if s in scopes}
        schemes[name] = scheme
    return schemes
