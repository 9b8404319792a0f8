"""Post the deployment notices to Slack once per move, and show the outcome once it is recorded."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any
from zoneinfo import ZoneInfo

from rules.change_request import fields_to_fetch, parse_change_request
from rules.deployment_notice import (PROPERTY_KEY, NoticeAction, OutcomeAction, PostedMessage,
                                     SlackText, decide_notice, decide_outcome_update,
                                     finished_message, mover_account_id, mover_name,
                                     parse_notice_record,
                                     starting_message)
from rules.deployment import PROPERTY_KEY as DEPLOYMENTS_KEY, parse_deployments
from rules.policy import FieldRole
from worker import runtime as runtime_module
from worker.runtime import Runtime

from .issue_session import MARKER_TTL_SECONDS, issue_session

logger = logging.getLogger(__name__)


def announce_deployment(issue_key: str, changelog_id: str, to_status_id: str, *,
                        runtime: Runtime | None = None) -> dict[str, Any]:
    """Post the "deploying" message, or its threaded "implemented" reply, once per move."""
    rt = runtime or runtime_module.current()
    move = int(changelog_id)
    context = {"issue_key": issue_key, "changelog_id": move}
    marker_key = rt.settings.key("notice", issue_key, str(move))
    with issue_session(rt, issue_key, lane="notice"):
        # One read: fields, the stored messages, and the changelog (who made the move).
        issue = rt.jira.get_issue(issue_key, fields=fields_to_fetch(rt.site),
                                  properties=[PROPERTY_KEY, DEPLOYMENTS_KEY],
                                  expand=["changelog"])
        change = parse_change_request(issue, rt.site)
        record = parse_notice_record((issue.get("properties") or {}).get(PROPERTY_KEY))
        action = decide_notice(change, rt.site, to_status_id, move, record)
        logger.info("deployment notice judged", extra={**context, "action": action.value})
        if action not in (NoticeAction.POST_STARTING, NoticeAction.POST_FINISHED):
            return {"action": action.value}
        stored = rt.redis.get(marker_key)
        if stored is not None:
            # Posted by an earlier attempt that failed before recording it: record, don't repost.
            posted = PostedMessage(**json.loads(stored))
        else:
            url = _browse_url(rt, issue_key)
            who = mover_name(issue, move)
            deployment = None
            if mover_account_id(issue, move) == rt.site.bot_account_id:
                # changeguard moved it for a pipeline the gate let through: name that run.
                deployment = parse_deployments(
                    (issue.get("properties") or {}).get(DEPLOYMENTS_KEY)).latest()
                who = deployment.triggered_by or who if deployment is not None else who
            outcome = None
            if action is NoticeAction.POST_STARTING:
                message = starting_message(change, rt.policy, url, who,
                                           ZoneInfo(rt.policy.cab.timezone), deployment)
                thread = None
            else:
                thread = record.starting
                # The Outcome may be known already, if it was set before the move.
                outcome = change.option(FieldRole.OUTCOME)
                message = finished_message(change, url, who, outcome, threaded=thread is not None)
            # A SlackRateLimited raised here fails the job for RQ's Retry: nothing was posted.
            answer = _post(rt, message, thread)
            posted = PostedMessage(answer["channel"], answer["ts"], move, by=who,
                                   threaded=thread is not None, outcome=outcome)
            rt.redis.set(marker_key, json.dumps(posted.to_json()), ex=MARKER_TTL_SECONDS)
            logger.info("deployment notice posted", extra={**context, "ts": posted.ts})
        if action is NoticeAction.POST_STARTING:
            # A new deployment starts a new record: its reply threads under this message.
            record = dataclasses.replace(record, starting=posted, finished=None)
        else:
            record = dataclasses.replace(record, finished=posted)
        rt.jira.set_issue_property(issue_key, PROPERTY_KEY, record.to_json())
        return {"action": action.value, "channel": posted.channel, "ts": posted.ts,
                "threaded": posted.threaded}


def update_outcome(issue_key: str, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Edit the "implemented" message to show the change's Outcome, once per Outcome value."""
    rt = runtime or runtime_module.current()
    context = {"issue_key": issue_key}
    with issue_session(rt, issue_key, lane="notice"):
        issue = rt.jira.get_issue(issue_key, fields=fields_to_fetch(rt.site),
                                  properties=[PROPERTY_KEY])
        change = parse_change_request(issue, rt.site)
        record = parse_notice_record((issue.get("properties") or {}).get(PROPERTY_KEY))
        action = decide_outcome_update(change, rt.site, record)
        logger.info("deployment outcome judged", extra={**context, "action": action.value})
        if action is not OutcomeAction.UPDATE:
            return {"action": action.value}
        finished = record.finished
        outcome = change.option(FieldRole.OUTCOME)
        message = finished_message(change, _browse_url(rt, issue_key), finished.by, outcome,
                                   threaded=finished.threaded)
        # chat.update sets the same end state when repeated, so a retry needs no marker.
        rt.slack.update_message(finished.channel, finished.ts, message.text,
                                blocks=[dict(b) for b in message.blocks])
        logger.info("deployment outcome shown", extra={**context, "outcome": outcome})
        record = dataclasses.replace(record,
                                     finished=dataclasses.replace(finished, outcome=outcome))
        rt.jira.set_issue_property(issue_key, PROPERTY_KEY, record.to_json())
        return {"action": action.value, "outcome": outcome}


def _post(rt: Runtime, message: SlackText, thread: PostedMessage | None) -> dict[str, str]:
    if thread is None:
        return rt.slack.post_message(rt.policy.slack_channel, message.text,
                                     blocks=[dict(b) for b in message.blocks])
    return rt.slack.post_message(thread.channel, message.text,
                                 blocks=[dict(b) for b in message.blocks], thread_ts=thread.ts)


def _browse_url(rt: Runtime, issue_key: str) -> str:
    return f"{rt.settings.jira_base_url}/browse/{issue_key}"
