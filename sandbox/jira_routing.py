"""Route table of the sandbox Jira: what a handler receives and how it registers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from werkzeug.routing import Map, Rule

from sandbox.jira_state import JiraError, JiraSite, SandboxUser

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """One file of a multipart/form-data request: the form field it came in, and the file."""

    field: str
    filename: str
    mime_type: str
    content: bytes


@dataclass(frozen=True)
class RawAnswer:
    """An answer that is not JSON: bytes of a content type (empty for none), extra headers."""

    data: bytes
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """What a handler gets: the site, the caller, and the request's parts."""

    site: JiraSite
    user: SandboxUser
    base: str
    args: dict[str, list[str]]
    body: Any
    on_register: Callable[[str | None, str | None], None] = lambda url, secret: None
    registrations: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """Return a request header (any case of its name), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of a query parameter."""
        return self.args.get(name, [default])[0]

    def int_arg(self, name: str, default: int) -> int:
        """Return an integer query parameter."""
        try:
            return int(self.arg(name) or default)
        except ValueError as exc:
            raise JiraError(400, [f"Parameter '{name}' must be an integer."]) from exc

    def json_body(self) -> dict[str, Any]:
        """Return the JSON object body, or raise Jira's 400."""
        if not isinstance(self.body, dict):
            raise JiraError(400, ["The request body must be a JSON object."])
        return self.body


Answer = tuple[int, Any]


def page_bean(call: Call, link: str, *, start: int, size: int, total: int, values: list[Any],
              **extra: Any) -> dict[str, Any]:
    """Return one page of a startAt-paged answer, shaped as Jira's PageBeans are.

    ``link`` is the resource's URL with any query it needs; nextPage comes while there is more,
    and the optional isLast is left out when the site is told to (send_is_last).
    """
    joiner = "&" if "?" in link else "?"
    last = start + size >= total
    body: dict[str, Any] = {
        "self": f"{link}{joiner}startAt={start}&maxResults={size}",
        "maxResults": size,
        "startAt": start,
        "total": total,
        "isLast": last,
        **extra,
        "values": values,
    }
    if not last:
        body["nextPage"] = f"{link}{joiner}startAt={start + size}&maxResults={size}"
    if not call.site.sends_is_last:
        del body["isLast"]
    return body


ROUTES: dict[str, Callable[..., Answer]] = {}
URL_MAP = Map(strict_slashes=False)


def route(path: str, *methods: str) -> Callable:
    """Register a handler for a path and methods."""

    def register(handler: Callable[..., Answer]) -> Callable[..., Answer]:
        endpoint = f"{handler.__module__}.{handler.__name__}"
        ROUTES[endpoint] = handler
        URL_MAP.add(Rule(path, endpoint=endpoint, methods=list(methods)))
        return handler

    return register
