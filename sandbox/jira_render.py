"""Render sandbox state as Jira Cloud JSON: REST v3 (ADF) and the v2 shape webhooks use."""

from __future__ import annotations

import logging
from typing import Any, Iterable

from sandbox.adf import adf_to_text
from sandbox.jira_state import (
    Attachment,
    Comment,
    FieldDef,
    Group,
    History,
    Issue,
    JiraSite,
    LinkType,
    RemoteLink,
    SandboxUser,
    Status,
    Transition,
    format_time,
)

logger = logging.getLogger(__name__)

CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {
        "id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"
    },
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
ISSUE_EXPANDS = (
    "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
)
AVATAR = "https://avatar-management.services.atlassian.com/default/{size}"
# The fields a link shows of the issue at its other end (Jira adds priority; the sandbox has none).
LINKED_ISSUE_FIELDS = ("summary", "status", "issuetype")


def user_json(
    user: SandboxUser, base: str, version: int = 3, *, email: bool = False
) -> dict[str, Any]:
    """Return a user as Jira shows it (emailAddress only where Jira would show it)."""
    body: dict[str, Any] = {
        "self": f"{base}/rest/api/{version}/user?accountId={user.account_id}",
        "accountId": user.account_id,
        "avatarUrls": {s: AVATAR.format(size=s) for s in ("48x48", "24x24", "16x16", "32x32")},
        "displayName": user.display_name,
        "active": True,
        "timeZone": "Etc/UTC",
        "accountType": "atlassian",
    }
    if email:
        body["emailAddress"] = user.email
    return body


def group_json(group: Group, base: str) -> dict[str, Any]:
    """Return a group name entry."""
    return {
        "name": group.name,
        "groupId": group.group_id,
        "self": f"{base}/rest/api/3/group?groupId={group.group_id}",
    }


def status_json(status: Status, base: str, version: int = 3) -> dict[str, Any]:
    """Return a status with its category."""
    category = CATEGORIES[status.category]
    return {
        "self": f"{base}/rest/api/{version}/status/{status.id}",
        "description": "",
        "iconUrl": f"{base}/",
        "name": status.name,
        "id": status.id,
        "statusCategory": {
            "self": f"{base}/rest/api/{version}/statuscategory/{category['id']}",
            **category,
        },
    }


def field_json(fdef: FieldDef) -> dict[str, Any]:
    """Return a field as GET /rest/api/3/field lists it."""
    body: dict[str, Any] = {
        "id": fdef.id,
        "key": fdef.id,
        "name": fdef.name,
        "custom": fdef.custom,
        "orderable": fdef.id not in {"status", "created", "updated"},
        "navigable": True,
        "searchable": True,
        "clauseNames": [f"cf[{fdef.custom_id}]", fdef.name] if fdef.custom else [fdef.id],
    }
    body["schema"] = _SCHEMAS[fdef.kind](fdef)
    return body


def _custom(kind: str, custom: str) -> Any:
    return lambda f: {
        "type": kind,
        "custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{custom}",
        "customId": f.custom_id,
    }


_SCHEMAS = {
    "option": _custom("option", "select"),
    "textarea": _custom("string", "textarea"),
    "datetime": _custom("datetime", "datetime"),
    "user": _custom("user", "userpicker"),
    "summary": lambda f: {"type": "string", "system": "summary"},
    "description": lambda f: {"type": "string", "system": "description"},
    "status": lambda f: {"type": "status", "system": "status"},
    "issuetype": lambda f: {"type": "issuetype", "system": "issuetype"},
    "project": lambda f: {"type": "project", "system": "project"},
    "reporter": lambda f: {"type": "user", "system": "reporter"},
    "assignee": lambda f: {"type": "user", "system": "assignee"},
    "labels": lambda f: {"type": "array", "items": "string", "system": "labels"},
    "attachment": lambda f: {"type": "array", "items": "attachment", "system": "attachment"},
    "created": lambda f: {"type": "datetime", "system": "created"},
    "updated": lambda f: {"type": "datetime", "system": "updated"},
}


def field_value_json(
    site: JiraSite, fdef: FieldDef, issue: Issue, base: str, version: int = 3
) -> Any:
    """Return one field's value of an issue, as REST v3 (ADF) or v2 (plain text) shows it."""
    kind = fdef.kind
    if kind == "status":
        return status_json(site.statuses[issue.status], base, version)
    if kind == "issuetype":
        itype = site.issue_types[issue.issue_type]
        return {
            "self": f"{base}/rest/api/{version}/issuetype/{itype.id}",
            "id": itype.id,
            "description": itype.description,
            "iconUrl": f"{base}/images/icons/issuetypes/task.svg",
            "name": itype.name,
            "subtask": False,
            "hierarchyLevel": itype.hierarchy_level,
        }
    if kind == "project":
        project = site.project
        return {
            "self": f"{base}/rest/api/{version}/project/{project.id}",
            "id": project.id,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
            "simplified": False,
        }
    if kind in {"created", "updated"}:
        return format_time(getattr(issue, kind))
    if kind == "reporter":
        return user_json(site.user_by_account(issue.reporter), base, version)
    if kind == "attachment":
        return [attachment_json(site, a, base, version) for a in issue.attachments]
    value = issue.values.get(fdef.id)
    if kind == "labels":
        return list(value or [])
    if value is None:
        return None
    if kind in {"user", "assignee"}:
        return user_json(site.user_by_account(value), base, version)
    if kind == "option":
        option = next(o for o in fdef.options if o.id == value)
        return {
            "self": f"{base}/rest/api/{version}/customFieldOption/{option.id}",
            "value": option.value,
            "id": option.id,
        }
    if kind == "datetime":
        return format_time(value)
    if kind in {"description", "textarea"} and version == 2:
        return adf_to_text(value, wiki=True)
    return value


def issue_fields(
    site: JiraSite, issue: Issue, base: str, version: int = 3, wanted: Iterable[str] | None = None
) -> dict[str, Any]:
    """Return an issue's fields (all, or those in `wanted`) in the given REST version."""
    ids = site.fields if wanted is None else [f for f in wanted if f in site.fields]
    body = {fid: field_value_json(site, site.fields[fid], issue, base, version) for fid in ids}
    if wanted is None or "statuscategorychangedate" in wanted:
        body["statuscategorychangedate"] = format_time(issue.status_changed)
    if wanted is None or "issuelinks" in wanted:
        body["issuelinks"] = issue_links_json(site, issue, base, version)
    if version == 3 and (wanted is None or "comment" in wanted):
        comments = [comment_json(site, c, issue, base) for c in issue.comments]
        body["comment"] = {
            "self": f"{base}/rest/api/3/issue/{issue.id}/comment",
            "comments": comments,
            "maxResults": len(comments),
            "total": len(comments),
            "startAt": 0,
        }
    return body


def select_fields(site: JiraSite, spec: list[str] | None, default: str) -> list[str] | None:
    """Resolve a `fields` parameter (ids, *all, *navigable, -excluded) to field ids; None = all."""
    names = [n.strip() for item in (spec or [default]) for n in item.split(",") if n.strip()]
    chosen: list[str] = []
    everything = any(n in {"*all", "*navigable"} for n in names)
    if everything:
        chosen = [*site.fields, "statuscategorychangedate", "comment", "issuelinks"]
    chosen += [n for n in names if not n.startswith(("*", "-")) and n not in chosen]
    excluded = {n[1:] for n in names if n.startswith("-")}
    return [n for n in chosen if n not in excluded]


def link_type_json(link_type: LinkType, base: str, version: int = 3) -> dict[str, Any]:
    """Return an issue link type as GET issueLinkType lists it and a link shows it."""
    return {
        "id": link_type.id,
        "name": link_type.name,
        "inward": link_type.inward,
        "outward": link_type.outward,
        "self": f"{base}/rest/api/{version}/issueLinkType/{link_type.id}",
    }


def issue_links_json(site: JiraSite, issue: Issue, base: str,
                     version: int = 3) -> list[dict[str, Any]]:
    """Return an issue's ``issuelinks`` field: each link with the issue at its other end.

    On the link's source that issue is the ``outwardIssue`` (read with the type's outward
    words: "causes"); on its destination it is the ``inwardIssue`` ("is caused by").
    """
    shown = []
    for link, side, other in site.links_of(issue):
        shown.append({
            "id": str(link.id),
            "self": f"{base}/rest/api/{version}/issueLink/{link.id}",
            "type": link_type_json(site.link_types[link.type_id], base, version),
            side: {
                "id": other.id,
                "key": other.key,
                "self": f"{base}/rest/api/{version}/issue/{other.id}",
                "fields": {name: field_value_json(site, site.fields[name], other, base, version)
                           for name in LINKED_ISSUE_FIELDS},
            },
        })
    return shown


def transition_json(site: JiraSite, transition: Transition, base: str) -> dict[str, Any]:
    """Return a transition as GET transitions (and expand=transitions on an issue) lists it."""
    return {
        "id": transition.id,
        "name": transition.name,
        "to": status_json(site.statuses[transition.to_id], base),
        "hasScreen": bool(transition.screen),
        "isGlobal": transition.from_ids is None,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "isLooped": False,
    }


def history_json(site: JiraSite, history: History, base: str) -> dict[str, Any]:
    """Return a changelog history as REST v3 shows it under expand=changelog."""
    return {
        "id": str(history.id),
        "author": user_json(site.user_by_account(history.author), base),
        "created": format_time(history.created),
        "items": [dict(item) for item in history.items],
    }


def remote_link_json(link: RemoteLink, issue: Issue, base: str) -> dict[str, Any]:
    """Return a remote link as GET remotelink lists it (parts never given are left out)."""
    body: dict[str, Any] = {
        "id": link.id,
        "self": remote_link_url(link, issue, base),
        "globalId": link.global_id,
        "application": link.application,
        "relationship": link.relationship,
        "object": link.object,
    }
    return {name: value for name, value in body.items() if value is not None}


def remote_link_url(link: RemoteLink, issue: Issue, base: str) -> str:
    """Return the URL of a remote link, as its ``self``."""
    return f"{base}/rest/api/3/issue/{issue.key}/remotelink/{link.id}"


def attachment_json(site: JiraSite, attachment: Attachment, base: str, version: int = 3,
                    *, metadata: bool = False) -> dict[str, Any]:
    """Return an attachment as an upload's answer and an issue's ``attachment`` field show it.

    With ``metadata`` it is GET attachment/{id}'s answer, where the id is a number, not a string.
    """
    return {
        "self": f"{base}/rest/api/{version}/attachment/{attachment.id}",
        "id": attachment.id if metadata else str(attachment.id),
        "filename": attachment.filename,
        "author": user_json(site.user_by_account(attachment.author), base, version),
        "created": format_time(attachment.created),
        "size": attachment.size,
        "mimeType": attachment.mime_type,
        "content": f"{base}/rest/api/{version}/attachment/content/{attachment.id}",
    }


def comment_json(
    site: JiraSite, comment: Comment, issue: Issue, base: str, version: int = 3
) -> dict[str, Any]:
    """Return a comment; body is ADF in v3 and wiki-ish plain text in v2."""
    body = comment.body if version == 3 else adf_to_text(comment.body, wiki=True)
    return {
        "self": f"{base}/rest/api/{version}/issue/{issue.id}/comment/{comment.id}",
        "id": comment.id,
        "author": user_json(site.user_by_account(comment.author), base, version),
        "body": body,
        "updateAuthor": user_json(site.user_by_account(comment.update_author), base, version),
        "created": format_time(comment.created),
        "updated": format_time(comment.updated),
        "jsdPublic": True,
    }


def issue_json(
    site: JiraSite,
    issue: Issue,
    base: str,
    *,
    wanted: list[str] | None,
    expand: set[str] = frozenset(),
    properties: list[str] = (),
    changelog_limit: int | None = None,
) -> dict[str, Any]:
    """Return an issue as GET /rest/api/3/issue/{key} does.

    With ``changelog_limit`` the changelog holds only that many of the most recent histories
    (still oldest first), and its ``total`` tells how many there are: a search's expand.
    """
    body: dict[str, Any] = {
        "expand": ISSUE_EXPANDS,
        "id": issue.id,
        "self": f"{base}/rest/api/3/issue/{issue.id}",
        "key": issue.key,
        "fields": issue_fields(site, issue, base, 3, wanted),
    }
    if "changelog" in expand:
        kept = issue.histories if changelog_limit is None else issue.histories[-changelog_limit:]
        histories = [history_json(site, h, base) for h in kept]
        body["changelog"] = {
            "startAt": 0,
            "maxResults": len(histories),
            "total": len(issue.histories),
            "histories": histories,
        }
    if "transitions" in expand:
        body["transitions"] = [transition_json(site, t, base)
                               for t in site.available_transitions(issue)]
    if "names" in expand:
        body["names"] = {fid: site.fields[fid].name for fid in body["fields"] if fid in site.fields}
    if properties:
        body["properties"] = {k: issue.properties[k] for k in properties if k in issue.properties}
    return body
