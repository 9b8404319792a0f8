"""Check the sandbox's REST traffic against the carried subset of Jira's OpenAPI spec."""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.validators import V30RequestValidator
from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.wrappers import Request, Response

from sandbox.spec_subset import REST_V3_PREFIX, SUBSET_PATH

logger = logging.getLogger(__name__)

SPEC_HOST = "https://your-domain.atlassian.net"

# Jira's timestamps ("2026-01-05T10:00:00.000+0000") are what the real API sends in fields the
# spec declares as RFC 3339 `date-time`; accept both so we check shapes, not Atlassian's typo.
_JIRA_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})$"
)


class SpecUnavailable(RuntimeError):
    """The carried OpenAPI spec subset could not be found."""


def _is_jira_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_JIRA_DATE_TIME.match(value))


def _patch_known_defects(spec: dict[str, Any]) -> dict[str, Any]:
    """Return the spec with the defects that contradict real Jira Cloud responses fixed."""
    spec = copy.deepcopy(spec)
    # Real changelog items carry null from/to/fromString/toString (e.g. on a first value).
    change = spec["components"]["schemas"]["ChangeDetails"]["properties"]
    for name in ("from", "fromString", "to", "toString"):
        change[name]["nullable"] = True
    # GET remotelink answers a list of links (the spec's own example is one), and the one link
    # alone only when asked for a globalId; the spec declares the single link for both.
    remote = spec["paths"]["/rest/api/3/issue/{issueIdOrKey}/remotelink"]["get"]
    answer = remote["responses"]["200"]["content"]["application/json"]
    link = answer["schema"]
    answer["schema"] = {"oneOf": [link, {"type": "array", "items": link}]}
    # Add attachment declares its multipart body as an array of Spring's MultipartFile objects,
    # which no form matches; on the wire it is a form whose `file` field holds the file.
    upload = spec["paths"]["/rest/api/3/issue/{issueIdOrKey}/attachments"]["post"]
    upload["requestBody"]["content"]["multipart/form-data"]["schema"] = {
        "type": "object",
        "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}},
    }
    # An answer declared as JSON with an empty schema (204s, property PUTs) has no body in Jira.
    for operations in spec["paths"].values():
        for operation in operations.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            for answer in responses.values():
                if answer.get("content") == {"application/json": {"schema": {}}}:
                    del answer["content"]
    return spec


class _RequestValidator(V30RequestValidator):
    """Validate parameters and body only: the sandbox does basic auth itself."""

    def _get_security(self, parameters: Any, operation: Any) -> None:
        return None


@functools.cache
def load_openapi(spec_path: Path = SUBSET_PATH) -> OpenAPI:
    """Load and cache the OpenAPI spec (once per process)."""
    if not spec_path.is_file():
        raise SpecUnavailable(
            f"Jira OpenAPI spec not found at {spec_path}; "
            "run scripts/make_jira_spec_subset.py or use spec_check=False"
        )
    with spec_path.open(encoding="utf-8") as handle:
        spec = _patch_known_defects(json.load(handle))
    config = Config(
        spec_validator_cls=None,
        request_validator_cls=_RequestValidator,
        extra_format_validators={"date-time": _is_jira_date_time},
    )
    return OpenAPI.from_dict(spec, config=config)


@dataclass
class SpecRequest:
    """A request as openapi-core's Request protocol wants it, on the spec's host."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes | None
    content_type: str
    host_url: str = SPEC_HOST
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.method = self.method.lower()
        pairs = [(k, v) for k, values in self.query.items() for v in values]
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(pairs), header=Headers(dict(self.headers)), cookie={}
        )


@dataclass
class SpecResponse:
    """A response as openapi-core's Response protocol wants it."""

    status_code: int
    data: bytes | None
    content_type: str
    headers: Mapping[str, str]


def _describe(error: Exception) -> str:
    detail = str(error)
    cause = error.__cause__
    inner = getattr(error, "schema_errors", None) or getattr(cause, "schema_errors", None)
    if inner:
        detail += ": " + "; ".join(e.message for e in inner)
    return detail


class SpecChecker:
    """Validate requests and responses; return human-readable violations."""

    def __init__(self, spec_path: Path = SUBSET_PATH) -> None:
        self.openapi = load_openapi(spec_path)

    def request_of(self, request: Request) -> SpecRequest | None:
        """Return a served request as the spec sees it, or None outside the REST v3 API."""
        if not request.path.startswith(REST_V3_PREFIX):
            return None
        return SpecRequest(
            method=request.method,
            path=request.path,
            query=request.args.to_dict(flat=False),
            headers=dict(request.headers),
            body=request.get_data() or None,
            content_type=request.content_type or "application/octet-stream",
        )

    def check_request(self, request: SpecRequest) -> list[str]:
        """Return the ways a request breaks the spec (empty when it conforms)."""
        errors = list(self.openapi.request_validator.iter_errors(request))
        return [f"request {request.method.upper()} {request.path}: {_describe(e)}" for e in errors]

    def check_response(self, request: SpecRequest, response: SpecResponse) -> list[str]:
        """Return the ways a response breaks the spec (empty when it conforms)."""
        errors = list(self.openapi.response_validator.iter_errors(request, response))
        return [
            f"response {response.status_code} to {request.method.upper()} {request.path}: "
            f"{_describe(e)}"
            for e in errors
        ]

    def check_served(self, request: SpecRequest, response: Response) -> list[str]:
        """Return the ways the response the sandbox served breaks the spec."""
        return self.check_response(request, SpecResponse(
            response.status_code, response.get_data() or None,
            response.content_type or "", dict(response.headers)))
