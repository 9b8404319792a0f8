"""Emergency approvals from Slack: post the approval request, and act on its Approve/Reject buttons."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from rules.approvals import revision_of
from rules.change_request import ChangeRequest, fields_to_fetch, parse_change_request
from rules.issue_record import PROPERTY_KEY, AuditEntry, IssueRecord, parse_record
from rules.policy import Category, FieldRole, GroupRole, StatusRole
from rules.slack_approval import PROPERTY_KEY as REQUEST_PROPERTY
from rules.slack_approval import (SlackAction, SlackVerdict, judge_slack_action,
                                  outcome_text, request_details, request_message,
                                  updated_message)
from worker import runtime as runtime_module
from worker.runtime import Runtime
from worker.slack_client import SlackClient, SlackRejected

from .approver_groups import groups_of
from .issue_session import MARKER_TTL_SECONDS, find_transition, issue_session

logger = logging.getLogger(__name__)

USER_CACHE_SECONDS = 24 * 3600


def request_emergency_approval(issue_key: str, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Post the Slack approval request of an Emergency change, once per revision of the change."""
    rt = runtime or runtime_module.current()
    with issue_session(rt, issue_key):
        issue = rt.jira.get_issue(issue_key, fields=fields_to_fetch(rt.site),
                                  properties=[REQUEST_PROPERTY])
        change = parse_change_request(issue, rt.site)
        if rt.policy.category_of(change.option(FieldRole.CATEGORY)) is not Category.EMERGENCY:
            return {"posted": False, "reason": "not_emergency"}
        if rt.site.status_role(change.status_id) is not StatusRole.AWAITING_APPROVAL:
            return {"posted": False, "reason": "not_awaiting"}
        revision = revision_of(change)
        marker = rt.settings.key("slack-approval", issue_key, revision)
        stored = (issue.get("properties") or {}).get(REQUEST_PROPERTY) or {}
        if rt.redis.get(marker) is not None or stored.get("revision") == revision:
            return {"posted": False, "reason": "already_posted"}
        people = _People(rt)
        text, blocks = request_message(request_details(
            change, _browse_url(rt, issue_key), people.names(_commander(change))))
        posted = rt.slack.post_message(rt.policy.slack_channel, text, blocks=blocks)
        rt.redis.set(marker, posted["ts"], ex=MARKER_TTL_SECONDS)
        rt.jira.set_issue_property(issue_key, REQUEST_PROPERTY, {**posted, "revision": revision})
        logger.info("approval requested", extra={"issue_key": issue_key, "ts": posted["ts"]})
        return {"posted": True, **posted}


def handle_slack_action(
    issue_key: str,
    action: str,
    slack_user_id: str,
    response_ts: str,
    action_ts: str | None = None,
    *,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """Judge one Approve/Reject click as a Jira approval, record it, move the issue, say so."""
    rt = runtime or runtime_module.current()
    context = {"issue_key": issue_key, "slack_user": slack_user_id, "action": action}
    done_key = rt.settings.key("slack-action", issue_key, slack_user_id, action_ts or response_ts)
    with issue_session(rt, issue_key):
        done = rt.redis.get(done_key)
        if done is None:  # a retried job only repeats the message update
            issue = rt.jira.get_issue(issue_key, fields=fields_to_fetch(rt.site),
                                      properties=[PROPERTY_KEY, REQUEST_PROPERTY],
                                      expand=["transitions"])
            properties = issue.get("properties") or {}
            request = properties.get(REQUEST_PROPERTY) or {}
            result = _act(rt, SlackAction(action), parse_change_request(issue, rt.site),
                          parse_record(properties.get(PROPERTY_KEY)), request, slack_user_id,
                          response_ts, _iso(action_ts), issue)
            done = json.dumps({"channel": request.get("channel") or rt.policy.slack_channel,
                               **result})
            rt.redis.set(done_key, done, ex=MARKER_TTL_SECONDS)
        update = json.loads(done)
        rt.slack.update_message(update["channel"], response_ts, update["text"],
                                blocks=update["blocks"])
    logger.info("slack action handled", extra={**context, "verdict": update["summary"]["verdict"]})
    return update["summary"]


def _act(rt: Runtime, action: SlackAction, change: ChangeRequest, record: IssueRecord,
         request: dict, slack_user_id: str, response_ts: str, at: str,
         issue: dict) -> dict[str, Any]:
    """Decide, then change Jira; return the Slack message to show and the job's summary."""
    people = _People(rt)
    actor = _account_for(rt, people, slack_user_id, change)
    groups = groups_of(rt, actor) if actor else frozenset()
    decision = judge_slack_action(action, change, rt.policy, rt.site, actor, groups,
                                  record.approvals, at=at,
                                  current_request=request.get("ts") == response_ts)
    moved = False
    if decision.records_approval and decision.outcome.state != record.approvals:
        name = "approved" if decision.verdict is SlackVerdict.APPROVED else "approval recorded"
        entry = _entry(rt, at, name, actor, StatusRole.APPROVED, decision.outcome.verdict.value)
        rt.jira.set_issue_property(change.key, PROPERTY_KEY,
                                   record.with_entry(entry, decision.outcome.state))
    if decision.verdict is SlackVerdict.APPROVED:
        moved = _move(rt, change.key, StatusRole.APPROVED, issue)
    elif decision.verdict is SlackVerdict.REJECTED:
        rt.jira.set_issue_property(change.key, PROPERTY_KEY, record.with_entry(
            _entry(rt, at, "rejected", actor, StatusRole.REJECTED, "")))
        moved = _move(rt, change.key, StatusRole.REJECTED, issue)
    details = request_details(change, _browse_url(rt, change.key), people.names(
        _commander(change), *(a.account_id for a in decision.approvals)))
    actor_name = people.names(actor).get(actor) if actor else None
    role = rt.site.status_role(change.status_id)
    text = outcome_text(decision, details, actor_name or f"<@{slack_user_id}>", people.names(
        *(a.account_id for a in decision.approvals)), rt.policy, moved=moved,
        status=rt.policy.status_names[role] if role else "another status")
    text, blocks = updated_message(decision, details, text)
    return {"text": text, "blocks": blocks,
            "summary": {"verdict": decision.verdict.value, "moved": moved}}


def _entry(rt: Runtime, at: str, decision: str, actor: str | None, to: StatusRole,
           detail: str) -> AuditEntry:
    awaiting = rt.policy.status_names[StatusRole.AWAITING_APPROVAL]
    return AuditEntry(at=at, decision=decision, reason="slack", actor=actor, from_status=awaiting,
                      to_status=rt.policy.status_names[to], changelog_id=None, detail=detail)


def _move(rt: Runtime, issue_key: str, to: StatusRole, issue: dict) -> bool:
    """Move the issue to ``to`` if the workflow allows it (``issue`` lists the transitions)."""
    transition_id = find_transition(rt, issue_key, rt.site.status_ids[to], issue)
    if transition_id is None:
        logger.warning("no transition", extra={"issue_key": issue_key, "to": to.value})
        return False
    # Our own move: enforcement ignores the webhook it causes (screen_move, OWN_MOVE).
    rt.jira.transition_issue(issue_key, transition_id)
    return True


def _account_for(rt: Runtime, people: "_People", slack_user_id: str,
                 change: ChangeRequest) -> str | None:
    """Return the Jira account of a Slack user: the policy's table, else a matching email."""
    mapped = rt.policy.slack_users.get(slack_user_id)
    if mapped:
        return mapped
    cache_key = rt.settings.key("slack-user", slack_user_id)
    cached = rt.redis.get(cache_key)
    if cached is not None:
        return cached.decode()
    if not isinstance(rt.slack, SlackClient):
        return None  # a stand-in for Slack has no workspace to look people up in
    # Jira cannot be searched by email with our client, so compare the people who could be
    # concerned: the named IC, the reporter (to say why not), and the approver groups.
    for account in _candidates(rt, change):
        email = people.email(account)
        if not email:
            continue
        try:
            found = rt.slack.call("users.lookupByEmail", http_verb="GET", params={"email": email})
        except SlackRejected:  # users_not_found: this person has no Slack account
            continue
        if (found.get("user") or {}).get("id") == slack_user_id:
            rt.redis.set(cache_key, account, ex=USER_CACHE_SECONDS)
            return account
    return None


def _candidates(rt: Runtime, change: ChangeRequest) -> list[str]:
    accounts = [change.user(FieldRole.INCIDENT_COMMANDER), change.reporter_account_id]
    for role in (GroupRole.HEAD_OF_ENGINEERING, GroupRole.INCIDENT_COMMANDERS):
        accounts += [m.get("accountId") for m in
                     rt.jira.get_group_members(rt.policy.group_names[role])]
    return list(dict.fromkeys(a for a in accounts if a))


class _People:
    """Jira users looked up once per job: display names and email addresses."""

    def __init__(self, rt: Runtime):
        self._rt = rt
        self._users: dict[str, dict] = {}

    def _user(self, account_id: str) -> dict:
        if account_id not in self._users:
            self._users[account_id] = self._rt.jira.get_user(account_id)
        return self._users[account_id]

    def names(self, *account_ids: str | None) -> dict[str, str]:
        """Return display names by account id (the id itself when Jira gives no name)."""
        return {a: self._user(a).get("displayName") or a for a in account_ids if a}

    def email(self, account_id: str) -> str | None:
        """Return the account's email address, when Jira shows it."""
        return self._user(account_id).get("emailAddress")


def _commander(change: ChangeRequest) -> str | None:
    return change.user(FieldRole.INCIDENT_COMMANDER)


def _browse_url(rt: Runtime, issue_key: str) -> str:
    return f"{rt.settings.jira_base_url}/browse/{issue_key}"


def _iso(action_ts: str | None) -> str:
    """Return Slack's action_ts (epoch seconds) as ISO 8601 UTC; now when absent."""
    moment = (datetime.fromtimestamp(float(action_ts), timezone.utc) if action_ts
              else datetime.now(timezone.utc))
    return moment.isoformat(timespec="seconds")
