"""The deployment gate's jobs called directly, against the sandbox Jira and Redis (generic front end)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue

from jobs.deploy_gate import judge_deployment
from jobs.deploy_outcome import finish_deployment, flag_ungated
from jobs.waiting_deployments import waiting_for
from rules.deployment import PROPERTY_KEY, DeployFinish, DeployRequest, DeployResult, Vendor
from rules.policy import FieldRole
from worker.gitlab_client import GitLabClient

from ..builders import COMPLETE, bot_calls

ENV = "production"


def window(start_hours: float, end_hours: float) -> dict[str, str]:
    """Return Planned Start/End fields this many hours from now (Jira's datetime format)."""
    now = datetime.now(timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%S.000+0000"
    return {"Planned Start": (now + timedelta(hours=start_hours)).strftime(fmt),
            "Planned End": (now + timedelta(hours=end_hours)).strftime(fmt)}


OPEN = window(-1, 2)
PATHS = {"Draft": [], "Awaiting Approval": ["Awaiting Approval"],
         "Approved": ["Awaiting Approval", "Approved"],
         "Implementing": ["Awaiting Approval", "Approved", "Implementing"],
         "Cancelled": ["Cancelled"]}
MOVERS = {"Awaiting Approval": "alice", "Approved": "carol", "Implementing": "bob",
          "Cancelled": "alice", "Rejected": "carol"}


def change(jira, status: str, fields: dict | None = None) -> str:
    """Create a complete Normal change with its window open now and walk it to ``status``."""
    key = jira.create_change_request("alice", "Rotate edge TLS certificates",
                                     {**COMPLETE, **OPEN, **(fields or {})})
    for step in PATHS[status]:
        jira.transition(key, step, as_user=MOVERS[step])
    return key


def generic(change_key: str | None, *, environment: str = ENV, texts: tuple[str, ...] = (),
            deployment: str = "d1", run_url: str = "") -> DeployRequest:
    answer_key = uuid.uuid4().hex
    return DeployRequest(
        vendor=Vendor.GENERIC, deployment_id=f"generic:jenkins:{deployment}",
        run_id=f"generic:jenkins:{deployment}", environment=environment,
        explicit_key=change_key, texts=texts, sha="0123456789abcdef0123", ref="main",
        run_url=run_url, triggered_by="bob", reply=(("answer_key", answer_key),),
        requested_at="2026-12-02T09:00:00+00:00")


def answer(runtime, request: DeployRequest) -> dict:
    """Return the one answer the job pushed for a generic pipeline."""
    name = runtime.settings.key("gate-answer", request.reply_value("answer_key"))
    values = runtime.redis.lrange(name, 0, -1)
    assert len(values) == 1, values
    return json.loads(values[0])


def status_of(jira, key: str) -> str:
    return jira.status_of(key)


def outcome_of(runtime, key: str) -> str | None:
    field = runtime.site.field_ids[FieldRole.OUTCOME]
    value = runtime.jira.get_issue(key, fields=[field])["fields"].get(field)
    return value["value"] if value else None


def deployments_of(runtime, key: str) -> list[dict]:
    value = runtime.jira.get_issue_property(key, PROPERTY_KEY)
    return (value or {}).get("deployments", [])


CASES = [
    # (id, status, extra fields, environment, verdict, reason start, status after)
    ("approved in window", "Approved", {}, ENV, "allow",
     "{key} is Approved with its approvals standing and its change window open until", "Implementing"),
    ("implementing in window", "Implementing", {}, ENV, "allow",
     "{key} is Implementing with its approvals standing", "Implementing"),
    ("environment not gated", "Draft", {}, "staging", "allow",
     "{key} may deploy to staging: the change policy gates only production", "Draft"),
    ("environment case ignored", "Approved", {}, "Production", "allow",
     "{key} is Approved with its approvals standing", "Implementing"),
    ("draft", "Draft", {}, ENV, "deny",
     "{key} is still in Draft: fill it in and move it to Awaiting Approval", "Draft"),
    ("cancelled", "Cancelled", {}, ENV, "deny",
     "{key} is Cancelled, so it cannot be deployed", "Cancelled"),
    ("window closed", "Approved", window(-3, -1), ENV, "deny",
     "{key}'s change window closed", "Approved"),
    ("window not open yet", "Approved", window(2, 3), ENV, "wait",
     "{key} is approved, and its change window opens", "Approved"),
    ("awaiting the CAB", "Awaiting Approval", {}, ENV, "wait",
     "{key} is not approved yet: waiting for", "Awaiting Approval"),
    ("database change as Normal", "Approved", {"Change Type": "Database"}, ENV, "deny",
     "{key} cannot deploy: ", "Approved"),
]


@pytest.mark.parametrize("status,fields,environment,verdict,reason,after",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_generic_deployment_is_judged_on_the_change_as_it_is_now(
        jira, runtime, status, fields, environment, verdict, reason, after):
    key = change(jira, status, fields)
    request = generic(key, environment=environment)
    summary = judge_deployment(request.to_json(), runtime=runtime)
    got = answer(runtime, request)
    assert (summary["decision"], got["decision"], got["change"]) == (verdict, verdict, key)
    assert got["reason"] == summary["reason"]
    assert got["reason"].startswith(reason.format(key=key)), got["reason"]
    assert (got["retry_after"] is not None) == (verdict == "wait")
    assert status_of(jira, key) == after
    # A generic pipeline asks again by itself: nothing waits in Redis for it.
    assert waiting_for(runtime, key) == []


def test_an_allowed_deployment_is_recorded_on_the_change_with_who_approved_it(jira, runtime):
    key = change(jira, "Approved")
    request = generic(key, run_url="https://ci.example.com/job/deploy/42/")
    judge_deployment(request.to_json(), runtime=runtime)
    [entry] = deployments_of(runtime, key)
    carol = jira.users["carol"].account_id
    assert {k: entry[k] for k in ("deployment_id", "run_id", "vendor", "environment", "state",
                                  "sha", "ref", "run_url", "triggered_by", "approvals")} == {
        "deployment_id": "generic:jenkins:d1", "run_id": "generic:jenkins:d1",
        "vendor": "generic", "environment": ENV, "state": "allowed",
        "sha": "0123456789abcdef0123", "ref": "main",
        "run_url": "https://ci.example.com/job/deploy/42/", "triggered_by": "bob",
        "approvals": [f"cab: {carol}"]}
    [link] = runtime.jira.get_remote_links(key)
    assert link["globalId"] == "changeguard-deployment=generic:jenkins:d1"
    assert link["object"]["title"] == "Deployment to production: in progress"
    assert link["object"]["url"] == "https://ci.example.com/job/deploy/42/"
    # Asked again (a poll), the same deployment is the same entry, and Jira is not rewritten.
    again = generic(key, run_url="https://ci.example.com/job/deploy/42/")
    jira.reset_recordings()
    assert judge_deployment(again.to_json(), runtime=runtime)["decision"] == "allow"
    assert len(deployments_of(runtime, key)) == 1
    assert [c for c in bot_calls(jira) if c[0] == "PUT"] == []


RESOLVE = [
    ("no key anywhere", None, ("fix typo in footer", "main"), "deny",
     "No change request is linked to this deployment: put its key (e.g. CHG-123)"),
    ("two keys", None, ("CHG-1 and CHG-2",), "deny",
     "This deployment names several change requests (CHG-1 and CHG-2)"),
    ("not a key", "deploy-now", (), "deny", "deploy-now is not a change request key"),
    ("unknown key", "CHG-9999", (), "deny", "CHG-9999 was not found in Jira"),
]


@pytest.mark.parametrize("explicit,texts,verdict,reason", [c[1:] for c in RESOLVE],
                         ids=[c[0] for c in RESOLVE])
def test_a_deployment_without_one_known_change_is_denied(runtime, explicit, texts, verdict, reason):
    request = generic(explicit, texts=texts)
    judge_deployment(request.to_json(), runtime=runtime)
    got = answer(runtime, request)
    assert got["decision"] == verdict
    assert got["reason"].startswith(reason), got["reason"]


def test_a_key_of_another_issue_type_is_denied(runtime):
    epic = runtime.policy.cab.epic_key  # the CAB epic: a key of the change project
    request = generic(epic)
    judge_deployment(request.to_json(), runtime=runtime)
    assert answer(runtime, request)["reason"] == (
        f"{epic} is an Epic, not a Change Request: link the deployment to the Change Request it "
        "carries out.")


def test_the_key_is_found_in_the_texts(jira, runtime):
    key = change(jira, "Approved")
    request = generic(None, texts=(f"{key}: rotate certificates", "release/2026-12"))
    judge_deployment(request.to_json(), runtime=runtime)
    assert answer(runtime, request)["decision"] == "allow"


FINISHES = [
    ("success", DeployResult.SUCCESS, True, "Implemented", "Successful"),
    ("failure", DeployResult.FAILURE, True, "Implemented", "Failed"),
    ("rolled back", DeployResult.ROLLED_BACK, True, "Implemented", "Rolled Back"),
    ("not the last deployment", DeployResult.SUCCESS, False, "Implementing", None),
]


@pytest.mark.parametrize("result,last,status,outcome", [c[1:] for c in FINISHES],
                         ids=[c[0] for c in FINISHES])
def test_the_end_of_a_run_is_written_back_to_its_change(jira, runtime, result, last, status,
                                                       outcome):
    key = change(jira, "Approved")
    request = generic(key, run_url="https://ci.example.com/job/deploy/42/")
    judge_deployment(request.to_json(), runtime=runtime)
    assert status_of(jira, key) == "Implementing"
    finish = DeployFinish(vendor=Vendor.GENERIC, run_id=request.run_id, result=result,
                          is_last=last)
    finish_deployment(finish.to_json(), runtime=runtime)
    assert status_of(jira, key) == status
    assert outcome_of(runtime, key) == outcome
    [entry] = deployments_of(runtime, key)
    assert entry["state"] == {DeployResult.SUCCESS: "succeeded", DeployResult.FAILURE: "failed",
                              DeployResult.ROLLED_BACK: "rolled_back"}[result]
    [link] = runtime.jira.get_remote_links(key)
    assert link["object"]["status"]["resolved"] is True
    if status == "Implemented":
        [notice] = [j for j in Queue(runtime.settings.queue_name, connection=runtime.redis).jobs
                    if j.func_name == "jobs.deployment_notices.announce_deployment"
                    and j.kwargs["to_status_id"] == jira.status_id("Implemented")]
        assert notice.kwargs["issue_key"] == key


def test_the_end_of_a_run_the_gate_never_allowed_changes_nothing(runtime):
    finish = DeployFinish(vendor=Vendor.GITHUB, run_id="github:acme/shop:run:1",
                          result=DeployResult.SUCCESS)
    assert finish_deployment(finish.to_json(), runtime=runtime) == {"action": "not gated",
                                                                     "issue_key": None}


def test_a_pipeline_reporting_a_deployment_the_gate_never_allowed_is_flagged(jira, slack,
                                                                            runtime):
    key = change(jira, "Approved")
    finish = DeployFinish(vendor=Vendor.GENERIC, run_id="generic:jenkins:77",
                          result=DeployResult.SUCCESS, explicit_key=key,
                          environment="production", run_url="https://ci.example.com/77")
    assert finish_deployment(finish.to_json(), runtime=runtime) == {"action": "flagged",
                                                                     "issue_key": key}
    assert jira.status_of(key) == "Approved"  # not taken for the change's implementation
    [comment] = jira.comments(key)
    assert "pipeline run https://ci.example.com/77" in comment["text"]
    [alert] = slack.messages
    assert alert.text.startswith(":warning: A deployment to production ran without passing")


def gitlab_started(change_key: str | None, *, environment: str = ENV, job: int = 796) -> dict:
    """A GitLab deployment reported running, as webhooks/gitlab.py builds it."""
    return DeployRequest(
        vendor=Vendor.GITLAB, deployment_id=f"gitlab:7:job:{job}", run_id=f"gitlab:7:job:{job}",
        environment=environment, texts=(f"{change_key}: bump openssl" if change_key else "bump",),
        sha="f" * 40, run_url=f"https://gitlab.example.com/acme/shop/-/jobs/{job}",
        triggered_by="dave", reply=(("deployment_id", "15"), ("project_id", "7"))).to_json()


def test_a_deployment_that_bypassed_the_gate_is_flagged_once(jira, slack, runtime):
    key = change(jira, "Approved")
    first = flag_ungated(gitlab_started(key), runtime=runtime)
    again = flag_ungated(gitlab_started(key), runtime=runtime)
    assert (first, again) == ({"action": "flagged", "issue_key": key},
                              {"action": "already flagged", "issue_key": key})
    assert runtime.policy.violation_label in jira.labels(key)
    [comment] = jira.comments(key)
    assert comment["text"].startswith(
        "Deployment without the gate\n\n"
        f"A deployment of {key} to production ran without passing changeguard's deployment "
        "gate, so nobody checked that this change was approved and inside its window when it "
        "went out.")
    assert ("GitLab run https://gitlab.example.com/acme/shop/-/jobs/796, commit ffffffffffff, "
            "started by dave") in comment["text"]
    [alert] = slack.messages
    assert alert.text == (
        ":warning: A deployment to production ran without passing changeguard's deployment gate: "
        "GitLab run https://gitlab.example.com/acme/shop/-/jobs/796, commit ffffffffffff, "
        f"started by dave; change: {key} ({jira.base_url}/browse/{key}). Check that it was "
        "intended, and turn the gate on for production (README: Deployment gate).")


def test_a_deployment_the_gate_allowed_is_not_flagged_when_it_starts(jira, slack, runtime):
    key = change(jira, "Approved")
    request = generic(key, deployment="run-5")
    judge_deployment(request.to_json(), runtime=runtime)
    started = {**request.to_json(), "texts": []}  # the start names no change: the gate knows
    assert flag_ungated(started, runtime=runtime) == {"action": "gated", "issue_key": key}
    assert jira.comments(key) == [] and slack.messages == []


def test_an_ungated_deployment_naming_no_change_is_told_to_slack_once(jira, slack, runtime):
    assert flag_ungated(gitlab_started(None), runtime=runtime) == {"action": "flagged",
                                                                    "issue_key": None}
    flag_ungated(gitlab_started(None), runtime=runtime)
    [alert] = slack.messages
    assert "change: no change request." in alert.text


def test_a_deployment_to_an_environment_the_policy_does_not_gate_is_not_flagged(jira, slack,
                                                                                runtime):
    key = change(jira, "Approved")
    assert flag_ungated(gitlab_started(key, environment="staging"), runtime=runtime) == {
        "action": "not gated"}
    assert slack.messages == [] and jira.comments(key) == []


TEMPLATES = [
    ("pre-approved template", None, "Dependency patch bump", "allow",
     " is Approved, a Standard change from the pre-approved template “Dependency patch bump”, "
     "with its change window open until ", 1),
    ("template needing a team lead", None, "Copy update", "wait",
     " is not approved yet: waiting for a team lead or the Head of Engineering to approve it", 1),
    ("template not in the catalog", None, "Hotfix", "deny",
     "This deployment declares the Standard template “Hotfix”, which is not in the change "
     "policy's catalog (Copy update, Dependency patch bump or Feature flag toggle)", 0),
    ("several keys and a template", ("CHG-7 and CHG-8",), "Dependency patch bump", "deny",
     "This deployment names several change requests", 0),
]


@pytest.mark.parametrize("texts,template,verdict,reason,created", [c[1:] for c in TEMPLATES],
                         ids=[c[0] for c in TEMPLATES])
def test_a_declared_standard_template_makes_the_change_the_deployment_carries_out(
        jira, runtime, texts, template, verdict, reason, created):
    before = len(jira.site.issues)
    request = dataclasses.replace(generic(None, texts=texts or ()), template=template)
    summary = judge_deployment(request.to_json(), runtime=runtime)
    got = answer(runtime, request)
    assert (summary["decision"], got["decision"]) == (verdict, verdict)
    assert len(jira.site.issues) - before == created
    if created:
        assert got["reason"].startswith(f"{got['change']}{reason}"), got["reason"]
    else:
        assert got["change"] is None and reason in got["reason"]


def held_gitlab_request(held, key: str) -> DeployRequest:
    """Return the question about a deployment GitLab holds in project 7, for change ``key``."""
    return DeployRequest(
        vendor=Vendor.GITLAB, deployment_id=f"gitlab:7:job:{held.job_id}",
        run_id=f"gitlab:7:job:{held.job_id}", environment=ENV, explicit_key=key,
        reply=(("deployment_id", str(held.id)), ("job_id", str(held.job_id)),
               ("project_id", "7")))


def test_a_gitlab_deployment_decided_meanwhile_is_not_answered_twice(jira, runtime,
                                                                     gitlab_sandbox,
                                                                     gitlab_project):
    """Two judgements of one held deployment (a hook and the sweep): the second finds it no
    longer waiting (GitLab answers 400) and ends without error."""
    rt = dataclasses.replace(runtime, gitlab=GitLabClient(
        gitlab_sandbox.url, gitlab_sandbox.bot.token, backoff_base=0.01))
    key = change(jira, "Approved")
    held = gitlab_sandbox.add_deployment(gitlab_project, "production")
    request = held_gitlab_request(held, key)
    assert judge_deployment(request.to_json(), runtime=rt)["decision"] == "allow"
    assert judge_deployment(request.to_json(), runtime=rt)["decision"] == "allow"
    assert [a.status for a in gitlab_sandbox.approvals] == ["approved"]
    assert [r.status for r in gitlab_sandbox.take_rejections()] == [400]


def test_a_change_deployed_in_two_regions_is_implemented_when_both_have_ended(jira, runtime):
    key = change(jira, "Approved")
    regions = [generic(key, deployment=f"region-{n}", run_url=f"https://ci.example.com/{n}")
               for n in (1, 2)]
    for request in regions:
        assert judge_deployment(request.to_json(), runtime=runtime)["decision"] == "allow"
    first, second = (DeployFinish(vendor=Vendor.GENERIC, run_id=r.run_id,
                                  result=DeployResult.SUCCESS) for r in regions)
    assert finish_deployment(first.to_json(), runtime=runtime)["action"] == (
        "recorded; other deployments of this commit have not ended")
    assert jira.status_of(key) == "Implementing"
    assert finish_deployment(second.to_json(), runtime=runtime)["action"] == "implemented"
    assert jira.status_of(key) == "Implemented"
