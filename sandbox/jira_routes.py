"""The REST v3 endpoints of the sandbox Jira: one handler per route, Jira-shaped answers."""

from __future__ import annotations

import base64
import logging
from typing import Any

from sandbox import jira_actions as actions
from sandbox.jira_render import (
    comment_json,
    field_json,
    group_json,
    history_json,
    issue_json,
    remote_link_json,
    remote_link_url,
    select_fields,
    status_json,
    transition_json,
    user_json,
)
from sandbox.jira_routing import Answer, Call, page_bean, route
from sandbox.jira_state import JiraError, SandboxUser
from sandbox.jql import JqlError, parse

logger = logging.getLogger(__name__)

MAX_SEARCH_RESULTS = 100
# Enhanced search expands at most the 40 most recent histories of each issue's changelog
# (JRACLOUD-96459), GET issue the 100 most recent (JRACLOUD-67458); only
# GET issue/{key}/changelog, paged, has them all.
SEARCH_CHANGELOG_LIMIT = 40
ISSUE_CHANGELOG_LIMIT = 100
MAX_CHANGELOG_RESULTS = 100
MAX_USER_RESULTS = 1000  # user search pages "up to the thousandth user"


def _group(call: Call) -> Any:
    name, group_id = call.arg("groupname"), call.arg("groupId")
    if not name and not group_id:
        raise JiraError(400, ["You must specify a group name or a group id."])
    for group in call.site.groups.values():
        if group.name == name or group.group_id == group_id:
            return group
    raise JiraError(404, [f"Group not found: {name or group_id}"])


def _user(call: Call) -> SandboxUser:
    user = call.site.user_by_account(call.arg("accountId") or "")
    if user is None:
        raise JiraError(
            404, ["Specified user does not exist or you do not have required permissions"]
        )
    return user


@route("/rest/api/3/myself", "GET")
def myself(call: Call) -> Answer:
    return 200, {**user_json(call.user, call.base, email=True), "locale": "en_US"}


@route("/rest/api/3/field", "GET")
def fields(call: Call) -> Answer:
    return 200, [field_json(f) for f in call.site.fields.values()]


@route("/rest/api/3/status", "GET")
def statuses(call: Call) -> Answer:
    return 200, [status_json(s, call.base) for s in call.site.statuses.values()]


@route("/rest/api/3/user", "GET")
def user(call: Call) -> Answer:
    return 200, user_json(_user(call), call.base, email=True)


@route("/rest/api/3/user/groups", "GET")
def user_groups(call: Call) -> Answer:
    person = _user(call)
    return 200, [group_json(call.site.groups[name], call.base) for name in person.groups]


@route("/rest/api/3/user/search", "GET")
def user_search(call: Call) -> Answer:
    query, account_id = call.arg("query"), call.arg("accountId")
    if query and account_id:
        raise JiraError(400, ["The query and accountId parameters cannot be used together."])
    if not query and not account_id:
        raise JiraError(400, ["One of 'query' or 'accountId' must be provided."])
    start = max(0, call.int_arg("startAt", 0))
    size = max(1, min(call.int_arg("maxResults", 50), MAX_USER_RESULTS))
    with call.site.lock:
        if account_id:
            found = [u for u in [call.site.user_by_account(account_id)] if u is not None]
        else:
            found = call.site.users_matching(query or "")
        return 200, [user_json(u, call.base, email=True) for u in found[start:start + size]]


@route("/rest/api/3/group/member", "GET")
def group_members(call: Call) -> Answer:
    group = _group(call)
    start, size = call.int_arg("startAt", 0), max(1, min(call.int_arg("maxResults", 50), 50))
    members = [u for u in call.site.users.values() if group.name in u.groups]
    page = members[start:start + size]
    link = (f"{call.base}/rest/api/3/group/member"
            f"?groupId={group.group_id}&includeInactiveUsers=false")
    return 200, page_bean(call, link, start=start, size=size, total=len(members),
                          values=[user_json(u, call.base, email=True) for u in page])


@route("/rest/api/3/issue", "POST")
def create_issue(call: Call) -> Answer:
    issue = actions.create_issue(call.site, call.user, call.json_body())
    link = f"{call.base}/rest/api/3/issue/{issue.id}"
    return 201, {"id": issue.id, "key": issue.key, "self": link}


def _list_arg(call: Call, name: str) -> list[str]:
    return [p.strip() for v in call.args.get(name, []) for p in v.split(",") if p.strip()]


@route("/rest/api/3/issue/<key>", "GET")
def get_issue(call: Call, key: str) -> Answer:
    with call.site.lock:
        issue = call.site.issue(key)
        wanted = select_fields(call.site, call.args.get("fields"), "*all")
        expand = set(_list_arg(call, "expand"))
        return 200, issue_json(call.site, issue, call.base, wanted=wanted, expand=expand,
                               properties=_list_arg(call, "properties"),
                               changelog_limit=ISSUE_CHANGELOG_LIMIT)


@route("/rest/api/3/issue/<key>/changelog", "GET")
def get_changelog(call: Call, key: str) -> Answer:
    start = max(0, call.int_arg("startAt", 0))
    size = max(1, min(call.int_arg("maxResults", MAX_CHANGELOG_RESULTS), MAX_CHANGELOG_RESULTS))
    with call.site.lock:
        issue = call.site.issue(key)
        histories = issue.histories  # oldest first, as Jira pages them
        page = [history_json(call.site, h, call.base) for h in histories[start:start + size]]
        total = len(histories)
    return 200, page_bean(call, f"{call.base}/rest/api/3/issue/{key}/changelog", start=start,
                          size=size, total=total, values=page)


@route("/rest/api/3/issue/<key>", "PUT")
def edit_issue(call: Call, key: str) -> Answer:
    actions.edit_issue(call.site, call.user, key, call.json_body())
    return 204, None


@route("/rest/api/3/issue/<key>", "DELETE")
def delete_issue(call: Call, key: str) -> Answer:
    actions.delete_issue(call.site, call.user, key)
    return 204, None


@route("/rest/api/3/issue/<key>/transitions", "GET")
def get_transitions(call: Call, key: str) -> Answer:
    with call.site.lock:
        issue = call.site.issue(key)
        available = call.site.available_transitions(issue)
        return 200, {
            "expand": "transitions",
            "transitions": [transition_json(call.site, t, call.base) for t in available],
        }


@route("/rest/api/3/issue/<key>/transitions", "POST")
def post_transition(call: Call, key: str) -> Answer:
    actions.transition_issue(call.site, call.user, key, call.json_body())
    return 204, None


@route("/rest/api/3/issue/<key>/comment", "GET")
def get_comments(call: Call, key: str) -> Answer:
    start, size = call.int_arg("startAt", 0), max(1, min(call.int_arg("maxResults", 100), 100))
    with call.site.lock:
        issue = call.site.issue(key)
        comments = sorted(issue.comments, key=lambda c: (c.created, int(c.id)),
                          reverse=call.arg("orderBy") == "-created")
        page = [comment_json(call.site, c, issue, call.base) for c in comments[start:start + size]]
    return 200, {"startAt": start, "maxResults": size, "total": len(comments), "comments": page}


@route("/rest/api/3/issue/<key>/comment", "POST")
def post_comment(call: Call, key: str) -> Answer:
    comment = actions.add_comment(call.site, call.user, key, call.json_body())
    with call.site.lock:
        return 201, comment_json(call.site, comment, call.site.issue(key), call.base)


@route("/rest/api/3/issue/<key>/comment/<comment_id>", "GET")
def get_comment(call: Call, key: str, comment_id: str) -> Answer:
    with call.site.lock:
        issue = call.site.issue(key)
        comment = actions.find_comment(call.site, issue, comment_id)
        return 200, comment_json(call.site, comment, issue, call.base)


@route("/rest/api/3/issue/<key>/comment/<comment_id>", "PUT")
def put_comment(call: Call, key: str, comment_id: str) -> Answer:
    comment = actions.edit_comment(call.site, call.user, key, comment_id, call.json_body())
    with call.site.lock:
        return 200, comment_json(call.site, comment, call.site.issue(key), call.base)


@route("/rest/api/3/issue/<key>/remotelink", "POST")
def post_remote_link(call: Call, key: str) -> Answer:
    link, created = actions.upsert_remote_link(call.site, key, call.json_body())
    with call.site.lock:
        url = remote_link_url(link, call.site.issue(key), call.base)
    return (201 if created else 200), {"id": link.id, "self": url}


@route("/rest/api/3/issue/<key>/remotelink", "GET")
def get_remote_links(call: Call, key: str) -> Answer:
    global_id = call.arg("globalId")
    links = actions.remote_links(call.site, key, global_id)
    with call.site.lock:
        issue = call.site.issue(key)
        shown = [remote_link_json(link, issue, call.base) for link in links]
    # With a globalId Jira answers that one link, not a list.
    return 200, shown[0] if global_id is not None else shown


@route("/rest/api/3/issue/<key>/properties/<property_key>", "GET")
def get_property(call: Call, key: str, property_key: str) -> Answer:
    return 200, {"key": property_key, "value": actions.get_property(call.site, key, property_key)}


@route("/rest/api/3/issue/<key>/properties/<property_key>", "PUT")
def put_property(call: Call, key: str, property_key: str) -> Answer:
    created = actions.set_property(call.site, key, property_key, call.body)
    return (201 if created else 200), None


@route("/rest/api/3/issue/<key>/properties/<property_key>", "DELETE")
def delete_property(call: Call, key: str, property_key: str) -> Answer:
    actions.delete_property(call.site, key, property_key)
    return 204, None


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "offset":
            return int(offset)
    except ValueError:
        pass
    raise JiraError(400, ["The provided next page token is invalid or expired."])


@route("/rest/api/3/search/jql", "GET", "POST")
def search(call: Call) -> Answer:
    if call.body is None:
        request = {k: call.arg(k) for k in ("jql", "nextPageToken", "maxResults", "expand")}
        request["fields"] = _list_arg(call, "fields") or None
        request["properties"] = _list_arg(call, "properties")
    else:
        request = call.json_body()
    try:
        size = max(1, min(int(request.get("maxResults") or 50), MAX_SEARCH_RESULTS))
    except ValueError as exc:
        raise JiraError(400, ["maxResults must be an integer."]) from exc
    offset = _page_offset(request.get("nextPageToken"))
    with call.site.lock:
        try:
            query = parse(call.site, request.get("jql") or "")
        except JqlError as exc:
            raise JiraError(400, [str(exc)]) from exc
        if not query.predicates:
            raise JiraError(400, [
                "Unbounded JQL queries are not allowed here. "
                "Please add a search restriction to your query."
            ])
        found = query.run(list(call.site.issues.values()))
        page = found[offset:offset + size]
        wanted = select_fields(call.site, request.get("fields"), "id")
        expand = {e.strip() for e in (request.get("expand") or "").split(",") if e.strip()}
        if wanted == ["id"] and not expand:
            issues = [{"id": issue.id} for issue in page]
        else:
            issues = [
                issue_json(call.site, issue, call.base, wanted=wanted, expand=expand,
                           properties=request.get("properties") or [],
                           changelog_limit=SEARCH_CHANGELOG_LIMIT)
                for issue in page
            ]
    last = offset + size >= len(found)
    body: dict[str, Any] = {"issues": issues}
    if call.site.sends_is_last:
        body["isLast"] = last
    if not last:
        body["nextPageToken"] = _page_token(offset + size)
    return 200, body
