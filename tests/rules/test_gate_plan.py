"""The gate's side effects as typed steps: for each decision and each run's end, in order."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from rules.approvals import ApprovalRole
from rules.deploy_gate import GateDecision, GateVerdict
from rules.deployment import (DeployFinish, DeploymentEntry, DeploymentsRecord, DeployRequest,
                              DeployResult, DeployState, Vendor, remote_link)
from rules.gate_plan import (STILL_DEPLOYING, DecideOnGitLab, FinishImplementing, ForgetWaiting,
                             GatePlan, LinkRun, PushAnswer, RememberRun, RememberWaiting,
                             ReviewOnGitHub, SetOutcome, StartImplementing, WriteDeployments,
                             deployment_entry, finished_record, plan_for_answer,
                             plan_for_decision, plan_for_finish, plan_for_refusal)
from rules.policy import StatusRole

from .builders import SITE, approved, change

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=timezone.utc)
AT = "2026-12-01T10:30:00+00:00"
SHA = "0123456789abcdef0123456789abcdef01234567"
GITHUB_RUN = "github:acme/shop:run:42"
GITHUB_ID = "github:acme/shop:run:42:production"
RUN_URL = "https://github.com/acme/shop/actions/runs/42"
OUTCOMES = ("Successful", "Failed", "Rolled Back")
OUTCOME_FIELD = "customfield_10060"  # the Outcome field in tests/rules/builders.py
IMPLEMENTING_ID, IMPLEMENTED_ID = "10004", "10005"

GITHUB = DeployRequest(
    vendor=Vendor.GITHUB, deployment_id=GITHUB_ID, environment="production", run_id=GITHUB_RUN,
    sha=SHA, ref="refs/heads/main", run_url=RUN_URL, triggered_by="alice",
    reply=(("installation_id", "9"), ("owner", "acme"), ("repo", "shop"), ("run_id", "42")))
GITLAB = DeployRequest(
    vendor=Vendor.GITLAB, deployment_id="gitlab:7:deployment:15", environment="production",
    run_id="gitlab:7:job:796", sha=SHA, run_url="https://gitlab.example.com/acme/shop/-/jobs/796",
    reply=(("deployment_id", "15"), ("project_id", "7")))
GENERIC = DeployRequest(vendor=Vendor.GENERIC, deployment_id="generic:jenkins:7",
                        environment="production", reply=(("answer_key", "a1"),))

ALLOW = GateDecision(GateVerdict.ALLOW, "CHG-7 may deploy to production.", "CHG-7")
DENY = GateDecision(GateVerdict.DENY, "CHG-7 was Rejected.", "CHG-7")
WAIT = GateDecision(GateVerdict.WAIT, "CHG-7 is not approved yet.", "CHG-7", 60)
DENY_NO_CHANGE = GateDecision(GateVerdict.DENY, "No change request is linked.", None)

APPROVED_CR = change(status=StatusRole.APPROVED)
APPROVALS = approved(APPROVED_CR, ApprovalRole.TEAM_LEAD, ApprovalRole.CAB)
NAMES = ("team_lead: 712020:approver-0", "cab: 712020:approver-1")


def summary(decision: GateDecision) -> dict:
    return {"decision": decision.verdict.value, "reason": decision.reason,
            "change": decision.change_key}


def entry(request: DeployRequest, state: DeployState, reason: str, approvals=(),
          at: str = AT) -> DeploymentEntry:
    """Return the record of ``request`` as the gate keeps it."""
    return DeploymentEntry(
        deployment_id=request.deployment_id, run_id=request.run_id,
        vendor=request.vendor.value, environment=request.environment, state=state,
        reason=reason, at=at, sha=request.sha, ref=request.ref, run_url=request.run_url,
        triggered_by=request.triggered_by, approvals=approvals)


def write(*entries: DeploymentEntry) -> WriteDeployments:
    return WriteDeployments(DeploymentsRecord(entries).to_json())


def review(state: str | None, decision: GateDecision) -> ReviewOnGitHub:
    return ReviewOnGitHub(9, "acme", "shop", 42, "production", state, decision.reason, GITHUB_ID)


def decide_on_gitlab(state: str, decision: GateDecision) -> DecideOnGitLab:
    return DecideOnGitLab("7", 15, state, decision.reason, "gitlab:7:deployment:15")


def push(decision: GateDecision, retry_after=None) -> PushAnswer:
    return PushAnswer("a1", {"decision": decision.verdict.value, "reason": decision.reason,
                             "change": decision.change_key, "retry_after": retry_after})


# -- a deployment answered with no change to record it on --------------------------------------

# id, request, decision, the answer steps
ANSWERS = [
    ("github-allowed", GITHUB, ALLOW, (review("approved", ALLOW),)),
    ("github-denied", GITHUB, DENY_NO_CHANGE, (review("rejected", DENY_NO_CHANGE),)),
    ("gitlab-allowed", GITLAB, ALLOW, (decide_on_gitlab("approved", ALLOW),)),
    ("gitlab-denied", GITLAB, DENY, (decide_on_gitlab("rejected", DENY),)),
    ("gitlab-waiting-stays-blocked", GITLAB, WAIT, ()),
    ("generic-allowed", GENERIC, ALLOW, (push(ALLOW),)),
    ("generic-waiting-asks-again", GENERIC, WAIT, (push(WAIT, 60),)),
]


@pytest.mark.parametrize("request_, decision, steps", [a[1:] for a in ANSWERS],
                         ids=[a[0] for a in ANSWERS])
def test_a_deployment_without_a_change_is_only_answered(request_, decision, steps):
    assert plan_for_answer(decision, request_) == GatePlan(summary(decision), steps)


@pytest.mark.parametrize("request_, decision, steps", [a[1:] for a in ANSWERS],
                         ids=[a[0] for a in ANSWERS])
def test_a_key_of_no_change_request_is_answered_then_no_longer_waits(request_, decision, steps):
    assert plan_for_refusal(decision, request_) == GatePlan(
        summary(decision), (*steps, ForgetWaiting(request_.deployment_id)))


# -- the change's record of a decided deployment -----------------------------------------------

# id, decision, approvals on record, the approvals the entry names
ENTRIES = [
    ("allowed-names-the-standing-approvals", ALLOW, APPROVALS, NAMES),
    ("allowed-on-approvals-of-another-revision-names-none", ALLOW,
     dataclasses.replace(APPROVALS, revision="an-older-revision"), ()),
    ("waiting-names-none", WAIT, APPROVALS, ()),
    ("denied-names-none", DENY, APPROVALS, ()),
]
STATES = {GateVerdict.ALLOW: DeployState.ALLOWED, GateVerdict.WAIT: DeployState.WAITING,
          GateVerdict.DENY: DeployState.DENIED}


@pytest.mark.parametrize("decision, approvals, names", [e[1:] for e in ENTRIES],
                         ids=[e[0] for e in ENTRIES])
def test_deployment_entry(decision, approvals, names):
    assert deployment_entry(decision, GITHUB, APPROVED_CR, approvals, NOW) == DeploymentEntry(
        deployment_id=GITHUB_ID, run_id=GITHUB_RUN, vendor="github", environment="production",
        state=STATES[decision.verdict], reason=decision.reason, at=AT, sha=SHA,
        ref="refs/heads/main", run_url=RUN_URL, triggered_by="alice", approvals=names)


# -- what follows a decision on a change --------------------------------------------------------

ALLOWED_GITHUB = entry(GITHUB, DeployState.ALLOWED, ALLOW.reason, NAMES)
ALLOWED_GITLAB = entry(GITLAB, DeployState.ALLOWED, ALLOW.reason, NAMES)
ALLOWED_GENERIC = entry(GENERIC, DeployState.ALLOWED, ALLOW.reason, NAMES)
WAITING_GITHUB = entry(GITHUB, DeployState.WAITING, WAIT.reason)
WAITING_GITLAB = entry(GITLAB, DeployState.WAITING, WAIT.reason)
WAITING_GENERIC = entry(GENERIC, DeployState.WAITING, WAIT.reason)
DENIED_GITHUB = entry(GITHUB, DeployState.DENIED, DENY.reason)
DENIED_GITLAB = entry(GITLAB, DeployState.DENIED, DENY.reason)
EARLIER = "2026-12-01T09:00:00+00:00"
OTHER = entry(dataclasses.replace(GENERIC, deployment_id="generic:jenkins:6"),
              DeployState.DENIED, "An older deployment.", at=EARLIER)

# id, request, decision, the change's status, its deployments before, the reason it waited for,
# the steps in order
DECISIONS = [
    ("github-allowed-on-an-approved-change", GITHUB, ALLOW, StatusRole.APPROVED, (), None,
     (write(ALLOWED_GITHUB), RememberRun(GITHUB_RUN), review("approved", ALLOW),
      ForgetWaiting(GITHUB_ID), StartImplementing(IMPLEMENTING_ID),
      LinkRun(remote_link(ALLOWED_GITHUB)))),
    ("github-allowed-after-waiting-rewrites-the-entry", GITHUB, ALLOW, StatusRole.APPROVED,
     (OTHER, dataclasses.replace(WAITING_GITHUB, at=EARLIER)), WAIT.reason,
     (write(OTHER, ALLOWED_GITHUB), RememberRun(GITHUB_RUN), review("approved", ALLOW),
      ForgetWaiting(GITHUB_ID), StartImplementing(IMPLEMENTING_ID),
      LinkRun(remote_link(ALLOWED_GITHUB)))),
    ("github-allowed-again-implementing-rewrites-nothing-moves-nothing", GITHUB, ALLOW,
     StatusRole.IMPLEMENTING, (dataclasses.replace(ALLOWED_GITHUB, at=EARLIER),), None,
     (RememberRun(GITHUB_RUN), review("approved", ALLOW), ForgetWaiting(GITHUB_ID),
      LinkRun(remote_link(ALLOWED_GITHUB)))),
    ("gitlab-allowed-while-implementing", GITLAB, ALLOW, StatusRole.IMPLEMENTING, (), None,
     (write(ALLOWED_GITLAB), RememberRun("gitlab:7:job:796"), decide_on_gitlab("approved", ALLOW),
      ForgetWaiting("gitlab:7:deployment:15"), LinkRun(remote_link(ALLOWED_GITLAB)))),
    ("generic-allowed-without-a-run-or-a-page", GENERIC, ALLOW, StatusRole.APPROVED, (), None,
     (write(ALLOWED_GENERIC), push(ALLOW), ForgetWaiting("generic:jenkins:7"),
      StartImplementing(IMPLEMENTING_ID))),
    ("github-denied", GITHUB, DENY, StatusRole.APPROVED, (), None,
     (write(DENIED_GITHUB), review("rejected", DENY), ForgetWaiting(GITHUB_ID))),
    ("gitlab-denied-again-rewrites-nothing", GITLAB, DENY, StatusRole.REJECTED,
     (dataclasses.replace(DENIED_GITLAB, reason="CHG-7 is Cancelled.", at=EARLIER),), None,
     (decide_on_gitlab("rejected", DENY), ForgetWaiting("gitlab:7:deployment:15"))),
    ("github-waits-a-first-time", GITHUB, WAIT, StatusRole.AWAITING_APPROVAL, (), None,
     (RememberWaiting(GITHUB, WAIT.reason), write(WAITING_GITHUB), review(None, WAIT))),
    ("github-waits-again-for-the-same-reason-says-nothing", GITHUB, WAIT,
     StatusRole.AWAITING_APPROVAL, (dataclasses.replace(WAITING_GITHUB, at=EARLIER),),
     WAIT.reason, (RememberWaiting(GITHUB, WAIT.reason),)),
    ("github-waits-for-a-new-reason", GITHUB, WAIT, StatusRole.AWAITING_APPROVAL,
     (dataclasses.replace(WAITING_GITHUB, reason="CHG-7's window opens at noon.", at=EARLIER),),
     "CHG-7's window opens at noon.",
     (RememberWaiting(GITHUB, WAIT.reason), write(WAITING_GITHUB), review(None, WAIT))),
    ("github-waits-recorded-but-no-longer-kept-is-told-again", GITHUB, WAIT,
     StatusRole.AWAITING_APPROVAL, (dataclasses.replace(WAITING_GITHUB, at=EARLIER),), None,
     (RememberWaiting(GITHUB, WAIT.reason), review(None, WAIT))),
    ("gitlab-waits-blocked-without-an-answer", GITLAB, WAIT, StatusRole.AWAITING_APPROVAL, (),
     None, (RememberWaiting(GITLAB, WAIT.reason), write(WAITING_GITLAB))),
    ("generic-waits-a-first-time", GENERIC, WAIT, StatusRole.AWAITING_APPROVAL, (), None,
     (write(WAITING_GENERIC), push(WAIT, 60))),
    ("generic-polls-and-is-answered-every-time", GENERIC, WAIT, StatusRole.AWAITING_APPROVAL,
     (dataclasses.replace(WAITING_GENERIC, at=EARLIER),), None, (push(WAIT, 60),)),
]


@pytest.mark.parametrize("request_, decision, status, before, waiting_reason, steps",
                         [d[1:] for d in DECISIONS], ids=[d[0] for d in DECISIONS])
def test_plan_for_decision(request_, decision, status, before, waiting_reason, steps):
    cr = change(status=status)
    approvals = approved(cr, ApprovalRole.TEAM_LEAD, ApprovalRole.CAB)
    plan = plan_for_decision(decision, request_, cr, approvals, DeploymentsRecord(before),
                             site=SITE, now=NOW, waiting_reason=waiting_reason)
    assert plan == GatePlan(summary(decision), steps)


# -- how a run's end is recorded ------------------------------------------------------------------

ENDED = "2026-12-01T11:00:00+00:00"
ALLOWED = dataclasses.replace(ALLOWED_GITHUB, at=EARLIER)
SUCCEEDED = dataclasses.replace(ALLOWED_GITHUB, state=DeployState.SUCCEEDED, at=ENDED)
# The same run's deployment to a second environment, denied: it never ran.
DENIED_EU = dataclasses.replace(DENIED_GITHUB, deployment_id=f"{GITHUB_RUN}:production-eu",
                                environment="production-eu", at=EARLIER)
# Another run of the same commit, to another region.
OTHER_REGION = dataclasses.replace(
    ALLOWED_GITHUB, deployment_id="github:acme/shop:run:43:production-us",
    run_id="github:acme/shop:run:43", environment="production-us", at=EARLIER)
OTHER_REGION_FAILED = dataclasses.replace(OTHER_REGION, state=DeployState.FAILED, at=ENDED)


def finish(result=DeployResult.SUCCESS, **changes) -> DeployFinish:
    return DeployFinish(**{"vendor": Vendor.GITHUB, "run_id": GITHUB_RUN, "result": result,
                           "finished_at": ENDED, **changes})


# id, the run's end, the deployments before, the record after
RECORDS = [
    ("allowed-deployment-ended", finish(), (ALLOWED,), (SUCCEEDED,)),
    ("denied-deployment-of-the-run-untouched", finish(DeployResult.FAILURE), (DENIED_EU, ALLOWED),
     (DENIED_EU, dataclasses.replace(SUCCEEDED, state=DeployState.FAILED))),
    ("other-runs-untouched", finish(), (OTHER_REGION, ALLOWED), (OTHER_REGION, SUCCEEDED)),
    ("the-run-page-given-at-the-end-replaces-the-one-at-the-start",
     finish(run_url="https://ci.example.com/42"), (ALLOWED,),
     (dataclasses.replace(SUCCEEDED, run_url="https://ci.example.com/42"),)),
    ("ended-again-rewritten", finish(DeployResult.ROLLED_BACK), (SUCCEEDED,),
     (dataclasses.replace(SUCCEEDED, state=DeployState.ROLLED_BACK),)),
]


@pytest.mark.parametrize("finish_, before, after", [r[1:] for r in RECORDS],
                         ids=[r[0] for r in RECORDS])
def test_finished_record(finish_, before, after):
    assert finished_record(DeploymentsRecord(before), finish_, ENDED) == DeploymentsRecord(after)


def outcome(value: str) -> dict:
    return {OUTCOME_FIELD: {"value": value}}


# id, the run's end, the change's status, its Outcome, its deployments before, the transition
# to Implemented, the steps in order, the action, the Outcome
FINISHES = [
    ("last-deployment-implements-the-change", finish(), StatusRole.IMPLEMENTING, None,
     (ALLOWED,), "51",
     (write(SUCCEEDED), LinkRun(remote_link(SUCCEEDED)),
      FinishImplementing("51", IMPLEMENTED_ID, outcome("Successful"))),
     "implemented", "Successful"),
    ("no-way-to-implemented-records-only", finish(), StatusRole.IMPLEMENTING, None, (ALLOWED,),
     None, (write(SUCCEEDED), LinkRun(remote_link(SUCCEEDED))), "recorded", "Successful"),
    ("not-the-last-deployment-records-only", finish(is_last=False), StatusRole.IMPLEMENTING,
     None, (ALLOWED,), "51", (write(SUCCEEDED), LinkRun(remote_link(SUCCEEDED))), "recorded",
     "Successful"),
    ("another-region-still-deploying-records-only", finish(), StatusRole.IMPLEMENTING, None,
     (OTHER_REGION, ALLOWED), "51",
     (write(OTHER_REGION, SUCCEEDED), LinkRun(remote_link(SUCCEEDED))), STILL_DEPLOYING,
     "Successful"),
    ("another-region-failed-the-outcome-is-failed", finish(), StatusRole.IMPLEMENTING, None,
     (OTHER_REGION_FAILED, ALLOWED), "51",
     (write(OTHER_REGION_FAILED, SUCCEEDED), LinkRun(remote_link(SUCCEEDED)),
      FinishImplementing("51", IMPLEMENTED_ID, outcome("Failed"))), "implemented", "Failed"),
    ("implemented-by-hand-gets-its-outcome", finish(DeployResult.ROLLED_BACK),
     StatusRole.IMPLEMENTED, None, (ALLOWED,), None,
     (write(dataclasses.replace(SUCCEEDED, state=DeployState.ROLLED_BACK)),
      LinkRun(remote_link(dataclasses.replace(SUCCEEDED, state=DeployState.ROLLED_BACK))),
      SetOutcome(outcome("Rolled Back"))), "outcome set", "Rolled Back"),
    ("implemented-with-an-outcome-keeps-it", finish(), StatusRole.IMPLEMENTED, "Failed",
     (ALLOWED,), None, (write(SUCCEEDED), LinkRun(remote_link(SUCCEEDED))), "recorded",
     "Successful"),
    ("approved-change-records-only", finish(), StatusRole.APPROVED, None, (ALLOWED,), None,
     (write(SUCCEEDED), LinkRun(remote_link(SUCCEEDED))), "recorded", "Successful"),
    ("the-same-end-again-without-a-page-changes-nothing",
     finish(run_url=""), StatusRole.IMPLEMENTED, "Successful",
     (dataclasses.replace(SUCCEEDED, run_url=""),), None, (), "recorded", "Successful"),
]


@pytest.mark.parametrize("finish_, status, outcome_now, before, to_implemented, steps, action, "
                         "outcome_", [f[1:] for f in FINISHES], ids=[f[0] for f in FINISHES])
def test_plan_for_finish(finish_, status, outcome_now, before, to_implemented, steps, action,
                         outcome_):
    cr = change(status=status, outcome=outcome_now)
    plan = plan_for_finish(finish_, "CHG-7", cr, DeploymentsRecord(before), site=SITE,
                           outcomes=OUTCOMES, now=NOW, to_implemented=to_implemented)
    assert plan == GatePlan({"action": action, "issue_key": "CHG-7", "outcome": outcome_}, steps)


def test_a_run_ended_without_its_time_ends_now():
    plan = plan_for_finish(finish(finished_at=""), "CHG-7", change(status=StatusRole.APPROVED),
                           DeploymentsRecord((ALLOWED,)), site=SITE, outcomes=OUTCOMES, now=NOW,
                           to_implemented=None)
    ended_now = dataclasses.replace(SUCCEEDED, at=AT)
    assert plan.steps == (write(ended_now), LinkRun(remote_link(ended_now)))
