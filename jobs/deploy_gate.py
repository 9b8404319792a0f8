"""Answer deployments at the gate, release the waiting ones when Jira decides, record how they end."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

from rq import Queue

from rules.approvals import ApprovalState, standing_approvals
from rules.cab_schedule import next_meeting
from rules.change_history import approval_moves_between, parse_history
from rules.change_request import fields_to_fetch, parse_change_request
from rules.deploy_gate import (GateDecision, GateVerdict, decide_deploy, not_a_change,
                               not_found, outside_the_gate, resolve_change)
from rules.deployment import (FINISHED_STATES, PROPERTY_KEY as DEPLOYMENTS_KEY, DeployFinish,
                              DeploymentEntry, DeploymentsRecord, DeployRequest, DeployState,
                              Vendor, outcome_for, parse_deployments, remote_link)
from rules.issue_record import PROPERTY_KEY as RECORD_KEY, parse_record
from rules.job_names import JobName
from rules.policy import FieldRole, StatusRole
from rules.standard_template import declared_template, names_no_change
from rules.status_move import replay_approvals
from rules.ungated_deploy import PASSED, plan_for_ungated
from worker import runtime as runtime_module
from worker.github_client import GitHubError
from worker.gitlab_client import GitLabError
from worker.jira_client import JiraNotFound
from worker.metrics import count
from worker.runtime import Runtime

from .approver_groups import groups_of
from .enqueue import enqueue_once
from .issue_session import MARKER_TTL_SECONDS, find_transition, issue_session
from .periodic import cab_calendar
from .standard_template import change_for_template
from .waiting_deployments import forget_waiting, remember_waiting, run_key, waiting_for

logger = logging.getLogger(__name__)

GATE_ANSWER_TTL_SECONDS = 120  # a generic pipeline's answer waits this long to be read
RUN_TTL_SECONDS = 90 * 24 * 3600  # a run's change is remembered this long for its end
REVIEW_STATES = {GateVerdict.ALLOW: "approved", GateVerdict.DENY: "rejected"}
DECISION_STATES = {GateVerdict.ALLOW: DeployState.ALLOWED, GateVerdict.WAIT: DeployState.WAITING,
                   GateVerdict.DENY: DeployState.DENIED}


def judge_deployment(request: dict[str, Any], *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Decide one deployment (allow, wait or deny), answer its pipeline and record it."""
    rt = runtime or runtime_module.current()
    req = DeployRequest.from_json(request)
    if not rt.policy.deploy.gates(req.environment):
        # Staging and the like: allowed unchecked; nothing read, recorded or moved.
        key = resolve_change(req.explicit_key, req.texts, rt.policy.scope_project_keys).key
        decision = outside_the_gate(req.environment, key, rt.policy)
        assert decision is not None
        _log(req, decision)
        _answer(rt, req, decision)
        return _summary(decision)
    if req.vendor is Vendor.GITLAB and "deployment_id" not in dict(req.reply):
        # GitLab names the job: only a job held for approval is the gate's (a plain manual
        # deploy button is not), and its deployment is what gets approved.
        deployment = rt.gitlab.blocked_deployment_for_job(
            req.reply_value("project_id"), req.environment, int(req.reply_value("job_id")))
        if deployment is None:
            return {"decision": None, "reason": "no deployment of this job waits for approval",
                    "change": None}
        req = dataclasses.replace(req, reply=tuple(sorted(
            (*req.reply, ("deployment_id", str(deployment))))))
    req = _with_run_texts(rt, req)
    resolution = resolve_change(req.explicit_key, req.texts, rt.policy.scope_project_keys)
    if resolution.key is not None:
        return _judge_for_change(rt, resolution.key, req)
    decision = resolution.denial()
    if declared_template(req) and names_no_change(resolution, rt.policy.scope_project_keys):
        made = change_for_template(rt, req)  # the change made from it, or why none may be
        if isinstance(made, str):
            return _judge_for_change(rt, made, req)
        decision = made
    _log(req, decision)
    _answer(rt, req, decision)
    return _summary(decision)


def release_waiting(issue_key: str, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Decide again every deployment waiting for ``issue_key``, now that Jira has moved it."""
    rt = runtime or runtime_module.current()
    answers = {req.deployment_id: _judge_for_change(rt, issue_key, req)["decision"]
               for req in waiting_for(rt, issue_key)}
    return {"issue_key": issue_key, "decisions": answers}


def finish_deployment(finish: dict[str, Any], *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Record how a pipeline run ended on its change: Outcome, Implemented, the remote link."""
    rt = runtime or runtime_module.current()
    fin = DeployFinish.from_json(finish)
    stored = rt.redis.get(run_key(rt, fin.run_id))
    key = stored.decode() if stored is not None else fin.explicit_key
    if key is not None:
        with issue_session(rt, key, lane="gate"):
            issue = rt.jira.get_issue(key, fields=fields_to_fetch(rt.site),
                                      properties=[DEPLOYMENTS_KEY], expand=["transitions"])
            deployments = parse_deployments(
                (issue.get("properties") or {}).get(DEPLOYMENTS_KEY))
            if any(e.state in PASSED for e in deployments.of_run(fin.run_id)):
                return _record_finish(rt, key, fin, issue, deployments)
    # Most runs deploy nothing gated (CI runs, other environments): nothing to record. A
    # generic pipeline reporting a gated deployment the gate never let through is flagged.
    if fin.vendor is Vendor.GENERIC and fin.environment:
        return flag_ungated(DeployRequest(
            vendor=fin.vendor, deployment_id=f"{fin.run_id}:{fin.environment}",
            run_id=fin.run_id, environment=fin.environment, explicit_key=key,
            run_url=fin.run_url).to_json(), runtime=rt)
    return {"action": "not gated", "issue_key": key}


def _record_finish(rt: Runtime, key: str, fin: DeployFinish, issue: dict[str, Any],
                   deployments: DeploymentsRecord) -> dict[str, Any]:
    """Write a gated run's end on its change (inside its gate session)."""
    change = parse_change_request(issue, rt.site)
    at = fin.finished_at or _now().isoformat(timespec="seconds")
    state = FINISHED_STATES[fin.result]
    record = deployments
    for entry in deployments.of_run(fin.run_id):
        if entry.state in PASSED:
            record = record.with_entry(_replace(entry, state=state, at=at,
                                                run_url=fin.run_url or entry.run_url))
    if record != deployments:
        rt.jira.set_issue_property(key, DEPLOYMENTS_KEY, record.to_json())
    link = remote_link(record.of_run(fin.run_id)[-1])
    if link is not None:
        rt.jira.upsert_remote_link(key, link)
    role = rt.site.status_role(change.status_id)
    outcome = outcome_for(record.commit_result(fin.run_id, fin.result), rt.policy.outcomes)
    outcome_field = rt.site.field_ids[FieldRole.OUTCOME]
    action = "recorded"
    if record.still_deploying(fin.run_id):
        action = "recorded; other deployments of this commit have not ended"
    elif fin.is_last and role is StatusRole.IMPLEMENTING:
        to_status = rt.site.status_ids[StatusRole.IMPLEMENTED]
        transition = find_transition(rt, key, to_status, issue)
        if transition is not None:
            rt.jira.transition_issue(key, transition,
                                     fields={outcome_field: {"value": outcome}})
            _announce(rt, key, to_status)
            action = "implemented"
    elif role is StatusRole.IMPLEMENTED and change.option(FieldRole.OUTCOME) is None:
        rt.jira.update_issue_fields(key, {outcome_field: {"value": outcome}})
        action = "outcome set"
    logger.info("deployment finished", extra={"issue_key": key, "run_id": fin.run_id,
                                              "result": fin.result.value, "action": action})
    return {"action": action, "issue_key": key, "outcome": outcome}


def flag_ungated(request: dict[str, Any], *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Flag a deployment to a gated environment that never passed the gate (reported started
    by its pipeline): label and comment on its change, and alert Slack."""
    rt = runtime or runtime_module.current()
    req = DeployRequest.from_json(request)
    if not rt.policy.deploy.gates(req.environment):
        return {"action": "not gated"}
    marker = rt.settings.key("gate-ungated", req.deployment_id)
    stored = rt.redis.get(run_key(rt, req.run_id))  # the change the gate let the run deploy
    if stored is None and req.vendor is Vendor.GITHUB and "run_id" in dict(req.reply):
        req = _with_run_texts(rt, req)  # the head commit message may name the change
    key = stored.decode() if stored is not None else resolve_change(
        req.explicit_key, req.texts, rt.policy.scope_project_keys).key
    deployments, browse = DeploymentsRecord(), None
    if key is not None:
        try:
            issue = rt.jira.get_issue(key, fields=["issuetype"], properties=[DEPLOYMENTS_KEY])
        except JiraNotFound:
            issue = None
        if issue is None or _issue_type(issue) != rt.policy.scope_issue_type:
            key = None  # nothing to label: Slack alone hears of it
        else:
            deployments = parse_deployments((issue.get("properties") or {}).get(DEPLOYMENTS_KEY))
            browse = f"{rt.settings.jira_base_url}/browse/{key}"
    plan = plan_for_ungated(req, key, deployments, rt.policy, browse)
    context = {"issue_key": key, "deployment_id": req.deployment_id}
    if plan is None:
        return {"action": "gated", "issue_key": key}
    if key is None:
        if rt.redis.set(marker, "1", nx=True, ex=MARKER_TTL_SECONDS):
            for step in plan.steps:
                rt.slack.post_message(step.channel, step.text)
        logger.warning("ungated deployment", extra=context)
        return {"action": "flagged", "issue_key": None}
    plan_id = f"ungated-{req.deployment_id}"
    with issue_session(rt, key) as session:
        resumed = session.stored_plan(plan_id)
        if resumed is None and rt.redis.exists(marker):
            return {"action": "already flagged", "issue_key": key}
        session.carry_out(plan_id, resumed or plan, context)
        rt.redis.set(marker, "1", ex=MARKER_TTL_SECONDS)
    logger.warning("ungated deployment", extra=context)
    return {"action": "flagged", "issue_key": key}


def _issue_type(issue: dict[str, Any]) -> str | None:
    return ((issue.get("fields") or {}).get("issuetype") or {}).get("name")


def _judge_for_change(rt: Runtime, key: str, req: DeployRequest) -> dict[str, Any]:
    """Read the change, decide, answer the pipeline and keep the change's record."""
    with issue_session(rt, key, lane="gate") as session:
        try:
            issue = rt.jira.get_issue(key, fields=fields_to_fetch(rt.site),
                                      properties=[RECORD_KEY, DEPLOYMENTS_KEY],
                                      expand=["changelog", "transitions"])
        except JiraNotFound:
            decision = not_found(key)
            _log(req, decision)
            _answer(rt, req, decision)
            forget_waiting(rt, key, req.deployment_id)
            return _summary(decision)
        issue_type = _issue_type(issue)
        if issue_type != rt.policy.scope_issue_type:
            decision = not_a_change(key, issue_type, rt.policy.scope_issue_type)
            _log(req, decision)
            _answer(rt, req, decision)
            forget_waiting(rt, key, req.deployment_id)
            return _summary(decision)
        change = parse_change_request(issue, rt.site)
        properties = issue.get("properties") or {}
        approvals = _approvals_now(rt, session.last_handled(), issue, change,
                                   parse_record(properties.get(RECORD_KEY)))
        now = _now()
        calendar = cab_calendar(rt.policy)
        decision = decide_deploy(change, approvals, environment=req.environment, now=now,
                                 policy=rt.policy, site=rt.site, calendar=calendar,
                                 next_cab=next_meeting(calendar, now))
        _log(req, decision)
        count(rt.redis, rt.settings, "gate_decisions", vendor=req.vendor.value,
              verdict=decision.verdict.value)
        deployments = parse_deployments(properties.get(DEPLOYMENTS_KEY))
        previous = deployments.entry(req.deployment_id)
        entry = DeploymentEntry(
            deployment_id=req.deployment_id, run_id=req.run_id, vendor=req.vendor.value,
            environment=req.environment, state=DECISION_STATES[decision.verdict],
            reason=decision.reason, at=now.isoformat(timespec="seconds"), sha=req.sha,
            ref=req.ref, run_url=req.run_url, triggered_by=req.triggered_by,
            approvals=_approval_names(rt, approvals, change)
            if decision.verdict is GateVerdict.ALLOW else ())
        if decision.verdict is GateVerdict.WAIT:
            new_reason = True
            if req.vendor is not Vendor.GENERIC:  # a generic pipeline asks again by itself
                new_reason = remember_waiting(rt, key, req, decision.reason)
            if previous is None or previous.reason != entry.reason:
                rt.jira.set_issue_property(key, DEPLOYMENTS_KEY,
                                           deployments.with_entry(entry).to_json())
            if new_reason:
                _answer(rt, req, decision)
            return _summary(decision)
        if previous is None or previous.state is not entry.state:  # a poll rewrites nothing
            rt.jira.set_issue_property(key, DEPLOYMENTS_KEY,
                                       deployments.with_entry(entry).to_json())
        if decision.verdict is GateVerdict.ALLOW and req.run_id:
            # The run's start and end name the run only: remember whose deployment it carries
            # out before the pipeline hears "go" (its start is checked against this at once).
            rt.redis.set(run_key(rt, req.run_id), key, ex=RUN_TTL_SECONDS)
        _answer(rt, req, decision)
        forget_waiting(rt, key, req.deployment_id)
        if decision.verdict is GateVerdict.ALLOW:
            _start_implementing(rt, key, change, issue)
            link = remote_link(entry)
            if link is not None:
                rt.jira.upsert_remote_link(key, link)
    return _summary(decision)


def _start_implementing(rt: Runtime, key: str, change, issue: dict) -> None:
    """Move an Approved change to Implementing: its deployment has started."""
    if rt.site.status_role(change.status_id) is not StatusRole.APPROVED:
        return
    to_status = rt.site.status_ids[StatusRole.IMPLEMENTING]
    transition = find_transition(rt, key, to_status, issue)
    if transition is None:
        logger.warning("no transition to Implementing", extra={"issue_key": key})
        return
    rt.jira.transition_issue(key, transition)
    _announce(rt, key, to_status)


def _announce(rt: Runtime, key: str, to_status_id: str) -> None:
    """Have the Slack notice of changeguard's own move posted (its webhook is ignored as ours)."""
    moves = [h for h in rt.jira.get_changelog(key)
             if (h.get("author") or {}).get("accountId") == rt.site.bot_account_id
             and any(i.get("field") == "status" and i.get("to") == to_status_id
                     for i in h.get("items") or ())]
    if not moves:
        return
    changelog_id = str(moves[-1]["id"])
    enqueue_once(_queue(rt), JobName.ANNOUNCE_DEPLOYMENT,
                 f"{rt.settings.namespace}-notice-{key}-{changelog_id}",
                 {"issue_key": key, "changelog_id": changelog_id, "to_status_id": to_status_id})


def _approvals_now(rt: Runtime, last_handled: int | None, issue: dict, change,
                   record) -> ApprovalState:
    """Return the approvals on record, with approval moves not handled yet replayed."""
    history = parse_history(issue, rt.site)
    pending = approval_moves_between(history, last_handled or 0, sys.maxsize, rt.site)
    return replay_approvals(tuple((entry, groups_of(rt, entry.actor)) for entry in pending),
                            change, rt.policy, history, record.approvals)


def _approval_names(rt: Runtime, approvals: ApprovalState, change) -> tuple[str, ...]:
    return tuple(f"{a.role.value}: {a.account_id}" for a in standing_approvals(approvals, change))


def _answer(rt: Runtime, req: DeployRequest, decision: GateDecision) -> None:
    """Tell the pipeline: GitHub's review callback, GitLab's approval, or the generic answer."""
    if req.vendor is Vendor.GENERIC:
        answer = json.dumps({"decision": decision.verdict.value, "reason": decision.reason,
                             "change": decision.change_key,
                             "retry_after": decision.retry_after_seconds})
        name = rt.settings.key("gate-answer", req.reply_value("answer_key"))
        pipe = rt.redis.pipeline()
        pipe.rpush(name, answer)
        pipe.expire(name, GATE_ANSWER_TTL_SECONDS)
        pipe.execute()
    elif req.vendor is Vendor.GITHUB:
        state = REVIEW_STATES.get(decision.verdict)
        try:
            rt.github.review_deployment(
                int(req.reply_value("installation_id")), req.reply_value("owner"),
                req.reply_value("repo"), int(req.reply_value("run_id")), req.environment,
                state, decision.reason)
        except GitHubError as exc:
            # 422: the environment is no longer waiting: decided by an earlier try of this job
            # (or cancelled on GitHub). Nothing is left to answer.
            if exc.status != 422:
                raise
            logger.info("deployment already decided on GitHub", extra={
                "deployment_id": req.deployment_id, "error": str(exc)})
    elif decision.verdict is not GateVerdict.WAIT:  # GitLab keeps a waiting deployment blocked
        try:
            rt.gitlab.decide_deployment(req.reply_value("project_id"),
                                        int(req.reply_value("deployment_id")),
                                        REVIEW_STATES[decision.verdict], decision.reason)
        except GitLabError as exc:
            # 400: the deployment no longer waits for approval (decided by another judgement
            # of it, or canceled on GitLab). Nothing is left to answer.
            if exc.status != 400:
                raise
            logger.info("deployment already decided on GitLab", extra={
                "deployment_id": req.deployment_id, "error": str(exc)})


def _with_run_texts(rt: Runtime, req: DeployRequest) -> DeployRequest:
    """Add the head commit message of a GitHub run: a change key may stand there too."""
    if req.vendor is not Vendor.GITHUB or req.explicit_key:
        return req
    run = rt.github.get_run(int(req.reply_value("installation_id")), req.reply_value("owner"),
                            req.reply_value("repo"), int(req.reply_value("run_id")))
    return req.with_texts(run.get("head_commit_message") or "")


def _replace(entry: DeploymentEntry, **changes: Any) -> DeploymentEntry:
    return dataclasses.replace(entry, **changes)


def _queue(rt: Runtime) -> Queue:
    return Queue(rt.settings.queue_name, connection=rt.redis)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _summary(decision: GateDecision) -> dict[str, Any]:
    return {"decision": decision.verdict.value, "reason": decision.reason,
            "change": decision.change_key}


def _log(req: DeployRequest, decision: GateDecision) -> None:
    logger.info("deployment judged", extra={
        "issue_key": decision.change_key, "deployment_id": req.deployment_id,
        "environment": req.environment, "verdict": decision.verdict.value,
        "reason": decision.reason})
