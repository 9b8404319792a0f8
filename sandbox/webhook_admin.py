"""Admin webhook registration (/rest/webhooks/1.0/webhook), as used with an API token."""

from __future__ import annotations

import logging

from sandbox.jira_routing import Answer, Call, route
from sandbox.jira_state import JiraError, format_time, utc_now

logger = logging.getLogger(__name__)


@route("/rest/webhooks/1.0/webhook", "GET")
def list_webhooks(call: Call) -> Answer:
    return 200, list(call.registrations.values())


def _registration(call: Call, number: str) -> dict:
    body = call.json_body()
    if not isinstance(body.get("url"), str) or not body.get("name"):
        raise JiraError(400, ["A webhook needs a name and a url."])
    # Like Jira, keep the secret to sign with but never show it again.
    call.on_register(body["url"], body.get("secret"))
    return {
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


@route("/rest/webhooks/1.0/webhook", "POST")
def register_webhook(call: Call) -> Answer:
    number = str(max((int(n) for n in call.registrations), default=0) + 1)
    call.registrations[number] = _registration(call, number)
    return 201, call.registrations[number]


@route("/rest/webhooks/1.0/webhook/<number>", "PUT")
def update_webhook(call: Call, number: str) -> Answer:
    if number not in call.registrations:
        raise JiraError(404, ["Webhook not found."])
    call.registrations[number] = _registration(call, number)
    return 200, call.registrations[number]


@route("/rest/webhooks/1.0/webhook/<number>", "DELETE")
def delete_webhook(call: Call, number: str) -> Answer:
    if call.registrations.pop(number, None) is None:
        raise JiraError(404, ["Webhook not found."])
    call.on_register(None, None)
    return 204, None
