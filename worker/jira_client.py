"""Talk to Jira Cloud REST v3: the only code that knows URLs, auth, timeouts, paging and retry."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import requests
from atlassian.jira import JiraCloud

from .call_budget import CALL_BUDGET_SECONDS, CallBudget, backoff_delay

logger = logging.getLogger(__name__)

# 429 and 503 mean Jira did not act on the request, so even a POST is safe to send again.
_RETRY_ANY_METHOD = frozenset({429, 503})
_RETRY_IDEMPOTENT = frozenset({500, 502, 504})
_IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE", "HEAD"})
# An upload is a form POST, which Jira refuses (403 "XSRF check failed") without the opt-out.
_UPLOAD_HEADERS = {"Accept": "application/json", "X-Atlassian-Token": "no-check"}
CHANGELOG_PAGE_SIZE = 100  # the most GET issue/{key}/changelog gives in one page


class JiraError(Exception):
    """Jira answered with an error, or could not be reached."""

    def __init__(self, message: str, *, method: str, path: str, status: int | None = None):
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status


class JiraNotFound(JiraError):
    """The issue, property or resource does not exist (404)."""


class JiraRejected(JiraError):
    """Jira refused the request as given (400, 403, 409…)."""


class JiraAuthError(JiraError):
    """The email or API token was refused (401)."""


class JiraRateLimited(JiraError):
    """Jira kept answering 429 past the retry budget; the job should be retried later."""


class JiraUnavailable(JiraError):
    """Jira kept failing (5xx or no connection) past the retry budget."""


class JiraClient:
    """A small Jira Cloud client with verb-shaped methods and a bounded retry policy."""

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 5,
        max_wait: float = 30.0,
        backoff_base: float = 0.5,
        budget: float = CALL_BUDGET_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_call: Callable[[str, int | None], None] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._email = email
        self._api_token = api_token
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._backoff_base = backoff_base
        self._budget = budget
        self._sleep = sleep
        self._clock = clock
        # Told the method and status of every attempt (None: no answer), e.g. to count them.
        self._on_call = on_call
        self._api: JiraCloud | None = None
        self._api_pid: int | None = None
        self.calls = 0

    # -- transport ---------------------------------------------------------------------------

    def _client(self) -> JiraCloud:
        # A forked RQ work horse must not share the parent's pooled connections.
        if self._api is None or self._api_pid != os.getpid():
            self._api = JiraCloud(
                self.base_url, username=self._email, password=self._api_token,
                timeout=self._timeout,
                # Our retry policy is the only one: the library would otherwise sleep on a
                # 429 by itself (retry_with_header), outside any budget we can see.
                backoff_and_retry=False, retry_with_header=False,
            )
            self._api_pid = os.getpid()
        return self._api

    def close(self) -> None:
        """Drop pooled connections (call before forking workers)."""
        if self._api is not None:
            self._api.close()
            self._api = None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> requests.Response:
        """Send one request; retry 429/503 (honouring Retry-After) and transient faults, bounded.

        ``files`` (field -> (filename, bytes, MIME type)) makes it a multipart/form-data POST;
        ``headers`` then replace the JSON ones, so the form's boundary is set by requests.
        """
        method = method.upper()
        budget = CallBudget(self._budget, self._timeout, self._clock)
        for attempt in range(1, self._max_attempts + 1):
            self.calls += 1
            try:
                response = self._client().request(
                    method, path.lstrip("/"), params=dict(params) if params else None,
                    json=json, headers=dict(headers) if headers else None,
                    files=dict(files) if files else None, advanced_mode=True,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                self._report(method, None)
                retryable = method in _IDEMPOTENT_METHODS or isinstance(exc, requests.ConnectTimeout)
                logger.warning("jira unreachable", extra={"method": method, "path": path,
                                                          "attempt": attempt, "error": str(exc)})
                wait = self._backoff(attempt)
                if (not retryable or attempt == self._max_attempts
                        or not budget.allows(wait)):
                    raise JiraUnavailable(f"{method} {path}: {exc}", method=method, path=path) from exc
                self._sleep(wait)
                continue
            status = response.status_code
            self._report(method, status)
            if status < 400:
                return response
            retryable = status in _RETRY_ANY_METHOD or (
                status in _RETRY_IDEMPOTENT and method in _IDEMPOTENT_METHODS
            )
            logger.warning("jira error", extra={"method": method, "path": path, "status": status,
                                                "attempt": attempt})
            if retryable and attempt < self._max_attempts:
                wait = self._retry_after(response)
                if wait is None:
                    wait = self._backoff(attempt)
                if wait <= self._max_wait and budget.allows(wait):
                    self._sleep(wait)
                    continue
            raise _error_for(response, method, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def _report(self, method: str, status: int | None) -> None:
        if self._on_call is not None:
            self._on_call(method, status)

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self._backoff_base, self._max_wait)

    @staticmethod
    def _retry_after(response: requests.Response) -> float | None:
        value = response.headers.get("Retry-After")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    # -- site ----------------------------------------------------------------------------------

    def get_myself(self) -> dict:
        """Return the account changeguard acts as."""
        return self._json("GET", "rest/api/3/myself")

    def get_fields(self) -> list[dict]:
        """Return every field of the site, system and custom, with ids and names."""
        return self._json("GET", "rest/api/3/field")

    def get_statuses(self) -> list[dict]:
        """Return every status of the site, with ids and names."""
        return self._json("GET", "rest/api/3/status")

    def get_workflows(self) -> list[dict]:
        """Return every workflow with its statuses and transitions (needs Administer Jira).

        In what this read returns, a workflow's ``statusReference`` is the status's id.
        """
        workflows, start = [], 0
        while True:
            page = self._json("GET", "rest/api/3/workflows/search",
                              params={"startAt": start, "maxResults": 50,
                                      "expand": "values.transitions"})
            workflows.extend(page.get("values") or [])
            if _last_page(page, len(workflows)):
                return workflows
            start = len(workflows)

    # -- people --------------------------------------------------------------------------------

    def get_user_groups(self, account_id: str) -> list[str]:
        """Return the names of the groups a user belongs to."""
        groups = self._json("GET", "rest/api/3/user/groups", params={"accountId": account_id})
        return [group["name"] for group in groups if "name" in group]

    def get_group_members(self, group_name: str) -> list[dict]:
        """Return every active member of a group; raise JiraNotFound if there is no such group."""
        members, start = [], 0
        while True:
            page = self._json("GET", "rest/api/3/group/member",
                              params={"groupname": group_name, "startAt": start, "maxResults": 50})
            members.extend(page.get("values") or [])
            if _last_page(page, len(members)):
                return members
            start = len(members)

    def get_user(self, account_id: str) -> dict:
        """Return a user's public details (display name, email where visible)."""
        return self._json("GET", "rest/api/3/user", params={"accountId": account_id})

    def find_users_by_email(self, email: str) -> list[dict]:
        """Return the active people whose email address is exactly ``email`` (any case).

        Jira's user search matches prefixes of names and addresses, so its answer is narrowed
        to exact matches; a person whose address Jira hides from changeguard is not found.
        """
        wanted = email.strip().lower()
        if not wanted:
            return []
        found = self._json("GET", "rest/api/3/user/search", params={"query": wanted}) or []
        return [user for user in found
                if str(user.get("emailAddress", "")).lower() == wanted
                and user.get("active", True) and user.get("accountType") == "atlassian"]

    # -- admin webhooks -----------------------------------------------------------------------

    def list_webhooks(self) -> list[dict]:
        """Return the site's admin webhooks (needs Administer Jira)."""
        return self._json("GET", "rest/webhooks/1.0/webhook") or []

    def register_webhook(self, webhook: Mapping[str, Any]) -> dict:
        """Create an admin webhook and return it."""
        return self._json("POST", "rest/webhooks/1.0/webhook", json=dict(webhook))

    def update_webhook(self, webhook_id: str, webhook: Mapping[str, Any]) -> dict:
        """Replace an admin webhook's definition."""
        return self._json("PUT", f"rest/webhooks/1.0/webhook/{_seg(webhook_id)}",
                          json=dict(webhook))

    # -- issues --------------------------------------------------------------------------------

    def get_issue(
        self, key: str, *, fields: Iterable[str], properties: Iterable[str] = (),
        expand: Iterable[str] = (),
    ) -> dict:
        """Return an issue with the given fields (and issue properties, expansions).

        An expanded changelog comes whole: where Jira cut it short, the rest is paged in.
        """
        params = {"fields": ",".join(fields)}
        if properties:
            params["properties"] = ",".join(properties)
        expand = list(expand)
        if expand:
            params["expand"] = ",".join(expand)
        issue = self._json("GET", f"rest/api/3/issue/{_seg(key)}", params=params)
        changelog = issue.get("changelog") if "changelog" in expand else None
        if isinstance(changelog, dict) and _cut_short(changelog):
            # Jira embeds only the most recent 100 histories; the rules need them all.
            histories = self.get_changelog(key)
            issue["changelog"] = {"startAt": 0, "maxResults": len(histories),
                                  "total": len(histories), "histories": histories}
        return issue

    def get_changelog(self, key: str) -> list[dict]:
        """Return every history of the issue's changelog, oldest first, page by page."""
        histories: list[dict] = []
        while True:
            page = self._json("GET", f"rest/api/3/issue/{_seg(key)}/changelog",
                              params={"startAt": len(histories),
                                      "maxResults": CHANGELOG_PAGE_SIZE})
            histories.extend(page.get("values") or [])
            if _last_page(page, len(histories)):
                return histories

    def create_issue(self, fields: Mapping[str, Any]) -> dict:
        """Create an issue from field values keyed by field id; return its id, key and self.

        ``fields`` holds ``project`` ({"key": ...}), ``issuetype`` ({"name"} or {"id"}),
        ``summary`` and any other field by id, in REST v3 form (ADF for rich text).
        """
        return self._json("POST", "rest/api/3/issue", json={"fields": dict(fields)})

    def get_transitions(self, key: str) -> list[dict]:
        """Return the transitions available from the issue's current status."""
        return self._json("GET", f"rest/api/3/issue/{_seg(key)}/transitions")["transitions"]

    def transition_issue(self, key: str, transition_id: str, *,
                         properties: Mapping[str, Any] | None = None,
                         fields: Mapping[str, Any] | None = None) -> None:
        """Perform a workflow transition on the issue, setting issue ``properties`` with it.

        ``fields`` (by field id, REST v3 values) are set by the same move, so one changelog
        entry holds them and the status; Jira accepts only fields on the transition's screen.
        """
        body: dict[str, Any] = {"transition": {"id": transition_id}}
        if fields:
            body["fields"] = dict(fields)
        if properties:
            body["properties"] = [{"key": k, "value": v} for k, v in properties.items()]
        self.request("POST", f"rest/api/3/issue/{_seg(key)}/transitions", json=body)

    def add_comment(self, key: str, body: Mapping[str, Any]) -> dict:
        """Add an ADF comment to the issue and return it."""
        return self._json("POST", f"rest/api/3/issue/{_seg(key)}/comment", json={"body": body})

    def update_comment(self, key: str, comment_id: str, body: Mapping[str, Any]) -> dict:
        """Replace the body of a comment (used to keep one comment per subject up to date)."""
        return self._json("PUT", f"rest/api/3/issue/{_seg(key)}/comment/{_seg(comment_id)}",
                          json={"body": body})

    def add_label(self, key: str, label: str) -> None:
        """Add a label to the issue (no-op in Jira if it is there already)."""
        self.request("PUT", f"rest/api/3/issue/{_seg(key)}",
                     params={"notifyUsers": "false"},
                     json={"update": {"labels": [{"add": label}]}})

    def update_issue_fields(self, key: str, fields: Mapping[str, Any]) -> None:
        """Set fields of the issue (ids as keys, REST v3 values), without notifying watchers."""
        self.request("PUT", f"rest/api/3/issue/{_seg(key)}", params={"notifyUsers": "false"},
                     json={"fields": dict(fields)})

    def upsert_remote_link(self, key: str, link: Mapping[str, Any]) -> dict:
        """Link the issue to a remote object; return the link's id and self.

        ``link`` is Jira's remote link (globalId, application, relationship, object{url,
        title, ...}). A link with the same globalId on the issue is replaced in place, every
        part of it: what ``link`` leaves out is cleared.
        """
        return self._json("POST", f"rest/api/3/issue/{_seg(key)}/remotelink", json=dict(link))

    def get_remote_links(self, key: str, global_id: str | None = None) -> list[dict]:
        """Return the issue's remote links, or only the one with ``global_id`` (none: [])."""
        path = f"rest/api/3/issue/{_seg(key)}/remotelink"
        if global_id is None:
            return self._json("GET", path) or []
        try:
            # Asked for one global id, Jira answers that link alone, or 404.
            return [self._json("GET", path, params={"globalId": global_id})]
        except JiraNotFound:
            self._json("GET", path)  # the issue itself missing is the caller's 404
            return []

    def add_attachment(self, key: str, filename: str, content: bytes, mime_type: str) -> dict:
        """Attach a file to the issue; return the attachment (id, filename, size, content URL).

        Jira takes files only as multipart/form-data, and only with its XSRF opt-out header.
        """
        response = self.request(
            "POST", f"rest/api/3/issue/{_seg(key)}/attachments",
            headers=_UPLOAD_HEADERS, files={"file": (filename, content, mime_type)},
        )
        return response.json()[0]

    def get_attachments(self, key: str) -> list[dict]:
        """Return the issue's attachments (id, filename, mimeType, size, created, author)."""
        issue = self._json("GET", f"rest/api/3/issue/{_seg(key)}",
                           params={"fields": "attachment"})
        return list(issue.get("fields", {}).get("attachment") or [])

    def get_attachment_content(self, attachment_id: str) -> bytes:
        """Return an attachment's bytes."""
        # Without redirect=false Jira answers 303 to its media service: one call instead of two.
        response = self.request("GET", f"rest/api/3/attachment/content/{_seg(attachment_id)}",
                                params={"redirect": "false"})
        return response.content

    def delete_attachment(self, attachment_id: str) -> None:
        """Delete an attachment (JiraNotFound if there is none with this id)."""
        self.request("DELETE", f"rest/api/3/attachment/{_seg(attachment_id)}")

    def get_issue_property(self, key: str, property_key: str) -> Any:
        """Return the value of an issue property, or None when it is not set."""
        try:
            body = self._json("GET", f"rest/api/3/issue/{_seg(key)}/properties/{_seg(property_key)}")
        except JiraNotFound:
            return None
        return body.get("value")

    def set_issue_property(self, key: str, property_key: str, value: Any) -> None:
        """Create or replace an issue property (JSON, at most 32,768 characters)."""
        self.request("PUT", f"rest/api/3/issue/{_seg(key)}/properties/{_seg(property_key)}",
                     json=value)

    def search_issues(self, jql: str, *, fields: Iterable[str], expand: Iterable[str] = (),
                      properties: Iterable[str] = (), page_size: int = 100) -> Iterator[dict]:
        """Yield every issue matching ``jql`` through enhanced search, page by page.

        Jira Cloud expands at most the 40 most recent histories of a changelog here; its
        ``total`` tells when there are more. ``properties``: issue property keys to return
        with each issue (at most 5), under its ``properties``.
        """
        fields, properties = list(fields), list(properties)
        # Unlike everywhere else, the enhanced search takes expand as one comma-separated string.
        expanded = ",".join(expand)
        token: str | None = None
        while True:
            body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": page_size}
            if expanded:
                body["expand"] = expanded
            if properties:
                body["properties"] = properties
            if token:
                body["nextPageToken"] = token
            page = self._json("POST", "rest/api/3/search/jql", json=body)
            yield from page.get("issues", [])
            token = page.get("nextPageToken")
            # isLast is optional: a page without it is the last only if it brings no token.
            if page.get("isLast") or not token:
                return


def _last_page(page: Mapping[str, Any], collected: int) -> bool:
    """Tell whether a startAt-paged answer was the last page (isLast is optional in it)."""
    total = page.get("total")
    return bool(page.get("isLast") or not page.get("values")
                or (isinstance(total, int) and collected >= total))


def _cut_short(changelog: Mapping[str, Any]) -> bool:
    """Tell whether an embedded changelog holds fewer histories than its ``total``."""
    histories, total = changelog.get("histories"), changelog.get("total")
    return isinstance(histories, list) and isinstance(total, int) and total > len(histories)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _error_for(response: requests.Response, method: str, path: str) -> JiraError:
    status = response.status_code
    try:
        body = response.json()
        messages = list(body.get("errorMessages") or []) + [
            f"{k}: {v}" for k, v in (body.get("errors") or {}).items()
        ]
        detail = "; ".join(messages) or response.reason
    except ValueError:
        detail = response.text[:200] or response.reason
    message = f"{method} {path} -> {status}: {detail}"
    if status == 401:
        cls: type[JiraError] = JiraAuthError
    elif status == 404:
        cls = JiraNotFound
    elif status == 429:
        cls = JiraRateLimited
    elif status >= 500:
        cls = JiraUnavailable
    else:
        cls = JiraRejected
    return cls(message, method=method, path=path, status=status)
