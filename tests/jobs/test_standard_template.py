"""A Standard change made from a template for a deployment, against the sandbox Jira and Redis."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from jobs.deploy_gate import judge_deployment
from jobs.standard_template import change_for_template
from rules.deploy_gate import GateDecision, GateVerdict
from rules.deployment import DeployRequest, Vendor
from rules.standard_template import deployment_label
from webhooks.github import deploy_request

ENV = "production"
RUN_URL = "https://ci.example.com/job/deploy/42/"


def generic(template: str | None, *, environment: str = ENV, email: str | None = None,
            deployment: str = "d1", who: str = "alice") -> DeployRequest:
    return DeployRequest(
        vendor=Vendor.GENERIC, deployment_id=f"generic:jenkins:{deployment}",
        run_id=f"generic:jenkins:{deployment}", environment=environment,
        sha="1a2b3c4d5e6f7a8b9c0d", ref="main", run_url=RUN_URL, triggered_by=who,
        triggered_by_email=email, template=template,
        reply=(("answer_key", uuid.uuid4().hex),), requested_at="2026-12-02T09:00:00+00:00")


def creates(jira) -> list:
    """Return the POSTs that created issues (as anyone)."""
    return [r for r in jira.requests if r.method == "POST" and r.path == "/rest/api/3/issue"]


def status_moves(jira, key: str) -> list[tuple[str, str]]:
    """Return the issue's status moves after creation as (who, to status name)."""
    names = {u.account_id: n for n, u in jira.users.items()}
    with jira.site.lock:
        issue = jira.site.issue(key)
        return [(names[h.author], item["toString"]) for h in issue.histories[1:]
                for item in h.items if item["field"] == "status"]


def value(jira, key: str, name: str):
    shown = jira.value_of(key, name)
    if isinstance(shown, dict) and "value" in shown:
        return shown["value"]
    if isinstance(shown, dict) and "accountId" in shown:
        return shown["accountId"]
    return shown


@pytest.mark.parametrize("template,email,reporter,status,moves", [
    ("Dependency patch bump", "alice@example.com", "alice", "Approved",
     [("changeguard", "Awaiting Approval"), ("changeguard", "Approved")]),
    ("Copy update", "alice@example.com", "alice", "Awaiting Approval",
     [("changeguard", "Awaiting Approval")]),
    ("dependency  PATCH bump", None, "changeguard", "Approved",
     [("changeguard", "Awaiting Approval"), ("changeguard", "Approved")]),
], ids=["pre-approved, deployer found", "team lead needed", "name in any case, no email"])
def test_a_declared_template_makes_a_standard_change_moved_on_its_path(
        jira, runtime, template, email, reporter, status, moves):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    key = change_for_template(runtime, generic(template, email=email))
    assert isinstance(key, str) and key.startswith("CHG-")
    name = template if template != "dependency  PATCH bump" else "Dependency patch bump"
    spec = runtime.policy.template_spec(name)
    assert {f: value(jira, key, f) for f in (
        "Summary", "Change Category", "Standard Template", "Change Type", "Risk Level",
        "Reporter")} == {
        "Summary": f"{name}: main@1a2b3c4d (run generic:jenkins:d1)",
        "Change Category": "Standard", "Standard Template": name,
        "Change Type": spec.change_type, "Risk Level": "Low",
        "Reporter": jira.users[reporter].account_id}
    start = datetime.strptime(value(jira, key, "Planned Start"), "%Y-%m-%dT%H:%M:%S.%f%z")
    end = datetime.strptime(value(jira, key, "Planned End"), "%Y-%m-%dT%H:%M:%S.%f%z")
    assert before <= start <= datetime.now(timezone.utc)
    assert end - start == timedelta(hours=spec.window_hours)
    assert jira.labels(key) == [deployment_label("generic:jenkins:d1")]
    assert (jira.status_of(key), status_moves(jira, key)) == (status, moves)
    [link] = jira.remote_links(key)
    assert (link["globalId"], link["object"]["url"], link["object"]["title"]) == (
        "changeguard-deployment=generic:jenkins:d1", RUN_URL,
        "Deployment to production: waiting for approval")


@pytest.mark.parametrize("email,sentence", [
    ("nobody@example.com", "Deployed by alice (nobody@example.com), no Jira account found for "
                           "that address."),
    ("alice@example.com", "Deployed by alice (alice@example.com)."),
    (None, "Deployed by alice; the pipeline gave no email address to find their Jira account "
           "by."),
], ids=["no account for the address", "account found", "no address"])
def test_the_description_says_where_the_change_came_from_and_who_deployed(
        jira, runtime, email, sentence):
    key = change_for_template(runtime, generic("Copy update", email=email))
    spec = runtime.policy.template_spec("Copy update")
    text = [c["content"][0]["text"] for c in jira.value_of(key, "Description")["content"]]
    assert text == [spec.description,
                    "Made by changeguard from the Standard template Copy update for the "
                    f"deployment of 1a2b3c4d5e6f (main) to production, run {RUN_URL}.",
                    sentence]
    expected = "alice" if email == "alice@example.com" else "changeguard"
    assert value(jira, key, "Reporter") == jira.users[expected].account_id


def test_a_template_needing_a_team_lead_makes_the_gate_wait_for_one(jira, runtime):
    key = change_for_template(runtime, generic("Copy update"))
    request = DeployRequest(**{**generic(None).__dict__, "explicit_key": key})
    summary = judge_deployment(request.to_json(), runtime=runtime)
    assert (summary["decision"], summary["change"]) == ("wait", key)
    assert summary["reason"] == (f"{key} is not approved yet: waiting for a team lead or the "
                                 "Head of Engineering to approve it.")


def test_a_pre_approved_template_is_allowed_at_once(jira, runtime):
    key = change_for_template(runtime, generic("Dependency patch bump"))
    request = DeployRequest(**{**generic(None).__dict__, "explicit_key": key})
    summary = judge_deployment(request.to_json(), runtime=runtime)
    assert (summary["decision"], summary["change"]) == ("allow", key)
    assert jira.status_of(key) == "Implementing"


def test_the_same_deployment_asked_again_gets_the_same_change(jira, runtime):
    first = change_for_template(runtime, generic("Copy update"))
    # A redelivery, a poll: Redis remembers the deployment's change.
    assert change_for_template(runtime, generic("Copy update")) == first
    # Redis lost it (flushed, failed over): the label on the change finds it in Jira.
    runtime.redis.delete(runtime.settings.key("template-change", "generic:jenkins:d1"))
    assert change_for_template(runtime, generic("Copy update")) == first
    assert runtime.redis.get(runtime.settings.key("template-change", "generic:jenkins:d1")
                             ) == first.encode()
    assert len(creates(jira)) == 1
    # Another deployment gets a change of its own.
    other = change_for_template(runtime, generic("Copy update", deployment="d2"))
    assert other != first and len(creates(jira)) == 2


def test_a_change_a_person_took_back_to_draft_stays_there(jira, runtime):
    key = change_for_template(runtime, generic("Copy update"))
    jira.transition(key, "Draft", as_user="alice")
    assert change_for_template(runtime, generic("Copy update")) == key
    assert jira.status_of(key) == "Draft"


@pytest.mark.parametrize("template,environment,verdict,reason", [
    ("Database hotfix", ENV, GateVerdict.DENY,
     "This deployment declares the Standard template “Database hotfix”, which is not in the "
     "change policy's catalog (Copy update, Dependency patch bump or Feature flag toggle): "
     "declare one of those, or link the deployment to a change request, e.g. CHG-123."),
    ("Copy update", "staging", GateVerdict.ALLOW,
     "Deploying to staging needs no change request: the change policy gates only production, "
     "so none was made from the template Copy update."),
], ids=["not in the catalog", "environment not gated"])
def test_no_change_is_made_when_the_template_may_not_be_used(
        jira, runtime, template, environment, verdict, reason):
    answer = change_for_template(runtime, generic(template, environment=environment))
    assert answer == GateDecision(verdict, reason, None)
    assert creates(jira) == []


@pytest.mark.parametrize("bodies,made", [
    (["Bumps lodash from 4.17.20 to 4.17.21.\n\nchangeguard-template: Dependency patch bump"],
     "Dependency patch bump"),
    (["No declaration here.", "changeguard-template: `Copy update`"], "Copy update"),
    (["Just a fix."], None),
], ids=["in the pull request body", "in the second pull request", "none declared"])
def test_a_pull_request_body_declares_the_template_of_a_github_deployment(
        jira, runtime, github, bodies, made):
    pulls = [github.add_pull_request(number=n, title=f"Pull request {n}", head_ref=f"b{n}",
                                     head_sha="a" * 40, body=body)
             for n, body in enumerate(bodies, start=1)]
    run = github.add_run(head_sha="a" * 40, head_branch="main", triggering_actor="octocat")
    req = deploy_request(github.protection_rule_payload(run, ENV, pull_requests=pulls))
    assert req.template == made
    if made is None:
        return
    key = change_for_template(runtime, req)
    assert value(jira, key, "Summary") == f"{made}: acme/shop@aaaaaaaa (run {run.id})"
    assert value(jira, key, "Reporter") == jira.bot.account_id  # GitHub gives no email
