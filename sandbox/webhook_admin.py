"""Admin webhook registration (/rest/webhooks/1.0/webhook), as used with an API token."""

from __future__ import annotations

import logging

from sandbox.jira_routing import Answer, Call, route
from sandbox.jira_state import JiraError, format_time, utc_now

logger = logging.getLogger(__name__)


@route("/rest/webhooks/1.0/webhook", "GET")
def list_webhooks(call: Call) -> Answer:
    return 200, list(call.registrations.values())


@route("/rest/webhooks/1.0/webhook", "POST")
def register_webhook(call: Call) -> Answer:
    body = call.json_body()
    if not isinstance(body.get("url"), str) or not body.get("name"):
        raise JiraError(400, ["A webhook needs a name and a url."])
    number = str(len(call.registrations) + 1)
    registration = {
        "self": f"{call.base}/rest/webhooks/1.0/webhook/{number}",
        "name": body["name"],
        "url": body["url"],
        "events": body.get("events", []),
        "filters": body.get("filters", {}),
        "excludeBody": bool(body.get("excludeBody", False)),
        "enabled": True,
        "lastUpdatedUser": call.user.account_id,
        "lastUpdatedDisplayName": call.user.display_name,
        "lastUpdated": format_time(utc_now()),
    }
    call.registrations[number] = registration
    call.on_register(body["url"], body.get("secret"))
    return 201, registration


@route("/rest/webhooks/1.0/webhook/<number>", "DELETE")
def delete_webhook(call: Call, number: str) -> Answer:
    if call.registrations.pop(number, None) is None:
        raise JiraError(404, ["Webhook not found."])
    call.on_register(None, None)
    return 204, None
