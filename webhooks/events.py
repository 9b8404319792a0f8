"""Parse a Jira Cloud webhook body into the few facts routing needs, rejecting malformed ones."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]*-[0-9]+")
# Events that are about one issue and must therefore carry it.
ISSUE_EVENT_PREFIXES = ("jira:issue_", "comment_")


class MalformedEvent(ValueError):
    """The body is not a well-formed Jira webhook; the message says what is wrong."""


@dataclasses.dataclass(frozen=True)
class StatusChange:
    """A workflow transition from one status id to another (ids, never localised names)."""

    from_id: str | None
    to_id: str


@dataclasses.dataclass(frozen=True)
class JiraEvent:
    """One webhook delivery, reduced to identifiers; jobs re-read the issue from Jira."""

    webhook_event: str
    timestamp: int
    issue_key: str | None
    issue_type_name: str | None
    actor_account_id: str | None
    changelog_id: str | None
    status_change: StatusChange | None
    changed_field_ids: tuple[str, ...]
    changed_field_names: tuple[str, ...] = ()


def parse_body(body: bytes) -> JiraEvent:
    """Decode a raw webhook body and parse it; raise MalformedEvent if it is not UTF-8 JSON."""
    # Jira sends UTF-8; json.loads would also guess UTF-16/32 from raw bytes.
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedEvent(f"body is not UTF-8: {exc}") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedEvent(f"body is not JSON: {exc}") from None
    return parse_event(data)


def parse_event(data: Any) -> JiraEvent:
    """Parse a decoded webhook body; raise MalformedEvent naming the bad or missing key."""
    if not isinstance(data, dict):
        raise MalformedEvent(f"body must be a JSON object, got {_kind(data)}")
    webhook_event = _get(data, "webhookEvent", str, "webhookEvent")
    if not webhook_event:
        raise MalformedEvent("webhookEvent must be a non-empty string")
    timestamp = _get(data, "timestamp", int, "timestamp")
    # Epoch milliseconds between 2000 and 2100: anything else is not a Jira delivery.
    if not 946_684_800_000 <= timestamp <= 4_102_444_800_000:
        raise MalformedEvent(f"timestamp {timestamp} is not epoch milliseconds of this century")
    issue = _get(data, "issue", dict, "issue", required=webhook_event.startswith(ISSUE_EVENT_PREFIXES))
    issue_key = issue_type_name = None
    if issue is not None:
        issue_key = _get(issue, "key", str, "issue.key")
        # The key ends up in Redis job ids (letters, digits, _ and - only).
        if not ISSUE_KEY.fullmatch(issue_key):
            raise MalformedEvent(f"issue.key {issue_key[:40]!r} is not a Jira issue key")
        fields = _get(issue, "fields", dict, "issue.fields", required=False) or {}
        issuetype = _get(fields, "issuetype", dict, "issue.fields.issuetype", required=False)
        if issuetype is not None:
            issue_type_name = _get(issuetype, "name", str, "issue.fields.issuetype.name")
    changelog_id, status_change, changed, names = _parse_changelog(data)
    return JiraEvent(
        webhook_event=webhook_event,
        timestamp=timestamp,
        issue_key=issue_key,
        issue_type_name=issue_type_name,
        actor_account_id=_actor(data),
        changelog_id=changelog_id,
        status_change=status_change,
        changed_field_ids=changed,
        changed_field_names=names,
    )


def _actor(data: Mapping[str, Any]) -> str | None:
    # comment_* deliveries carry no `user`: the comment's author is the actor.
    user = _get(data, "user", dict, "user", required=False)
    if user is not None:
        return _get(user, "accountId", str, "user.accountId", required=False)
    comment = _get(data, "comment", dict, "comment", required=False)
    if comment is not None:
        author = _get(comment, "author", dict, "comment.author", required=False)
        if author is not None:
            return _get(author, "accountId", str, "comment.author.accountId", required=False)
    return None


def _parse_changelog(
    data: Mapping[str, Any],
) -> tuple[str | None, StatusChange | None, tuple[str, ...], tuple[str, ...]]:
    changelog = _get(data, "changelog", dict, "changelog", required=False)
    if changelog is None:
        return None, None, (), ()
    changelog_id = _get_id(changelog, "id", "changelog.id", required=False)
    # Changelog ids are numbers: jobs compare them as such, and they go into RQ job ids.
    if changelog_id is not None and not changelog_id.isdigit():
        raise MalformedEvent(f"changelog.id {changelog_id[:40]!r} is not a number")
    items = _get(changelog, "items", list, "changelog.items", required=False) or []
    status_change = None
    changed = []
    names = []
    for index, item in enumerate(items):
        where = f"changelog.items[{index}]"
        if not isinstance(item, dict):
            raise MalformedEvent(f"{where} must be an object, got {_kind(item)}")
        field_id = _get(item, "fieldId", str, f"{where}.fieldId", required=False)
        field = _get(item, "field", str, f"{where}.field", required=False)
        if field_id is None and field is None:
            raise MalformedEvent(f"{where} has neither fieldId nor field")
        changed.append(field_id if field_id is not None else field)
        if field is not None:
            names.append(field)
        # issue_created spells it "Status"; fieldId is the reliable marker when present.
        is_status = field_id == "status" if field_id is not None else field.lower() == "status"
        if is_status and status_change is None:
            status_change = StatusChange(
                from_id=_get_id(item, "from", f"{where}.from", required=False),
                to_id=_get_id(item, "to", f"{where}.to"),
            )
    if status_change is not None and changelog_id is None:
        raise MalformedEvent("changelog.id is missing on a status change")
    return changelog_id, status_change, tuple(changed), tuple(names)


def _get(obj: Mapping[str, Any], key: str, kind: type, where: str, *, required: bool = True) -> Any:
    value = obj.get(key)
    if value is None:
        if required:
            raise MalformedEvent(f"{where} is missing")
        return None
    # bool is an int subclass; a boolean timestamp is still malformed.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedEvent(f"{where} must be {_NAMES[kind]}, got {_kind(value)}")
    return value


def _get_id(obj: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    # Jira sends ids as strings; accept integers too and normalise, since jobs compare ids as text.
    value = obj.get(key)
    if value is None:
        if required:
            raise MalformedEvent(f"{where} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedEvent(f"{where} must be an id (string or integer), got {_kind(value)}")
    if value == "":
        raise MalformedEvent(f"{where} must not be empty")
    return str(value)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


_NAMES = {str: "a string", int: "an integer", dict: "an object", list: "an array"}
