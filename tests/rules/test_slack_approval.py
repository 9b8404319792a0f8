"""Judging Approve/Reject clicks from Slack exactly as Jira-side approvals, and the messages."""

import dataclasses
from datetime import datetime

import pytest

from rules.approvals import (Approval, ApprovalOutcome, ApprovalRole as R, ApprovalState,
                             ApprovalVerdict as AV, material_values, revision_of)
from rules.awaiting_approval_gate import Finding, Problem
from rules.policy import FieldRole as F
from rules.policy import GroupRole as G
from rules.policy import StatusRole as S
from rules.slack_approval import (RequestDetails, SlackAction as A, SlackDecision,
                                  SlackVerdict as V, judge_slack_action, outcome_text,
                                  request_details, request_message, updated_message)
from worker.policy_file import load_policy

from .builders import SITE, change

POLICY = load_policy()
ALICE, DANA, ERIN, FRANK, BOB = (f"712020:{n}" for n in ("alice", "dana", "erin", "frank", "bob"))
AT = "2026-11-24T10:00:00+00:00"
EMERGENCY = change("Emergency", commander=ERIN)
HOE = Approval(DANA, R.HEAD_OF_ENGINEERING, AT)
IC = Approval(ERIN, R.INCIDENT_COMMANDER, AT)
NEED_IC = (frozenset({R.INCIDENT_COMMANDER}),)
NEED_HOE = (frozenset({R.HEAD_OF_ENGINEERING}),)
NEED_BOTH = NEED_HOE + NEED_IC
HOE_GROUPS = frozenset({G.HEAD_OF_ENGINEERING, G.CAB})
IC_GROUPS = frozenset({G.INCIDENT_COMMANDERS})


def approved(cr, *approvals):
    return ApprovalState(revision_of(cr), material_values(cr), tuple(approvals))


def state(*approvals):
    return approved(EMERGENCY, *approvals)


def outcome(verdict, approvals, missing):
    return ApprovalOutcome(verdict, state(*approvals), missing)


JUDGE_CASES = [
    ("hoe approves first: recorded, the named IC still needed",
     A.APPROVE, EMERGENCY, DANA, HOE_GROUPS, state(), True,
     SlackDecision(V.RECORDED, (HOE,), NEED_IC, outcome(AV.RECORDED, [HOE], NEED_IC))),
    ("named IC completes the set",
     A.APPROVE, EMERGENCY, ERIN, IC_GROUPS, state(HOE), True,
     SlackDecision(V.APPROVED, (HOE, IC), (), outcome(AV.COMPLETE, [HOE, IC], ()))),
    ("complete already, the same person again (a retried job): still approved",
     A.APPROVE, EMERGENCY, ERIN, IC_GROUPS, state(HOE, IC), True,
     SlackDecision(V.APPROVED, (HOE, IC), (), outcome(AV.COMPLETE, [HOE, IC], ()))),
    ("hoe clicks twice: already recorded",
     A.APPROVE, EMERGENCY, DANA, HOE_GROUPS, state(HOE), True,
     SlackDecision(V.ALREADY_RECORDED, (HOE,), NEED_IC, outcome(AV.SAME_PERSON, [HOE], NEED_IC))),
    ("another IC than the named one: refused",
     A.APPROVE, EMERGENCY, FRANK, IC_GROUPS, state(HOE), True,
     SlackDecision(V.REFUSED, (HOE,), NEED_IC, outcome(AV.NOT_THE_NAMED_IC, [HOE], NEED_IC))),
    ("the reporter: refused",
     A.APPROVE, EMERGENCY, ALICE, HOE_GROUPS, state(), True,
     SlackDecision(V.REFUSED, (), NEED_BOTH, outcome(AV.SELF_APPROVAL, [], NEED_BOTH))),
    ("a team lead: not an approver of Emergency changes",
     A.APPROVE, EMERGENCY, BOB, frozenset({G.TEAM_LEADS}), state(), True,
     SlackDecision(V.REFUSED, (), NEED_BOTH, outcome(AV.NOT_AN_APPROVER, [], NEED_BOTH))),
    ("a second hoe after the first: role already filled",
     A.APPROVE, EMERGENCY, BOB, HOE_GROUPS, state(HOE), True,
     SlackDecision(V.REFUSED, (HOE,), NEED_IC, outcome(AV.ROLE_ALREADY_FILLED, [HOE], NEED_IC))),
    ("an approver rejects",
     A.REJECT, EMERGENCY, DANA, HOE_GROUPS, state(), True,
     SlackDecision(V.REJECTED, (), NEED_BOTH, outcome(AV.RECORDED, [HOE], NEED_IC))),
    ("the reporter cannot reject either",
     A.REJECT, EMERGENCY, ALICE, HOE_GROUPS, state(), True,
     SlackDecision(V.REFUSED, (), NEED_BOTH, outcome(AV.SELF_APPROVAL, [], NEED_BOTH))),
    ("no Jira account for the Slack user",
     A.APPROVE, EMERGENCY, None, frozenset(), state(HOE), True,
     SlackDecision(V.UNKNOWN_USER, (HOE,), NEED_IC)),
    ("an approval of an earlier revision no longer stands",
     A.APPROVE, EMERGENCY, ERIN, IC_GROUPS,
     ApprovalState("0ld", {}, (HOE,)), True,
     SlackDecision(V.RECORDED, (IC,), NEED_HOE, outcome(AV.RECORDED, [IC], NEED_HOE))),
    ("click on an older request message",
     A.APPROVE, EMERGENCY, DANA, HOE_GROUPS, state(), False,
     SlackDecision(V.SUPERSEDED, (), NEED_BOTH)),
    ("no longer awaiting approval",
     A.APPROVE, change("Emergency", commander=ERIN, status=S.DRAFT), DANA, HOE_GROUPS,
     ApprovalState(), True, SlackDecision(V.NOT_AWAITING, (), NEED_BOTH)),
    ("no longer an Emergency change",
     A.APPROVE, change("Normal"), DANA, HOE_GROUPS, ApprovalState(), True,
     SlackDecision(V.NOT_EMERGENCY, (), NEED_BOTH)),
    ("the issue lost a required field",
     A.APPROVE, change("Emergency", commander=ERIN, rollback_plan="TBD"), DANA, HOE_GROUPS,
     ApprovalState(), True,
     SlackDecision(V.GATE_FAILED, (), NEED_BOTH,
                   findings=(Finding(F.ROLLBACK_PLAN, Problem.PLACEHOLDER, "TBD"),))),
]


@pytest.mark.parametrize("action, cr, actor, groups, recorded, current, expected",
                         [c[1:] for c in JUDGE_CASES], ids=[c[0] for c in JUDGE_CASES])
def test_judge_slack_action(action, cr, actor, groups, recorded, current, expected):
    decision = judge_slack_action(action, cr, POLICY, SITE, actor, groups, recorded, at=AT,
                                  current_request=current)
    assert decision == expected
    assert decision.records_approval is (expected.verdict in (V.RECORDED, V.APPROVED))


DETAILS = RequestDetails(key="CHG-7", url="https://example.atlassian.net/browse/CHG-7",
                         summary="Raise checkout DB pool", incident_commander="Erin Evans",
                         risk="High: x", window="w", rollback="r")
NAMES = {DANA: "Dana Diaz", ERIN: "Erin Evans"}
STILL_IC = ("Still needed: the Incident Commander named on the change (Erin Evans).")
STILL_BOTH = ("Still needed: the Head of Engineering and the Incident Commander named on the "
              "change (Erin Evans).")

TEXT_CASES = [
    ("recorded", SlackDecision(V.RECORDED, (HOE,), NEED_IC), True,
     f"Dana Diaz approved as the Head of Engineering. {STILL_IC}"),
    ("approved and moved", SlackDecision(V.APPROVED, (HOE, IC), ()), True,
     ":white_check_mark: Approved by Dana Diaz (the Head of Engineering) and Erin Evans (the "
     "Incident Commander named on the change). changeguard moved CHG-7 to Approved."),
    ("approved, no transition", SlackDecision(V.APPROVED, (HOE, IC), ()), False,
     ":white_check_mark: Approved by Dana Diaz (the Head of Engineering) and Erin Evans (the "
     "Incident Commander named on the change). changeguard could not move CHG-7 to Approved "
     "(the workflow offers no such transition): move it to Approved in Jira."),
    ("already recorded", SlackDecision(V.ALREADY_RECORDED, (HOE,), NEED_IC), True,
     f"Dana Diaz's approval is already recorded. {STILL_IC}"),
    ("rejected and moved", SlackDecision(V.REJECTED, (), NEED_BOTH), True,
     ":x: Rejected by Dana Diaz. changeguard moved CHG-7 to Rejected."),
    ("rejected, no transition", SlackDecision(V.REJECTED, (), NEED_BOTH), False,
     ":x: Rejected by Dana Diaz. CHG-7 stays in Awaiting Approval (the workflow offers no move "
     "to Rejected)."),
    ("refused: not the named IC",
     SlackDecision(V.REFUSED, (HOE,), NEED_IC, outcome(AV.NOT_THE_NAMED_IC, [HOE], NEED_IC)),
     True, ":no_entry: Dana Diaz can't approve CHG-7: they are an Incident Commander, but not the "
     f"one named on this change. Nothing was recorded. {STILL_IC}"),
    ("refused: nothing missing",
     SlackDecision(V.REFUSED, (HOE, IC), (), outcome(AV.NOT_AN_APPROVER, [HOE, IC], ())),
     True, ":no_entry: Dana Diaz can't approve CHG-7: an Emergency change is approved by the "
     "Head of Engineering and the Incident Commander named on it, and they are neither. Nothing "
     "was recorded. Still needed: nothing."),
    ("unknown user", SlackDecision(V.UNKNOWN_USER, (), NEED_BOTH), True,
     ":no_entry: Dana Diaz can't approve from Slack: changeguard doesn't know their Jira "
     "account. Ask an admin to add their Slack user id to [slack.users] in the change policy, "
     f"or use the same email address in Slack and Jira. Nothing was recorded. {STILL_BOTH}"),
    ("gate failed", SlackDecision(V.GATE_FAILED, (), NEED_BOTH, findings=(
        Finding(F.ROLLBACK_PLAN, Problem.PLACEHOLDER, "TBD"),
        Finding(F.RISK_ASSESSMENT, Problem.MISSING))), True,
     ":no_entry: CHG-7 can't be approved yet: Rollback Plan, Risk Assessment not filled in on "
     f"the issue. Nothing was recorded. {STILL_BOTH}"),
    ("not awaiting", SlackDecision(V.NOT_AWAITING), True,
     "CHG-7 is no longer awaiting approval (it is in Draft). Nothing was recorded."),
    ("not emergency", SlackDecision(V.NOT_EMERGENCY), True,
     "CHG-7 is no longer an Emergency change: approve it in Jira by moving it to Approved. "
     "Nothing was recorded."),
    ("superseded", SlackDecision(V.SUPERSEDED), True,
     "This request is out of date: CHG-7 was changed and submitted again since. Use the newest "
     "request. Nothing was recorded."),
]


@pytest.mark.parametrize("decision, moved, expected", [c[1:] for c in TEXT_CASES],
                         ids=[c[0] for c in TEXT_CASES])
def test_outcome_text(decision, moved, expected):
    assert outcome_text(decision, DETAILS, "Dana Diaz", NAMES, POLICY, moved=moved,
                        status="Draft") == expected


BUTTONS = {"type": "actions", "block_id": "changeguard-approval-CHG-7", "elements": [
    {"type": "button", "action_id": "approve", "value": "CHG-7", "style": "primary",
     "text": {"type": "plain_text", "text": "Approve"}},
    {"type": "button", "action_id": "reject", "value": "CHG-7", "style": "danger",
     "text": {"type": "plain_text", "text": "Reject"}},
]}
REQUEST_TEXT = (":rotating_light: Emergency change CHG-7 “Raise checkout DB pool” needs approval "
                "from the Head of Engineering and its Incident Commander (Erin Evans), two "
                "different people.")
DETAIL_BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": REQUEST_TEXT}},
    {"type": "section",
     "text": {"type": "mrkdwn",
              "text": "<https://example.atlassian.net/browse/CHG-7|CHG-7> Raise checkout DB pool"},
     "fields": [{"type": "mrkdwn", "text": "*Incident Commander*\nErin Evans"},
                {"type": "mrkdwn", "text": "*Risk*\nHigh: x"},
                {"type": "mrkdwn", "text": "*Window*\nw"},
                {"type": "mrkdwn", "text": "*Rollback plan*\nr"}]},
]


def test_request_message_has_the_details_and_both_buttons():
    assert request_message(DETAILS) == (REQUEST_TEXT, [*DETAIL_BLOCKS, BUTTONS])


@pytest.mark.parametrize("verdict, buttons", [
    (V.RECORDED, True), (V.REFUSED, True), (V.UNKNOWN_USER, True), (V.GATE_FAILED, True),
    (V.ALREADY_RECORDED, True), (V.APPROVED, False), (V.REJECTED, False),
    (V.NOT_AWAITING, False), (V.NOT_EMERGENCY, False), (V.SUPERSEDED, False),
], ids=lambda v: str(v.value) if isinstance(v, V) else str(v))
def test_updated_message_keeps_buttons_only_while_open(verdict, buttons):
    note = {"type": "section", "text": {"type": "mrkdwn", "text": "note"}}
    assert updated_message(SlackDecision(verdict), DETAILS, "note") == (
        "note", [*DETAIL_BLOCKS, note, *([BUTTONS] if buttons else [])])


LONG_PLAN = "Restore the snapshot. " * 10
DETAIL_CASES = [
    ("everything given", EMERGENCY, {ERIN: "Erin Evans"},
     RequestDetails("CHG-7", "u", "Raise checkout DB pool", "Erin Evans",
                    "not rated: Low: more connections to a database that has headroom for 200.",
                    "2026-12-01 10:00 UTC → 2026-12-01 11:00 UTC",
                    "Revert the config PR; pods pick up the old pool size on restart.")),
    ("nothing given", dataclasses.replace(
        change("Emergency", start=None, end=None, rollback_plan=None, risk_assessment=None)),
     {}, RequestDetails("CHG-7", "u", "Raise checkout DB pool", "not named",
                        "not rated: not given", "not set → not set", "not given")),
    ("long plan, IC without a name, other time zone, risk level", dataclasses.replace(
        change("Emergency", commander=ERIN, rollback_plan=LONG_PLAN,
               start=datetime.fromisoformat("2026-12-01T11:00:00+01:00")),
        options={**EMERGENCY.options, F.RISK_LEVEL: "High"}),
     {}, RequestDetails("CHG-7", "u", "Raise checkout DB pool", ERIN,
                        "High: Low: more connections to a database that has headroom for 200.",
                        "2026-12-01 10:00 UTC → 2026-12-01 11:00 UTC",
                        LONG_PLAN.strip()[:149] + "…")),
]


@pytest.mark.parametrize("cr, names, expected", [c[1:] for c in DETAIL_CASES],
                         ids=[c[0] for c in DETAIL_CASES])
def test_request_details(cr, names, expected):
    assert request_details(cr, "u", names) == expected
