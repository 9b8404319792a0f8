"""What the gate does about a decision or a run's end: typed steps, in the order they are taken."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .approvals import ApprovalState, standing_approvals
from .change_request import ChangeRequest
from .deploy_gate import GateDecision, GateVerdict
from .deployment import (FINISHED_STATES, LET_THROUGH, DeployFinish, DeploymentEntry,
                         DeploymentsRecord, DeployRequest, DeployState, Vendor, outcome_for,
                         remote_link)
from .policy import FieldRole, StatusRole
from .site_map import SiteMap

REVIEW_STATES = {GateVerdict.ALLOW: "approved", GateVerdict.DENY: "rejected"}
DECISION_STATES = {GateVerdict.ALLOW: DeployState.ALLOWED, GateVerdict.WAIT: DeployState.WAITING,
                   GateVerdict.DENY: DeployState.DENIED}
STILL_DEPLOYING = "recorded; other deployments of this commit have not ended"

# Every step acts on the change being judged (or whose run ended): the job's issue.


@dataclasses.dataclass(frozen=True)
class WriteDeployments:
    """Write the change's deployments record (its issue property)."""

    value: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class RememberRun:
    """Remember that the run carries out the change: its start and end name the run only."""

    run_id: str


@dataclasses.dataclass(frozen=True)
class PushAnswer:
    """Hand a generic pipeline its answer, where the gate API waits for it."""

    answer_key: str
    answer: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class ReviewOnGitHub:
    """Approve or reject a run's deployment on GitHub; state None reports why it still waits."""

    installation_id: int
    owner: str
    repo: str
    run_id: int
    environment: str
    state: str | None
    comment: str
    deployment_id: str  # the gate's name of the deployment, for the log


@dataclasses.dataclass(frozen=True)
class DecideOnGitLab:
    """Approve or reject a blocked deployment on GitLab."""

    project_id: str
    gitlab_deployment_id: int
    state: str
    comment: str
    deployment_id: str  # the gate's name of the deployment, for the log


@dataclasses.dataclass(frozen=True)
class RememberWaiting:
    """Keep the deployment waiting for the change, to be judged again when Jira moves it."""

    request: DeployRequest
    reason: str


@dataclasses.dataclass(frozen=True)
class ForgetWaiting:
    """Stop keeping the deployment waiting for the change: it was answered."""

    deployment_id: str


@dataclasses.dataclass(frozen=True)
class StartImplementing:
    """Move the Approved change to Implementing (if Jira offers the way) and have it announced."""

    to_status_id: str


@dataclasses.dataclass(frozen=True)
class LinkRun:
    """Add or update the remote link of the run on the change."""

    link: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class FinishImplementing:
    """Move the change to Implemented with its Outcome, and have it announced."""

    transition_id: str
    to_status_id: str
    fields: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class SetOutcome:
    """Set the Outcome of a change already Implemented."""

    fields: Mapping[str, Any]


GateStep = (WriteDeployments | RememberRun | PushAnswer | ReviewOnGitHub | DecideOnGitLab
            | RememberWaiting | ForgetWaiting | StartImplementing | LinkRun | FinishImplementing
            | SetOutcome)


@dataclasses.dataclass(frozen=True)
class GatePlan:
    """The steps to take in order (none: nothing to do), and what the job returns after them."""

    summary: Mapping[str, Any]
    steps: tuple[GateStep, ...] = ()


def plan_for_answer(decision: GateDecision, request: DeployRequest) -> GatePlan:
    """Return the plan of a deployment answered with no change to keep a record on."""
    return GatePlan(_summary(decision), _answer(decision, request))


def plan_for_refusal(decision: GateDecision, request: DeployRequest) -> GatePlan:
    """Return the plan of a deployment whose key names no change request (not found, another
    issue type): answer it, and stop keeping it waiting for that key."""
    return GatePlan(_summary(decision),
                    (*_answer(decision, request), ForgetWaiting(request.deployment_id)))


def deployment_entry(decision: GateDecision, request: DeployRequest, change: ChangeRequest,
                     approvals: ApprovalState, now: datetime) -> DeploymentEntry:
    """Return the change's record of the deployment as just decided (an allowed one names the
    approvals it went out on)."""
    allowed = decision.verdict is GateVerdict.ALLOW
    return DeploymentEntry(
        deployment_id=request.deployment_id, run_id=request.run_id,
        vendor=request.vendor.value, environment=request.environment,
        state=DECISION_STATES[decision.verdict], reason=decision.reason,
        at=now.isoformat(timespec="seconds"), sha=request.sha, ref=request.ref,
        run_url=request.run_url, triggered_by=request.triggered_by,
        approvals=tuple(f"{a.role.value}: {a.account_id}"
                        for a in standing_approvals(approvals, change)) if allowed else ())


def plan_for_decision(decision: GateDecision, request: DeployRequest, change: ChangeRequest,
                      approvals: ApprovalState, deployments: DeploymentsRecord, *,
                      site: SiteMap, now: datetime, waiting_reason: str | None) -> GatePlan:
    """Return what follows the gate's decision on a change request.

    ``waiting_reason`` is the reason the deployment was last kept waiting for, if it waits: a
    deployment's page shows each new reason once. The record is written before the run is
    remembered, and both before the pipeline hears the answer (its start is checked against
    them at once); the answer comes before the deployment stops waiting, so a try that fails
    to answer leaves it waiting, to be answered again.
    """
    entry = deployment_entry(decision, request, change, approvals, now)
    previous = deployments.entry(request.deployment_id)
    answer = _answer(decision, request)
    steps: tuple[GateStep, ...] = ()
    if decision.verdict is GateVerdict.WAIT:
        generic = request.vendor is Vendor.GENERIC  # a generic pipeline asks again by itself
        if not generic:
            steps += (RememberWaiting(request, decision.reason),)
        if previous is None or previous.reason != entry.reason:
            steps += (WriteDeployments(deployments.with_entry(entry).to_json()),)
        if generic or waiting_reason != decision.reason:
            steps += answer
        return GatePlan(_summary(decision), steps)
    if previous is None or previous.state is not entry.state:  # a poll rewrites nothing
        steps += (WriteDeployments(deployments.with_entry(entry).to_json()),)
    allowed = decision.verdict is GateVerdict.ALLOW
    if allowed and request.run_id:
        steps += (RememberRun(request.run_id),)
    steps += (*answer, ForgetWaiting(request.deployment_id))
    if allowed:
        if site.status_role(change.status_id) is StatusRole.APPROVED:
            steps += (StartImplementing(site.status_ids[StatusRole.IMPLEMENTING]),)
        link = remote_link(entry)
        if link is not None:
            steps += (LinkRun(link),)
    return GatePlan(_summary(decision), steps)


def finished_record(deployments: DeploymentsRecord, finish: DeployFinish,
                    at: str) -> DeploymentsRecord:
    """Return the record with the run's deployments the gate let through ended as it reports."""
    record = deployments
    for entry in deployments.of_run(finish.run_id):
        if entry.state in LET_THROUGH:
            record = record.with_entry(dataclasses.replace(
                entry, state=FINISHED_STATES[finish.result], at=at,
                run_url=finish.run_url or entry.run_url))
    return record


def plan_for_finish(finish: DeployFinish, change_key: str, change: ChangeRequest,
                    deployments: DeploymentsRecord, *, site: SiteMap, outcomes: tuple[str, ...],
                    now: datetime, to_implemented: str | None) -> GatePlan:
    """Return how a run the gate let through is recorded on its change when it ends.

    ``deployments`` holds at least one of the run's deployments; ``to_implemented`` is the
    transition Jira offers from the change's status to Implemented, if any. The change is
    Implemented (with its Outcome) at the commit's last deployment; one Implemented already
    gets the Outcome it lacks.
    """
    at = finish.finished_at or now.isoformat(timespec="seconds")
    record = finished_record(deployments, finish, at)
    steps: tuple[GateStep, ...] = ()
    if record != deployments:
        steps += (WriteDeployments(record.to_json()),)
    link = remote_link(record.of_run(finish.run_id)[-1])
    if link is not None:
        steps += (LinkRun(link),)
    role = site.status_role(change.status_id)
    outcome = outcome_for(record.commit_result(finish.run_id, finish.result), outcomes)
    fields = {site.field_ids[FieldRole.OUTCOME]: {"value": outcome}}
    action = "recorded"
    if record.still_deploying(finish.run_id):
        action = STILL_DEPLOYING
    elif finish.is_last and role is StatusRole.IMPLEMENTING:
        if to_implemented is not None:
            steps += (FinishImplementing(to_implemented, site.status_ids[StatusRole.IMPLEMENTED],
                                         fields),)
            action = "implemented"
    elif role is StatusRole.IMPLEMENTED and change.option(FieldRole.OUTCOME) is None:
        steps += (SetOutcome(fields),)
        action = "outcome set"
    return GatePlan({"action": action, "issue_key": change_key, "outcome": outcome}, steps)


def _answer(decision: GateDecision, request: DeployRequest) -> tuple[GateStep, ...]:
    """Return how the pipeline hears the decision: the generic answer, GitHub's review, or
    GitLab's approval (none for a WAIT: GitLab keeps a waiting deployment blocked)."""
    if request.vendor is Vendor.GENERIC:
        return (PushAnswer(request.reply_value("answer_key"), {
            "decision": decision.verdict.value, "reason": decision.reason,
            "change": decision.change_key, "retry_after": decision.retry_after_seconds}),)
    if request.vendor is Vendor.GITHUB:
        return (ReviewOnGitHub(
            int(request.reply_value("installation_id")), request.reply_value("owner"),
            request.reply_value("repo"), int(request.reply_value("run_id")),
            request.environment, REVIEW_STATES.get(decision.verdict), decision.reason,
            request.deployment_id),)
    if decision.verdict is GateVerdict.WAIT:
        return ()
    return (DecideOnGitLab(request.reply_value("project_id"),
                           int(request.reply_value("deployment_id")),
                           REVIEW_STATES[decision.verdict], decision.reason,
                           request.deployment_id),)


def _summary(decision: GateDecision) -> dict[str, Any]:
    return {"decision": decision.verdict.value, "reason": decision.reason,
            "change": decision.change_key}
