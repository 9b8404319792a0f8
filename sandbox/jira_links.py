"""Links between issues in the sandbox Jira: the link types and POST issueLink, as in Jira Cloud.

POST issueLink's ``inwardIssue`` is the link's source and ``outwardIssue`` its destination:
{type: Causes, inwardIssue: A, outwardIssue: B} reads "A causes B". A's ``issuelinks`` then
show B as the ``outwardIssue``, and B's show A as the ``inwardIssue``, labelled "is caused by".
"""

from __future__ import annotations

import logging
from typing import Any

from sandbox import jira_actions as actions
from sandbox.jira_render import link_type_json
from sandbox.jira_routing import Answer, Call, route
from sandbox.jira_state import Issue, IssueLink, JiraError, JiraSite, SandboxUser

logger = logging.getLogger(__name__)

INCOMPLETE_LINK = ("An issue link needs a type and both an inwardIssue and an outwardIssue "
                   "(and a comment, if any, is an object).")


def _linked_issue(site: JiraSite, ref: dict[str, Any]) -> Issue:
    """Return the issue a request names by ``key`` or ``id``, or Jira's 404."""
    return site.issue(str(ref.get("key") or ref.get("id") or ""))


def link_issues(site: JiraSite, actor: SandboxUser, body: dict[str, Any]) -> IssueLink:
    """Link two issues from a POST issueLink body; return the link (the existing one when the
    same link is made again, which Jira answers as created).

    A ``comment`` in the body goes on the ``inwardIssue``, before the link is made: a comment
    Jira refuses leaves the issues unlinked. No webhook announces the link (changeguard
    ignores ``issuelink_created``).
    """
    parts = [body.get(name) for name in ("type", "inwardIssue", "outwardIssue")]
    comment = body.get("comment")
    if not all(isinstance(part, dict) for part in parts) or not isinstance(comment, dict | None):
        raise JiraError(400, [INCOMPLETE_LINK])
    kind, inward, outward = parts
    with site.lock:
        link_type = site.link_type(kind)
        source, destination = _linked_issue(site, inward), _linked_issue(site, outward)
        if comment is not None:
            actions.add_comment(site, actor, source.key, comment)
        return site.add_issue_link(link_type, source, destination)


@route("/rest/api/3/issueLinkType", "GET")
def issue_link_types(call: Call) -> Answer:
    return 200, {"issueLinkTypes": [link_type_json(t, call.base)
                                    for t in call.site.link_types.values()]}


@route("/rest/api/3/issueLink", "POST")
def create_issue_link(call: Call) -> Answer:
    link_issues(call.site, call.user, call.json_body())
    return 201, None  # Jira answers nothing: the link shows in the issues' issuelinks
