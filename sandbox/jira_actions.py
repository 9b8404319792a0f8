"""Carry out REST writes as Jira does: validate, change the issue, log history, announce."""

from __future__ import annotations

import json
import logging
from typing import Any

from sandbox.adf import adf_problem
from sandbox.field_values import FieldValueError, change_item, parse_value, status_item
from sandbox.jira_state import (
    Comment,
    Issue,
    JiraError,
    JiraSite,
    RemoteLink,
    SandboxUser,
    SiteEvent,
    Transition,
    utc_now,
)

logger = logging.getLogger(__name__)

MAX_PROPERTY_CHARS = 32768
MAX_PROPERTY_KEY_CHARS = 255
MAX_GLOBAL_ID_CHARS = 255
_NOT_ON_SCREEN = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."


def _parse_fields(site: JiraSite, raw: Any, *, skip: set[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise JiraError(400, ["Fields must be an object."])
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field_id, value in raw.items():
        if field_id in skip:
            continue
        fdef = site.fields.get(field_id)
        if fdef is None:
            errors[field_id] = (
                f"Field '{field_id}' cannot be set. "
                "It is not on the appropriate screen, or unknown."
            )
            continue
        try:
            values[field_id] = parse_value(site, fdef, value)
        except FieldValueError as exc:
            errors[field_id] = str(exc)
    if errors:
        raise JiraError(400, [], errors)
    return values


def _apply_update_ops(site: JiraSite, issue: Issue | None, raw: Any) -> dict[str, Any]:
    """Return the new values that `update` operations ({labels: [{add: x}]}) produce."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise JiraError(400, ["Update must be an object."])
    values: dict[str, Any] = {}
    for field_id, operations in raw.items():
        fdef = site.fields.get(field_id)
        if fdef is None or not isinstance(operations, list):
            raise JiraError(400, [], {field_id: f"Field '{field_id}' cannot be set."})
        current = issue.values.get(field_id) if issue else None
        if fdef.kind == "labels":
            current = list(current or [])
        for operation in operations:
            verb, value = next(iter(operation.items())) if isinstance(operation, dict) else ("", 0)
            if verb == "set":
                current = _parse_one(site, field_id, value)
            elif verb in {"add", "remove"} and fdef.kind == "labels":
                label = _parse_one(site, field_id, [value])[0]
                if verb == "add" and label not in current:
                    current.append(label)
                elif verb == "remove" and label in current:
                    current.remove(label)
            else:
                raise JiraError(400, [], {field_id: f"Operation '{verb}' is not supported."})
        values[field_id] = current
    return values


def _parse_one(site: JiraSite, field_id: str, value: Any) -> Any:
    try:
        return parse_value(site, site.fields[field_id], value)
    except FieldValueError as exc:
        raise JiraError(400, [], {field_id: str(exc)}) from exc


def _resolve(raw: Any, choices: list[tuple[str, str]], field_id: str, message: str) -> str:
    if isinstance(raw, dict):
        for ident, label in choices:
            if raw.get("id") == ident or raw.get("key") == label or raw.get("name") == label:
                return ident
    raise JiraError(400, [], {field_id: message})


def create_issue(site: JiraSite, actor: SandboxUser, body: dict[str, Any]) -> Issue:
    """Create an issue from a POST /rest/api/3/issue body; the caller is the reporter."""
    raw = body.get("fields") or {}
    project = site.project
    _resolve(raw.get("project"), [(project.id, project.key)], "project",
             "Specify a valid project ID or key")
    type_id = _resolve(raw.get("issuetype"), [(t.id, t.name) for t in site.issue_types.values()],
                       "issuetype", "Specify an issue type")
    values = _parse_fields(site, raw, skip={"project", "issuetype"})
    values.update(_apply_update_ops(site, None, body.get("update")))
    if not values.get("summary"):
        raise JiraError(400, [], {"summary": "You must specify a summary of the issue."})
    reporter = values.pop("reporter", None) or actor.account_id
    with site.lock:
        issue = site.add_issue(type_id, reporter, values)
        items = [status_item(site, None, issue.status, created=True)]
        items.append(change_item(site, site.fields["reporter"], None, reporter))
        items += [change_item(site, site.fields[f], None, v) for f, v in values.items() if v]
        items.sort(key=lambda item: item["field"].lower())
        history = site.add_history(issue, actor.account_id, items)
        issue.updated = issue.created
        site.announce(SiteEvent("jira:issue_created", issue.key, actor.account_id,
                                history.created, "issue_created", history.id))
    return issue


def delete_issue(site: JiraSite, actor: SandboxUser, key: str) -> None:
    """Delete an issue (DELETE /rest/api/3/issue/{key}) and its links, announcing it first: the
    webhook carries the issue as it was."""
    with site.lock:
        issue = site.issue(key)
        site.announce(SiteEvent("jira:issue_deleted", issue.key, actor.account_id, utc_now()))
        del site.issues[issue.key]
        site.issue_links[:] = [link for link in site.issue_links
                               if issue.id not in (link.source_id, link.destination_id)]


def edit_issue(site: JiraSite, actor: SandboxUser, key: str, body: dict[str, Any]) -> None:
    """Apply a PUT /rest/api/3/issue/{key} body: `fields` to set and `update` operations."""
    with site.lock:
        issue = site.issue(key)
        values = _parse_fields(site, body.get("fields"), skip=set())
        updates = _apply_update_ops(site, issue, body.get("update"))
        both = set(values) & set(updates)
        if both:
            field_id = sorted(both)[0]
            raise JiraError(400, [], {field_id: "Field cannot be set in both fields and update."})
        values.update(updates)
        items = _set_values(site, issue, values)
        if not items:
            return
        history = site.add_history(issue, actor.account_id, items)
        site.announce(SiteEvent("jira:issue_updated", issue.key, actor.account_id,
                                history.created, "issue_updated", history.id))


def transition_issue(site: JiraSite, actor: SandboxUser, key: str, body: dict[str, Any]) -> None:
    """Perform POST /rest/api/3/issue/{key}/transitions {transition: {id}, fields, properties}.

    ``fields`` (and ``update`` operations) may set only the fields on the transition's screen;
    their changes and the status change make one changelog entry and one webhook, as in Jira.
    Issue properties in the body are set together with the move: all happen, or none.
    """
    transition_id = (body.get("transition") or {}).get("id")
    properties = body.get("properties") or []
    if not isinstance(properties, list) or not all(
            isinstance(entry, dict) and "value" in entry for entry in properties):
        raise JiraError(400, ["Each issue property needs a key and a value."])
    for entry in properties:
        _check_property(entry.get("key"), entry["value"])
    with site.lock:
        issue = site.issue(key)
        transition = next(
            (t for t in site.available_transitions(issue) if t.id == str(transition_id)), None
        )
        if transition is None:
            raise JiraError(400, [f"Transition id '{transition_id}' is not valid for this issue."])
        values = _screen_values(site, issue, transition, body)
        for entry in properties:
            issue.properties[entry["key"]] = entry["value"]
        items = _set_values(site, issue, values)
        old = issue.status
        issue.status = transition.to_id
        items.append(status_item(site, old, issue.status))
        history = site.add_history(issue, actor.account_id, items)
        if site.statuses[old].category != site.statuses[issue.status].category:
            issue.status_changed = history.created
        site.announce(SiteEvent("jira:issue_updated", issue.key, actor.account_id,
                                history.created, "issue_generic", history.id))


def _screen_values(site: JiraSite, issue: Issue, transition: Transition,
                   body: dict[str, Any]) -> dict[str, Any]:
    """Return the field values a transition body sets, or raise Jira's 400 for any off-screen."""
    raw, updates = body.get("fields"), body.get("update")
    named = [f for part in (raw, updates) if isinstance(part, dict) for f in part]
    off_screen = {f: _NOT_ON_SCREEN.format(f) for f in named if f not in transition.screen}
    if off_screen:
        raise JiraError(400, [], off_screen)
    values = _parse_fields(site, raw, skip=set())
    values.update(_apply_update_ops(site, issue, updates))
    return values


def _set_values(site: JiraSite, issue: Issue, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Store new field values on the issue; return the changelog items of those that changed."""
    items = []
    for field_id, new in values.items():
        old = issue.reporter if field_id == "reporter" else issue.values.get(field_id)
        if (old or None) != (new or None):
            items.append(change_item(site, site.fields[field_id], old, new))
            if field_id == "reporter":
                issue.reporter = new
            else:
                issue.values[field_id] = new
    return items


def _comment_body(body: dict[str, Any]) -> dict[str, Any]:
    doc = body.get("body")
    if doc is None or (isinstance(doc, dict) and doc.get("content") == []):
        raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
    problem = adf_problem(doc)
    if problem:
        raise JiraError(400, ["INVALID_INPUT"],
                        {"comment": f"Comment body is not valid: {problem}"})
    return doc


def add_comment(site: JiraSite, actor: SandboxUser, key: str, body: dict[str, Any]) -> Comment:
    """Add a comment (ADF body) as the caller."""
    doc = _comment_body(body)
    with site.lock:
        issue = site.issue(key)
        comment = site.add_comment(issue, actor.account_id, doc)
        site.announce(SiteEvent("comment_created", issue.key, actor.account_id, comment.created,
                                "issue_commented", comment_id=comment.id))
    return comment


def find_comment(site: JiraSite, issue: Issue, comment_id: str) -> Comment:
    """Return a comment of the issue, or raise Jira's 404."""
    comment = next((c for c in issue.comments if c.id == comment_id), None)
    if comment is None:
        raise JiraError(404, [f"Can not find a comment for the id: {comment_id}."])
    return comment


def edit_comment(
    site: JiraSite, actor: SandboxUser, key: str, comment_id: str, body: dict[str, Any]
) -> Comment:
    """Replace a comment's body in place."""
    doc = _comment_body(body)
    with site.lock:
        issue = site.issue(key)
        comment = find_comment(site, issue, comment_id)
        comment.body = doc
        comment.update_author = actor.account_id
        comment.updated = issue.updated = utc_now()
        site.announce(SiteEvent("comment_updated", issue.key, actor.account_id, comment.updated,
                                "issue_comment_edited", comment_id=comment.id))
    return comment


def _check_property(property_key: Any, value: Any) -> None:
    """Raise Jira's 400 for a property key or value Jira would not store."""
    if not isinstance(property_key, str) or not 0 < len(property_key) <= MAX_PROPERTY_KEY_CHARS:
        raise JiraError(400, ["The property key must be between 1 and 255 characters."])
    if len(json.dumps(value, separators=(",", ":"))) > MAX_PROPERTY_CHARS:
        raise JiraError(
            400, [f"The property value is too long. The maximum length is {MAX_PROPERTY_CHARS}."]
        )


def set_property(site: JiraSite, key: str, property_key: str, value: Any) -> bool:
    """Store an issue property; return True when it was created, False when updated."""
    _check_property(property_key, value)
    with site.lock:
        issue = site.issue(key)
        created = property_key not in issue.properties
        issue.properties[property_key] = value
    return created


def get_property(site: JiraSite, key: str, property_key: str) -> Any:
    """Return an issue property's value, or raise Jira's 404."""
    with site.lock:
        issue = site.issue(key)
        if property_key not in issue.properties:
            raise JiraError(404, [f"The property with key '{property_key}' does not exist."])
        return issue.properties[property_key]


def delete_property(site: JiraSite, key: str, property_key: str) -> None:
    """Delete an issue property, or raise Jira's 404."""
    with site.lock:
        get_property(site, key, property_key)
        del site.issue(key).properties[property_key]


def upsert_remote_link(site: JiraSite, key: str, body: dict[str, Any]) -> tuple[RemoteLink, bool]:
    """Create a remote link, or replace the one with the body's globalId; tell if it was created.

    As in Jira, an update replaces every part of the link: what the body leaves out is cleared.
    """
    global_id = body.get("globalId")
    link_object = body.get("object")
    if not isinstance(link_object, dict):
        raise JiraError(400, [], {"object": "'object' is required."})
    errors = {name: f"'{name}' is required." for name in ("url", "title")
              if not isinstance(link_object.get(name), str) or not link_object[name].strip()}
    if errors:
        raise JiraError(400, [], errors)
    if global_id is not None and (not isinstance(global_id, str)
                                  or len(global_id) > MAX_GLOBAL_ID_CHARS):
        raise JiraError(400, [], {"globalId": "The global ID must be at most 255 characters."})
    application, relationship = body.get("application"), body.get("relationship")
    with site.lock:
        issue = site.issue(key)
        link = next((lk for lk in issue.remote_links
                     if global_id is not None and lk.global_id == global_id), None)
        if link is None:
            return site.add_remote_link(issue, global_id or None, link_object, application,
                                        relationship), True
        link.object, link.application, link.relationship = link_object, application, relationship
        return link, False


def remote_links(site: JiraSite, key: str, global_id: str | None) -> list[RemoteLink]:
    """Return an issue's remote links (only the one with ``global_id``, if given), or a 404."""
    with site.lock:
        links = list(site.issue(key).remote_links)
    if global_id is None:
        return links
    found = [link for link in links if link.global_id == global_id]
    if not found:
        raise JiraError(404, [f"No remote link with global ID '{global_id}' on issue {key}."])
    return found
