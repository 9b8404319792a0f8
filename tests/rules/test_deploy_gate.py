"""The deployment gate: which change a deployment names, and allow, wait or deny, case by case."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from jobs.periodic import cab_calendar
from rules.approvals import ApprovalRole, ApprovalState
from rules.cab_schedule import next_meeting
from rules.deploy_gate import (APPROVAL_RETRY_SECONDS, ChangeResolution, GateDecision,
                               GateVerdict, decide_deploy, not_a_change, not_found,
                               outside_the_gate, resolve_change)
from rules.policy import StatusRole
from worker.policy_file import load_policy

from .builders import SITE, approved, change

POLICY = load_policy()
CAL = cab_calendar(POLICY)
ALLOW, WAIT, DENY = GateVerdict.ALLOW, GateVerdict.WAIT, GateVerdict.DENY
CAB, TEAM_LEAD = ApprovalRole.CAB, ApprovalRole.TEAM_LEAD
HEAD, IC = ApprovalRole.HEAD_OF_ENGINEERING, ApprovalRole.INCIDENT_COMMANDER


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


# The builder's window: Tue 1 Dec 2026 10:00-11:00 UTC (GMT, so 10:00-11:00 in London too).
START, END = utc(2026, 12, 1, 10), utc(2026, 12, 1, 11)
BEFORE, DURING, AFTER = utc(2026, 11, 30, 9), utc(2026, 12, 1, 10, 30), utc(2026, 12, 1, 12)
NEXT_CAB = utc(2026, 12, 1, 15)  # Tuesdays 15:00 Europe/London
WINDOW_TEXT = "Tue 1 Dec 2026 11:00 (Europe/London)"

NORMAL = change("Normal", status=StatusRole.APPROVED)
STANDARD = change("Standard", status=StatusRole.APPROVED, template="Copy update")
EMERGENCY = change("Emergency", status=StatusRole.APPROVED, commander="712020:ic",
                   start=None, end=None)
DB_EMERGENCY = change("Emergency", status=StatusRole.APPROVED, commander="712020:ic",
                      change_type="Database", start=None, end=None)
SUMMER = change("Normal", status=StatusRole.APPROVED, start=utc(2026, 7, 1, 9),
                end=utc(2026, 7, 1, 10))


def status(cr, role: StatusRole):
    return dataclasses.replace(cr, status_id=SITE.status_ids[role])


def awaiting(cr):
    return status(cr, StatusRole.AWAITING_APPROVAL)


def deny(reason: str) -> GateDecision:
    return GateDecision(DENY, reason, "CHG-7")


def waiting_for(missing: str, cab: str = "", until: datetime | None = None) -> GateDecision:
    return GateDecision(WAIT, f"CHG-7 is not approved yet: waiting for {missing} to approve it{cab}.",
                        "CHG-7", APPROVAL_RETRY_SECONDS, until)


ALLOWED_NORMAL = GateDecision(ALLOW, (
    "CHG-7 is Approved with its approvals standing and its change window open until "
    f"{WINDOW_TEXT}: deploying to production is allowed."), "CHG-7")
CLOSED_WINDOW = deny(
    "CHG-7's change window closed Tue 1 Dec 2026 11:00 (Europe/London), so it cannot be deployed "
    "now: set a new Planned Start and Planned End and have it approved again.")
NEVER_GATED = ("CHG-7 may deploy to {}: the change policy gates only production, so this "
               "deployment is not checked.")

# id, change, approvals, environment, now, expected decision
CASES = [
    ("staging-is-not-gated", status(NORMAL, StatusRole.DRAFT), ApprovalState(), "staging", DURING,
     GateDecision(ALLOW, NEVER_GATED.format("staging"), "CHG-7")),
    ("environment-names-ignore-case", NORMAL, approved(NORMAL, CAB), "Production", DURING,
     dataclasses.replace(ALLOWED_NORMAL, reason=ALLOWED_NORMAL.reason.replace(
         "to production", "to Production"))),
    ("draft", status(NORMAL, StatusRole.DRAFT), ApprovalState(), "production", DURING, deny(
        "CHG-7 is still in Draft: fill it in and move it to Awaiting Approval; it can deploy once "
        "it is approved.")),
    ("rejected", status(NORMAL, StatusRole.REJECTED), approved(NORMAL, CAB), "production", DURING,
     deny("CHG-7 was Rejected, so it cannot be deployed: raise a new change request for this "
          "deployment.")),
    ("cancelled", status(NORMAL, StatusRole.CANCELLED), approved(NORMAL, CAB), "production",
     DURING, deny("CHG-7 is Cancelled, so it cannot be deployed: link this deployment to an "
                  "approved change request instead.")),
    ("implemented", status(NORMAL, StatusRole.IMPLEMENTED), approved(NORMAL, CAB), "production",
     DURING, deny("CHG-7 is already Implemented: a further deployment needs a change request of "
                  "its own.")),
    ("closed", status(NORMAL, StatusRole.CLOSED), approved(NORMAL, CAB), "production", DURING,
     deny("CHG-7 is already Closed: a further deployment needs a change request of its own.")),
    ("status-the-policy-does-not-name", dataclasses.replace(NORMAL, status_id="99999"),
     approved(NORMAL, CAB), "production", DURING, deny(
         "CHG-7 is in a status the change policy does not name, so it cannot be deployed: take "
         "it through the change workflow to Approved.")),
    ("database-as-normal", change("Normal", status=StatusRole.APPROVED, change_type="Database"),
     approved(change("Normal", change_type="Database"), CAB), "production", DURING, deny(
         "CHG-7 cannot deploy: Change Type is “Database”, which only Emergency changes may use "
         "(manual database changes are for emergencies): make it an Emergency change with an "
         "Incident Commander, or ship it through the normal release as Application Code.")),
    ("database-as-emergency", DB_EMERGENCY, approved(DB_EMERGENCY, HEAD, IC), "production", AFTER,
     GateDecision(ALLOW, "CHG-7 is an Emergency change, Approved with its approvals standing: "
                  "deploying to production is allowed.", "CHG-7")),
    ("several-rules-broken", change("Normal", status=StatusRole.APPROVED, description="TBD",
                                    deployment_plan="tbd"), ApprovalState(), "production", DURING,
     deny("CHG-7 cannot deploy until 2 problems are fixed (changeguard check CHG-7 lists them), "
          "the first: Description only says “TBD”: say what changes and why, in at least a "
          "sentence.")),
    ("window-not-ordered", change("Normal", status=StatusRole.APPROVED, start=END, end=START),
     ApprovalState(), "production", DURING, deny(
         "CHG-7 cannot deploy: Planned End is not after Planned Start: the change window must "
         "close after it opens.")),
    ("no-category", change(None, status=StatusRole.APPROVED), ApprovalState(), "production",
     DURING, deny("CHG-7 cannot deploy: Change Category is empty: choose Standard, Normal or "
                  "Emergency.")),
    ("awaiting-normal-cab-next", awaiting(NORMAL), ApprovalState(), "production", DURING,
     waiting_for("a CAB member or the Head of Engineering",
                 ", next CAB meeting Tue 1 Dec 2026 15:00 (Europe/London)", NEXT_CAB)),
    ("awaiting-standard-team-lead", awaiting(STANDARD), ApprovalState(), "production", DURING,
     waiting_for("a team lead or the Head of Engineering")),
    ("awaiting-emergency-both", awaiting(EMERGENCY), ApprovalState(), "production", DURING,
     waiting_for("the Head of Engineering and the Incident Commander named on the change")),
    ("awaiting-emergency-ic", awaiting(EMERGENCY), approved(EMERGENCY, HEAD), "production",
     DURING, waiting_for("the Incident Commander named on the change")),
    ("awaiting-with-approvals-complete", awaiting(NORMAL), approved(NORMAL, CAB), "production",
     DURING, GateDecision(WAIT, "CHG-7 has its approvals but is in Awaiting Approval: waiting for "
                          "an approver to move it to Approved.", "CHG-7", APPROVAL_RETRY_SECONDS)),
    ("awaiting-after-window", awaiting(NORMAL), ApprovalState(), "production", AFTER,
     CLOSED_WINDOW),
    ("approved-not-standing", NORMAL, approved(change(rollback_plan="Restore the old config file "
                                                      "from git."), CAB), "production", DURING,
     deny("CHG-7 is Approved, but no approval stands for the change as it is now (an edit after "
          "approval withdraws it): move it back to Awaiting Approval for a CAB member or the "
          "Head of Engineering to approve it again.")),
    ("approved-nobody-approved", status(EMERGENCY, StatusRole.IMPLEMENTING), ApprovalState(),
     "production", DURING, deny(
         "CHG-7 is Implementing, but no approval stands for the change as it is now (an edit "
         "after approval withdraws it): move it back to Awaiting Approval for the Head of "
         "Engineering and the Incident Commander named on the change to approve it again.")),
    ("approved-before-window", NORMAL, approved(NORMAL, CAB), "production", BEFORE,
     GateDecision(WAIT, "CHG-7 is approved, and its change window opens Tue 1 Dec 2026 10:00 "
                  "(Europe/London): the deployment waits until then.", "CHG-7", 25 * 3600, START)),
    ("approved-half-a-second-before", NORMAL, approved(NORMAL, CAB), "production",
     START - timedelta(milliseconds=500),
     GateDecision(WAIT, "CHG-7 is approved, and its change window opens Tue 1 Dec 2026 10:00 "
                  "(Europe/London): the deployment waits until then.", "CHG-7", 1, START)),
    ("approved-summer-window-in-london-time", SUMMER, approved(SUMMER, CAB), "production",
     utc(2026, 7, 1, 8), GateDecision(
         WAIT, "CHG-7 is approved, and its change window opens Wed 1 Jul 2026 10:00 "
         "(Europe/London): the deployment waits until then.", "CHG-7", 3600, utc(2026, 7, 1, 9))),
    ("approved-at-window-start", NORMAL, approved(NORMAL, CAB), "production", START,
     ALLOWED_NORMAL),
    ("approved-in-window", NORMAL, approved(NORMAL, CAB), "production", DURING, ALLOWED_NORMAL),
    ("approved-at-window-end", NORMAL, approved(NORMAL, CAB), "production", END, CLOSED_WINDOW),
    ("approved-after-window", NORMAL, approved(NORMAL, CAB), "production", AFTER, CLOSED_WINDOW),
    ("implementing-in-window", status(NORMAL, StatusRole.IMPLEMENTING), approved(NORMAL, HEAD),
     "production", DURING, dataclasses.replace(ALLOWED_NORMAL, reason=ALLOWED_NORMAL.reason.replace(
         "is Approved", "is Implementing"))),
    ("standard-in-window", STANDARD, approved(STANDARD, TEAM_LEAD), "production", DURING,
     ALLOWED_NORMAL),
    ("emergency-needs-no-window", status(EMERGENCY, StatusRole.IMPLEMENTING),
     approved(EMERGENCY, HEAD, IC), "production", AFTER, GateDecision(
         ALLOW, "CHG-7 is an Emergency change, Implementing with its approvals standing: "
         "deploying to production is allowed.", "CHG-7")),
]


@pytest.mark.parametrize("cr, approvals, environment, now, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_decide_deploy(cr, approvals, environment, now, expected):
    decision = decide_deploy(cr, approvals, environment=environment, now=now, policy=POLICY,
                             site=SITE, calendar=CAL, next_cab=next_meeting(CAL, now))
    assert decision == expected


def test_a_normal_change_waits_without_a_date_when_the_cab_has_no_next_meeting():
    decision = decide_deploy(awaiting(NORMAL), ApprovalState(), environment="production",
                             now=DURING, policy=POLICY, site=SITE, calendar=CAL, next_cab=None)
    assert decision == waiting_for("a CAB member or the Head of Engineering")


def test_every_environment_the_policy_lists_is_gated():
    policy = dataclasses.replace(POLICY, deploy=dataclasses.replace(
        POLICY.deploy, environments=("prod-eu", "prod-us")))
    decide = lambda env: decide_deploy(  # noqa: E731
        NORMAL, ApprovalState(), environment=env, now=DURING, policy=policy, site=SITE,
        calendar=CAL, next_cab=None)
    assert decide("prod-us").verdict is DENY
    assert decide("production") == GateDecision(ALLOW, (
        "CHG-7 may deploy to production: the change policy gates only prod-eu and prod-us, so "
        "this deployment is not checked."), "CHG-7")


NO_KEY = ("No change request is linked to this deployment: put its key (e.g. CHG-123) in the "
          "pull request title or the branch name, or pass it to the gate explicitly.")


def several(keys: str) -> ChangeResolution:
    return ChangeResolution(None, (
        f"This deployment names several change requests ({keys}): keep only the one it carries "
        "out in the pull request titles, branch name and commit message, or pass that one to the "
        "gate explicitly."))


# id, explicit key, texts (PR titles, branch, head commit message), project keys, expected
RESOLUTIONS = [
    ("explicit-wins", "CHG-5", ("Fix CHG-6", "CHG-7-fix", "CHG-8"), ("CHG",),
     ChangeResolution("CHG-5")),
    ("explicit-typed-in-lower-case", " chg-5 ", (), ("CHG",), ChangeResolution("CHG-5")),
    ("explicit-of-another-project", "OPS-5", ("CHG-6",), ("CHG",), ChangeResolution(
        None, "OPS-5 is not a change request key: pass the key of a CHG issue, e.g. CHG-123.")),
    ("explicit-not-a-key", "latest", (), ("CHG", "OPS"), ChangeResolution(
        None, "latest is not a change request key: pass the key of a CHG or OPS issue, e.g. "
              "CHG-123.")),
    ("explicit-empty-falls-back", "  ", ("Bump pool size (CHG-6)",), ("CHG",),
     ChangeResolution("CHG-6")),
    ("in-pr-title", None, ("CHG-6: raise the pool", "main", "Merge pull request #4"), ("CHG",),
     ChangeResolution("CHG-6")),
    ("in-branch", None, ("Raise the pool", "feature/CHG-6-pool", "Merge"), ("CHG",),
     ChangeResolution("CHG-6")),
    ("in-commit-message", None, ("Raise the pool", "pool", "Raise pool\n\nRefs CHG-6."), ("CHG",),
     ChangeResolution("CHG-6")),
    ("same-key-everywhere", None, ("[CHG-6] pool", "CHG-6_pool", "CHG-6"), ("CHG",),
     ChangeResolution("CHG-6")),
    ("several-keys-named-in-order", None, ("CHG-9 and CHG-6", "CHG-7-pool", "CHG-9"), ("CHG",),
     several("CHG-9, CHG-6 and CHG-7")),
    ("keys-of-other-projects-ignored", None, ("OPS-9: pool for CHG-6",), ("CHG",),
     ChangeResolution("CHG-6")),
    ("keys-of-every-policy-project", None, ("OPS-9: pool for CHG-6",), ("CHG", "OPS"),
     several("OPS-9 and CHG-6")),
    ("longer-project-key-wins", None, ("CHGX-2",), ("CHG", "CHGX"), ChangeResolution("CHGX-2")),
    ("lower-case-in-branch-does-not-count", None, ("Raise pool", "feature/chg-6-pool"), ("CHG",),
     ChangeResolution(None, NO_KEY)),
    ("not-word-bounded", None, ("XCHG-6", "CHG-6a", "CHG-06", "CHG-", "2CHG-6"), ("CHG",),
     ChangeResolution(None, NO_KEY)),
    ("nothing-at-all", None, ("", "main", ""), ("CHG",), ChangeResolution(None, NO_KEY)),
]


@pytest.mark.parametrize("explicit, texts, projects, expected", [r[1:] for r in RESOLUTIONS],
                         ids=[r[0] for r in RESOLUTIONS])
def test_resolve_change(explicit, texts, projects, expected):
    assert resolve_change(explicit, texts, projects) == expected


def test_an_unresolved_change_is_denied_with_its_reason():
    resolution = resolve_change(None, ("main",), POLICY.scope_project_keys)
    assert resolution.denial() == GateDecision(DENY, NO_KEY, None)


# id, the answer, the GateDecision it is
UNKNOWN_KEYS = [
    ("not-found", lambda: not_found("CHG-7"), deny(
        "CHG-7 was not found in Jira (or changeguard's account cannot see it): check the key, "
        "and link the deployment to the change request it carries out.")),
    ("a-story", lambda: not_a_change("CHG-7", "Story", "Change Request"), deny(
        "CHG-7 is a Story, not a Change Request: link the deployment to the Change Request it "
        "carries out.")),
    ("no-issue-type", lambda: not_a_change("CHG-7", None, "Change Request"), deny(
        "CHG-7 is an issue, not a Change Request: link the deployment to the Change Request it "
        "carries out.")),
    ("an-epic", lambda: not_a_change("CHG-7", "Epic", "Change Request"), deny(
        "CHG-7 is an Epic, not a Change Request: link the deployment to the Change Request it "
        "carries out.")),
    ("an-incident-not-an-rfc", lambda: not_a_change("CHG-7", "Incident", "RFC"), deny(
        "CHG-7 is an Incident, not a RFC: link the deployment to the RFC it carries out.")),
]


@pytest.mark.parametrize("answer, expected", [u[1:] for u in UNKNOWN_KEYS],
                         ids=[u[0] for u in UNKNOWN_KEYS])
def test_a_key_that_is_no_change_request_is_denied(answer, expected):
    assert answer() == expected


OUTSIDE = [
    ("gated environment", "production", "CHG-7", None),
    ("gated, case ignored", "PRODUCTION", None, None),
    ("staging with a change", "staging", "CHG-7",
     "CHG-7 may deploy to staging: the change policy gates only production, so this deployment "
     "is not checked."),
    ("staging without a change", "staging", None,
     "This deployment may go to staging: the change policy gates only production, so it is not "
     "checked."),
]


@pytest.mark.parametrize("environment,key,reason", [c[1:] for c in OUTSIDE],
                         ids=[c[0] for c in OUTSIDE])
def test_an_environment_the_policy_does_not_gate_is_allowed_without_a_change(environment, key,
                                                                            reason):
    decision = outside_the_gate(environment, key, POLICY)
    if reason is None:
        assert decision is None
    else:
        assert decision == GateDecision(GateVerdict.ALLOW, reason, key)
