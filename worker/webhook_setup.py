"""`changeguard setup-webhook URL`: register Jira's admin webhook for changeguard, idempotently."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import redis

from rules.policy import Policy

from .jira_client import JiraClient
from .settings import Settings

logger = logging.getLogger(__name__)

WEBHOOK_NAME = "changeguard"
# Only what webhooks/routes.py acts on: any other event is a delivery Jira makes for nothing.
WEBHOOK_EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")
SCOPE_FILTER = "issue-related-events-section"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
UNSIGNED = "unsigned"


class WebhookSetupError(ValueError):
    """The webhook cannot be set up as asked (bad URL, no secret)."""


class Action(str, enum.Enum):
    """What setup-webhook does to Jira."""

    REGISTER = "register"
    UPDATE = "update"
    NOTHING = "nothing"


@dataclasses.dataclass(frozen=True)
class WebhookPlan:
    """The action to take, on which existing webhook, and what differs from the wanted one."""

    action: Action
    existing: Mapping[str, Any] | None = None
    differences: tuple[str, ...] = ()


def check_url(url: str) -> None:
    """Refuse anything but an https URL (http only for localhost and 127.0.0.1)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise WebhookSetupError(
            f"{url!r} is not a URL: give the full address of changeguard's endpoint, "
            "e.g. https://changeguard.example.com/webhooks/jira")
    if parts.scheme != "https" and parts.hostname not in LOCAL_HOSTS:
        raise WebhookSetupError(
            f"{url} is not https: Jira Cloud delivers webhooks only to https URLs with a valid "
            "certificate (http is accepted for localhost and 127.0.0.1 only)")


def webhook_jql(policy: Policy) -> str:
    """Return the JQL filter of the webhook: the changes in scope, and the freezes declared in
    Jira (in the change projects) when the policy reads them."""
    issue_type = policy.freezes.issue_type
    if issue_type is None:
        return policy.scope_jql
    quoted = issue_type.replace("\\", "\\\\").replace('"', '\\"')
    freezes = f'issuetype = "{quoted}"'
    if policy.scope_project_keys:
        freezes = f"project in ({', '.join(policy.scope_project_keys)}) AND {freezes}"
    return f"({policy.scope_jql}) OR ({freezes})"


def wanted_webhook(url: str, policy: Policy, secret: str | None) -> dict[str, Any]:
    """Return the admin webhook definition changeguard needs."""
    webhook: dict[str, Any] = {
        "name": WEBHOOK_NAME,
        "url": url,
        "events": list(WEBHOOK_EVENTS),
        "filters": {SCOPE_FILTER: webhook_jql(policy)},
        "excludeBody": False,
    }
    if secret:
        webhook["secret"] = secret
    return webhook


def secret_fingerprint(secret: str | None) -> str:
    """Return a keyed digest that tells secrets apart without revealing them."""
    if not secret:
        return UNSIGNED
    return hmac.new(secret.encode(), b"changeguard webhook secret", hashlib.sha256).hexdigest()


def plan_webhook(existing: list[Mapping[str, Any]], wanted: Mapping[str, Any],
                 remembered_fingerprint: str | None, fingerprint: str) -> WebhookPlan:
    """Decide whether to register, update or leave alone, given Jira's webhooks for that URL.

    ``remembered_fingerprint`` is the secret's fingerprint stored when changeguard last set
    that webhook (None: unknown; Jira never shows a webhook's secret).
    """
    if not existing:
        return WebhookPlan(Action.REGISTER)
    current = existing[0]
    differences = []
    if current.get("name") != wanted["name"]:
        differences.append("name")
    if sorted(current.get("events") or []) != sorted(wanted["events"]):
        differences.append("events")
    if (current.get("filters") or {}).get(SCOPE_FILTER) != wanted["filters"][SCOPE_FILTER]:
        differences.append("JQL filter")
    if bool(current.get("excludeBody")) != wanted["excludeBody"]:
        differences.append("excludeBody")
    if remembered_fingerprint is None:
        differences.append("secret (Jira never shows it, and changeguard has no record of it)")
    elif remembered_fingerprint != fingerprint:
        differences.append("secret")
    return WebhookPlan(Action.UPDATE if differences else Action.NOTHING, current,
                       tuple(differences))


class SecretMemory:
    """Remember in Redis a fingerprint of the secret each webhook was given."""

    def __init__(self, client: redis.Redis, settings: Settings):
        self._client = client
        self._settings = settings

    def _key(self, webhook_self: str) -> str:
        return self._settings.key("webhook-secret",
                                  hashlib.sha256(webhook_self.encode()).hexdigest()[:16])

    def recall(self, webhook_self: str) -> str | None:
        """Return the fingerprint stored for this webhook, if any."""
        value = self._client.get(self._key(webhook_self))
        return value.decode() if value is not None else None

    def remember(self, webhook_self: str, fingerprint: str) -> None:
        """Store the fingerprint of the secret just sent for this webhook."""
        self._client.set(self._key(webhook_self), fingerprint)


def setup_webhook(url: str, *, settings: Settings, policy: Policy, jira: JiraClient,
                  memory: SecretMemory | None, allow_unsigned: bool = False) -> list[str]:
    """Register or update changeguard's admin webhook as needed; return the lines to print."""
    check_url(url)
    secret = settings.jira_webhook_secret
    if not secret and not allow_unsigned:
        raise WebhookSetupError(
            "JIRA_WEBHOOK_SECRET is not set: set it to a long random value (the web endpoint "
            "checks signatures with it), or pass --allow-unsigned to register without one")
    wanted = wanted_webhook(url, policy, secret)
    fingerprint = secret_fingerprint(secret)
    existing = [w for w in jira.list_webhooks() if w.get("url") == url]
    remembered = None
    if existing and memory is not None:
        remembered = memory.recall(existing[0].get("self", ""))
    plan = plan_webhook(existing, wanted, remembered, fingerprint)
    label = f"webhook {WEBHOOK_NAME!r} → {url}"
    if plan.action is Action.REGISTER:
        webhook = jira.register_webhook(wanted)
        lines = [f"registered {label} ({webhook.get('self', 'no id returned')})"]
    elif plan.action is Action.UPDATE:
        webhook_self = plan.existing.get("self", "")
        webhook = jira.update_webhook(webhook_self.rstrip("/").rsplit("/", 1)[-1], wanted)
        lines = [f"updated {label} ({webhook_self}): {', '.join(plan.differences)}"]
    else:
        webhook = dict(plan.existing)
        lines = [f"already registered: {label} ({webhook.get('self')}); nothing changed"]
    if plan.action is not Action.NOTHING and memory is not None and webhook.get("self"):
        memory.remember(webhook["self"], fingerprint)
    if not secret:
        lines.append("warning: registered without a secret; anyone who knows the URL can "
                     "send changeguard events")
    if len(existing) > 1:
        lines.append(f"warning: {len(existing) - 1} more webhook(s) post to {url}: delete them "
                     "in Jira (Settings → System → WebHooks) or every event arrives twice")
    logger.info("webhook set up", extra={"action": plan.action.value, "url": url})
    return lines
