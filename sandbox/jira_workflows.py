"""The site's workflow as GET /rest/api/3/workflow/search shows it (one published workflow)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sandbox.jira_routing import Answer, Call, route
from sandbox.jira_state import JiraSite, Transition

logger = logging.getLogger(__name__)

WORKFLOW_NAME = "Change Request workflow"
WORKFLOW_ENTITY_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox-jira/workflow/change-request"))
CREATE_TRANSITION_ID = "1"


def _transition_json(transition: Transition) -> dict[str, Any]:
    return {
        "id": transition.id,
        "name": transition.name,
        "description": "",
        # Jira lists a global transition with no source statuses.
        "from": sorted(transition.from_ids) if transition.from_ids is not None else [],
        "to": transition.to_id,
        "type": "global" if transition.from_ids is None else "directed",
    }


def workflow_json(site: JiraSite, expand: set[str]) -> dict[str, Any]:
    """Return the site's workflow with the parts ``expand`` asks for."""
    body: dict[str, Any] = {
        "id": {"name": WORKFLOW_NAME, "entityId": WORKFLOW_ENTITY_ID},
        "description": "The change-management workflow of Change Requests.",
    }
    if expand & {"transitions", "transitions.rules", "transitions.properties"}:
        create = {"id": CREATE_TRANSITION_ID, "name": "Create", "description": "", "from": [],
                  "to": site.initial_status, "type": "initial"}
        body["transitions"] = [create] + [_transition_json(t) for t in site.transitions]
    if expand & {"statuses", "statuses.properties"}:
        body["statuses"] = [{"id": s.id, "name": s.name} for s in site.statuses.values()]
    if "default" in expand:
        body["isDefault"] = False
    return body


@route("/rest/api/3/workflow/search", "GET")
def search_workflows(call: Call) -> Answer:
    start, size = call.int_arg("startAt", 0), max(1, min(call.int_arg("maxResults", 50), 50))
    expand = {part.strip() for part in (call.arg("expand") or "").split(",") if part.strip()}
    names = call.args.get("workflowName") or []
    query = (call.arg("queryString") or "").lower()
    with call.site.lock:
        workflows = [workflow_json(call.site, expand)]
    workflows = [w for w in workflows
                 if (not names or w["id"]["name"] in names) and query in w["id"]["name"].lower()]
    page = workflows[start:start + size]
    link = f"{call.base}/rest/api/3/workflow/search"
    body: dict[str, Any] = {
        "self": f"{link}?startAt={start}&maxResults={size}",
        "maxResults": size,
        "startAt": start,
        "total": len(workflows),
        "isLast": start + size >= len(workflows),
        "values": page,
    }
    if not body["isLast"]:
        body["nextPage"] = f"{link}?startAt={start + size}&maxResults={size}"
    return 200, body
