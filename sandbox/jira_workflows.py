"""The site's workflow as GET /rest/api/3/workflows/search shows it (one published workflow)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sandbox.jira_routing import Answer, Call, page_bean, route
from sandbox.jira_state import JiraSite, Transition

logger = logging.getLogger(__name__)

WORKFLOW_NAME = "Change Request workflow"
WORKFLOW_ENTITY_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox-jira/workflow/change-request"))
WORKFLOW_VERSION_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox-jira/workflow/version/0"))
CREATE_TRANSITION_ID = "1"
MAX_WORKFLOW_RESULTS = 50
STATUS_CATEGORIES = {"new": "TODO", "indeterminate": "IN_PROGRESS", "done": "DONE"}
GLOBAL_SCOPE = {"type": "GLOBAL"}


def _transition_json(transition_id: str, name: str, kind: str, to_id: str,
                     from_ids: frozenset[str] | None = None) -> dict[str, Any]:
    return {
        "id": transition_id,
        "name": name,
        "description": "",
        "type": kind,
        "toStatusReference": to_id,
        # A directed transition links each status it starts from; initial and global ones none.
        "links": [{"fromStatusReference": source, "fromPort": 0, "toPort": 1}
                  for source in sorted(from_ids or ())],
        "actions": [],
        "validators": [],
        "triggers": [],
        "properties": {},
    }


def _site_transition(transition: Transition) -> dict[str, Any]:
    kind = "GLOBAL" if transition.from_ids is None else "DIRECTED"
    return _transition_json(transition.id, transition.name, kind, transition.to_id,
                            transition.from_ids)


def workflow_json(site: JiraSite, expand: set[str]) -> dict[str, Any]:
    """Return the site's workflow (with its transitions when ``expand`` asks for them)."""
    body: dict[str, Any] = {
        "id": WORKFLOW_ENTITY_ID,
        "name": WORKFLOW_NAME,
        "description": "The change-management workflow of Change Requests.",
        "isEditable": True,
        "scope": dict(GLOBAL_SCOPE),
        # In a read, a status's reference is its id.
        "statuses": [{"statusReference": s.id, "deprecated": False, "properties": {}}
                     for s in site.statuses.values()],
        "version": {"id": WORKFLOW_VERSION_ID, "versionNumber": 0},
    }
    if "values.transitions" in expand:
        create = _transition_json(CREATE_TRANSITION_ID, "Create", "INITIAL", site.initial_status)
        body["transitions"] = [create] + [_site_transition(t) for t in site.transitions]
    return body


def _status_json(site: JiraSite, status_id: str) -> dict[str, Any]:
    status = site.statuses[status_id]
    return {"id": status.id, "name": status.name, "description": "",
            "scope": dict(GLOBAL_SCOPE), "statusCategory": STATUS_CATEGORIES[status.category],
            "statusReference": status.id}


@route("/rest/api/3/workflows/search", "GET")
def search_workflows(call: Call) -> Answer:
    start = max(0, call.int_arg("startAt", 0))
    size = max(1, min(call.int_arg("maxResults", MAX_WORKFLOW_RESULTS), MAX_WORKFLOW_RESULTS))
    expand = {part.strip() for part in (call.arg("expand") or "").split(",") if part.strip()}
    query = (call.arg("queryString") or "").lower()
    scope = (call.arg("scope") or "").upper()
    active = call.arg("isActive")
    with call.site.lock:
        workflows = [workflow_json(call.site, expand)]
        workflows = [w for w in workflows
                     if query in w["name"].lower() and scope in {"", w["scope"]["type"]}
                     and active in {None, "true"}]  # the one workflow is in use
        page = workflows[start:start + size]
        referenced = dict.fromkeys(s["statusReference"] for w in page for s in w["statuses"])
        statuses = [_status_json(call.site, status_id) for status_id in referenced]
    return 200, page_bean(call, f"{call.base}/rest/api/3/workflows/search", start=start,
                          size=size, total=len(workflows), values=page, statuses=statuses)
