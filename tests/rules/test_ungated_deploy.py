"""Flagging a deployment to a gated environment that never passed the gate, case by case."""

from __future__ import annotations

import pytest

from rules.adf import adf_to_text
from rules.deployment import DeploymentEntry, DeploymentsRecord, DeployRequest, DeployState, Vendor
from rules.plan import AddComment, AddLabel, SlackAlert
from rules.ungated_deploy import passed_the_gate, plan_for_ungated
from worker.policy_file import load_policy

POLICY = load_policy()
URL = "https://acme.atlassian.net/browse/CHG-7"
RUN = "gitlab:7:job:796"


def started(environment="production", **changes) -> DeployRequest:
    values = {"vendor": Vendor.GITLAB, "deployment_id": RUN, "run_id": RUN,
              "environment": environment, "sha": "f" * 40,
              "run_url": "https://gitlab.example.com/acme/shop/-/jobs/796",
              "triggered_by": "dave", **changes}
    return DeployRequest(**values)


def entry(state: DeployState, environment="production", run_id=RUN) -> DeploymentEntry:
    return DeploymentEntry(deployment_id=run_id, run_id=run_id, vendor="gitlab",
                           environment=environment, state=state, reason="", at="")


PASSED = [
    ("allowed", entry(DeployState.ALLOWED), True),
    ("allowed, environment in other case", entry(DeployState.ALLOWED, "Production"), True),
    ("succeeded", entry(DeployState.SUCCEEDED), True),
    ("failed", entry(DeployState.FAILED), True),
    ("rolled back", entry(DeployState.ROLLED_BACK), True),
    ("denied", entry(DeployState.DENIED), False),
    ("waiting", entry(DeployState.WAITING), False),
    ("allowed to another environment", entry(DeployState.ALLOWED, "production-eu"), False),
    ("another run allowed", entry(DeployState.ALLOWED, run_id="gitlab:7:job:1"), False),
]


@pytest.mark.parametrize("recorded,passed", [c[1:] for c in PASSED], ids=[c[0] for c in PASSED])
def test_a_run_passed_the_gate_only_if_the_gate_let_it_through(recorded, passed):
    assert passed_the_gate(started(), DeploymentsRecord((recorded,))) is passed


def test_nothing_is_flagged_for_an_environment_the_policy_does_not_gate():
    assert plan_for_ungated(started("staging"), "CHG-7", DeploymentsRecord(), POLICY, URL) is None


def test_nothing_is_flagged_for_a_run_the_gate_allowed():
    record = DeploymentsRecord((entry(DeployState.ALLOWED),))
    assert plan_for_ungated(started(), "CHG-7", record, POLICY, URL) is None


ALERT = (":warning: A deployment to production ran without passing changeguard's deployment "
         "gate: GitLab run https://gitlab.example.com/acme/shop/-/jobs/796, commit "
         "ffffffffffff, started by dave; change: {change}. Check that it was intended, and turn "
         "the gate on for production (README: Deployment gate).")


def test_an_ungated_deployment_of_a_change_labels_comments_and_alerts():
    plan = plan_for_ungated(started(), "CHG-7", DeploymentsRecord(), POLICY, URL)
    assert plan.summary == {"verdict": "flag", "reason": "ungated_deployment"}
    label, alert, comment = plan.steps
    assert label == AddLabel(POLICY.violation_label)
    assert alert == SlackAlert(POLICY.slack_channel, ALERT.format(change=f"CHG-7 ({URL})"))
    assert isinstance(comment, AddComment)
    assert adf_to_text(comment.body) == (
        "Deployment without the gate\n"
        "A deployment of CHG-7 to production ran without passing changeguard's deployment gate, "
        "so nobody checked that this change was approved and inside its window when it went "
        f"out. It is labelled {POLICY.violation_label}.\n"
        "Run: GitLab run https://gitlab.example.com/acme/shop/-/jobs/796, commit ffffffffffff, "
        "started by dave\n\n"
        "Next: confirm here what was deployed and why it bypassed the gate, and have the "
        "pipeline's production environment wait for changeguard (GitHub: enable the changeguard "
        "app as a deployment protection rule; GitLab: make the environment protected with "
        "changeguard as approver; other pipelines: run `changeguard gate` before deploying).")


ALERTS = [
    ("no change: Slack alone", started(), None, None, "no change request"),
    ("a change without its link", started(), "CHG-7", None, "CHG-7"),
]


@pytest.mark.parametrize("request_,key,url,change", [c[1:] for c in ALERTS],
                         ids=[c[0] for c in ALERTS])
def test_the_alert_names_the_change_as_far_as_it_is_known(request_, key, url, change):
    plan = plan_for_ungated(request_, key, DeploymentsRecord(), POLICY, url)
    alerts = [s for s in plan.steps if isinstance(s, SlackAlert)]
    assert [a.text for a in alerts] == [ALERT.format(change=change)]
    assert len(plan.steps) == (1 if key is None else 3)


RUNS = [
    ("everything known", started(),
     "GitLab run https://gitlab.example.com/acme/shop/-/jobs/796, commit ffffffffffff, "
     "started by dave"),
    ("no page, commit or person", started(run_url="", sha="", triggered_by=""),
     f"GitLab run {RUN}"),
    ("a generic pipeline", started(vendor=Vendor.GENERIC, triggered_by=""),
     "pipeline run https://gitlab.example.com/acme/shop/-/jobs/796, commit ffffffffffff"),
]


@pytest.mark.parametrize("request_,run", [c[1:] for c in RUNS], ids=[c[0] for c in RUNS])
def test_the_run_is_described_with_what_is_known_of_it(request_, run):
    plan = plan_for_ungated(request_, None, DeploymentsRecord(), POLICY, None)
    assert f"deployment gate: {run}; change:" in plan.steps[0].text
