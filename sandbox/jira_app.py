"""The sandbox's WSGI app: basic auth, fault injection, spec checks and request recording."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Callable, Iterable

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from sandbox import (  # noqa: F401 - routes
    jira_attachments,
    jira_links,
    jira_routes,
    jira_workflows,
    webhook_admin,
)
from sandbox.jira_routing import ROUTES, URL_MAP, Call, RawAnswer, Upload
from sandbox.jira_state import JiraError, JiraSite, SandboxUser, format_time, utc_now

if TYPE_CHECKING:  # openapi-core, under spec_check, is only needed when checks are on
    from sandbox.spec_check import SpecChecker, SpecRequest

logger = logging.getLogger(__name__)

# A held request is answered after this long at most, released or not (a test that forgot it).
HOLD_SECONDS = 120
JSON_TYPE = "application/json;charset=UTF-8"
_NOT_JSON = object()
MULTIPART = "multipart/form-data"
NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the sandbox served, and its answer."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int
    account_id: str | None
    time: float
    response: Any = field(default=None, repr=False)
    uploads: tuple[Upload, ...] = ()


@dataclass
class Fault:
    """An injected failure for the next `times` requests matching method and path."""

    method: str
    path_regex: re.Pattern[str]
    status: int
    times: int
    retry_after: int | None
    # Set: the request is held until this is set (``reached`` is set when it arrives), then failed.
    release: threading.Event | None = None
    reached: threading.Event | None = None

    def matches(self, method: str, path: str) -> bool:
        """Tell whether a request should get this fault."""
        return self.method in {"*", method} and bool(self.path_regex.search(path))


def _uploads(request: Request) -> tuple[Upload, ...]:
    """Return the files of a multipart/form-data request, in the order they came."""
    if request.mimetype != MULTIPART:
        return ()
    uploads = []
    for name, upload in request.files.items(multi=True):
        try:
            uploads.append(Upload(name, upload.filename or "",
                                  upload.mimetype or "application/octet-stream", upload.read()))
        finally:
            upload.close()  # the spooled temporary file werkzeug read it into
    return tuple(uploads)


class SandboxApp:
    """WSGI callable serving the sandbox site."""

    def __init__(self, site: JiraSite, checker: SpecChecker | None,
                 on_register: Callable[[str | None, str | None], None]) -> None:
        self.site = site
        self.checker = checker
        self.on_register = on_register
        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.spec_violations: list[str] = []
        self.registrations: dict[str, dict[str, Any]] = {}
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def inject_fault(self, method: str, path_regex: str, status: int, times: int = 1,
                     retry_after: int | None = None, release: threading.Event | None = None,
                     reached: threading.Event | None = None) -> None:
        """Make the next `times` matching requests fail with `status` (held until ``release``)."""
        fault = Fault(method.upper(), re.compile(path_regex), status, times, retry_after,
                      release, reached)
        with self._lock:
            self._faults.append(fault)

    def reset_recordings(self) -> None:
        """Forget recorded requests and spec violations."""
        with self._lock:
            self.requests.clear()
            self.spec_violations.clear()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        response = self._serve(request)
        return response(environ, start_response)

    def _serve(self, request: Request) -> Response:
        raw = request.get_data()
        user = self._authenticate(request)
        spec_request = self.checker.request_of(request) if self.checker is not None else None
        uploads = _uploads(request)
        try:
            body: Any = json.loads(raw) if raw and request.mimetype != MULTIPART else None
        except ValueError:
            body = _NOT_JSON
        checked = spec_request is not None
        fault = self._take_fault(request.method, request.path)
        if fault is not None and fault.release is not None:
            assert fault.reached is not None
            fault.reached.set()
            fault.release.wait(HOLD_SECONDS)
        if fault is not None:
            status, answer, headers = self._fault_answer(fault)
            checked = False
        elif user is None:
            status, answer, headers = 401, {"errorMessages": [NOT_AUTHENTICATED], "errors": {}}, {}
        else:
            status, answer, routed = self._dispatch(request, body, uploads, user, spec_request,
                                                    checked)
            headers, checked = {}, checked and routed
        response = self._respond(status, answer, headers)
        if checked:
            self._violations(self.checker.check_served(spec_request, response))
        with self._lock:
            self.requests.append(RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.args.to_dict(),
                json=None if body is _NOT_JSON else body,
                status=status,
                account_id=user.account_id if user else None,
                time=time.monotonic(),
                response=answer,
                uploads=uploads,
            ))
        return response

    def _dispatch(self, request: Request, body: Any, uploads: tuple[Upload, ...],
                  user: SandboxUser, spec_request: SpecRequest | None,
                  checked: bool) -> tuple[int, Any, bool]:
        """Route the request; return status, answer and whether a route's handler answered."""
        if body is _NOT_JSON:
            error = JiraError(400, ["Unexpected character in the request body: not valid JSON."])
            return 400, error.body(), True
        try:
            endpoint, path_args = URL_MAP.bind("sandbox").match(request.path, request.method)
        except HTTPException as exc:
            # Not served here: flag it only if Jira has no such operation either.
            if checked:
                self._violations(self.checker.check_request(spec_request))
            status = exc.code or 500
            message = "No such resource in the sandbox Jira." if status == 404 else exc.description
            return status, {"errorMessages": [message], "errors": {}}, False
        if checked:
            problems = self.checker.check_request(spec_request)
            if problems:
                self._violations(problems)
                message = "The request does not match the Jira Cloud REST API: " + problems[0]
                # The refusal is the sandbox's, not the operation's: its answer is not checked.
                return 400, {"errorMessages": [message], "errors": {}}, False
        call = Call(self.site, user, self.base_url, request.args.to_dict(flat=False), body,
                    self.on_register, self.registrations, dict(request.headers), list(uploads))
        try:
            status, answer = ROUTES[endpoint](call, **path_args)
        except JiraError as exc:
            status, answer = exc.status, exc.body()
        return status, answer, True

    def _authenticate(self, request: Request) -> SandboxUser | None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            email, _, token = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return self.site.user_by_credentials(email, token)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _fault_answer(self, fault: Fault) -> tuple[int, Any, dict[str, str]]:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        message = HTTPStatus(fault.status).phrase
        if fault.status == 429:
            message = "Rate limit exceeded."
            reset = utc_now() + timedelta(seconds=fault.retry_after or 1)
            headers.update({
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": format_time(reset),
                "RateLimit-Reason": "jira-burst-based",
            })
        return fault.status, {"errorMessages": [message], "errors": {}}, headers

    def _respond(self, status: int, answer: Any, headers: dict[str, str]) -> Response:
        if isinstance(answer, RawAnswer):
            return Response(answer.data, status=status, headers={**headers, **answer.headers},
                            content_type=answer.content_type or None)
        if answer is None:
            return Response(status=status, headers=headers)
        return Response(json.dumps(answer), status=status, headers=headers, content_type=JSON_TYPE)

    def _violations(self, problems: list[str]) -> None:
        if problems:
            for problem in problems:
                logger.warning("spec violation", extra={"problem": problem})
            with self._lock:
                self.spec_violations.extend(problems)
