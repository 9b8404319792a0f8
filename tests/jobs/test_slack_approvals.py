"""Emergency approvals from Slack, against the sandbox Jira, the fake Slack and a real Redis."""

from __future__ import annotations

import pytest

from jobs.enforce_transition import enforce_transition
from jobs.slack_approvals import handle_slack_action, request_emergency_approval
from rules.approvals import revision_of
from rules.change_request import fields_to_fetch, parse_change_request

from ..builders import COMPLETE, bot_calls, move_args

EMERGENCY = {**COMPLETE, "Change Category": "Emergency", "Incident Commander": "erin",
             "Risk Level": "High"}
SUMMARY = "Fail over the orders database"
CLICK_TS = "1764583200.000100"  # 2025-12-01T10:00:00Z
CLICK_AT = "2025-12-01T10:00:00+00:00"
STILL_IC = "Still needed: the Incident Commander named on the change (Erin Evans)."


@pytest.fixture
def runtime_options(jira, slack):
    """Map dana in the policy; alice, erin and frank are found in Slack by their email address."""
    for name in ("alice", "erin", "frank"):
        person = jira.users[name]
        slack.add_user(f"U0{name.upper()}", person.email, person.display_name)
    return {"slack_users": {"U0DANA": "dana"}}


@pytest.fixture
def key(jira, runtime):
    """An Emergency change in Awaiting Approval, its approval request posted to Slack."""
    issue_key = jira.create_change_request("alice", SUMMARY, EMERGENCY)
    jira.transition(issue_key, "Awaiting Approval", as_user="alice")
    assert request_emergency_approval(issue_key, runtime=runtime)["posted"] is True
    return issue_key


def click(runtime, key, slack, user, action="approve", at=CLICK_TS):
    [request] = slack.messages
    return handle_slack_action(key, action, user, request.ts, at, runtime=runtime)


def approvals(jira, key):
    return [(a["accountId"], a["role"]) for a in
            jira.property(key, "changeguard")["approvals"]["approvals"]]


def bot_writes(jira):
    return [(r.method, r.path.rsplit("/", 1)[-1]) for r in jira.requests
            if r.account_id == jira.bot.account_id and r.method != "GET"]


def test_the_request_is_posted_once_per_revision_with_its_buttons(jira, slack, runtime, key):
    [message] = slack.messages
    assert (message.channel, message.text) == (
        "#deployments",
        f":rotating_light: Emergency change {key} “{SUMMARY}” needs approval from the Head of "
        "Engineering and its Incident Commander (Erin Evans), two different people.")
    assert message.blocks[1]["fields"] == [
        {"type": "mrkdwn", "text": "*Incident Commander*\nErin Evans"},
        {"type": "mrkdwn", "text": "*Risk*\nHigh: Medium: a bad chain would break HTTPS for "
                                   "every client."},
        {"type": "mrkdwn", "text": "*Window*\n2026-12-01 10:00 UTC → 2026-12-01 11:00 UTC"},
        {"type": "mrkdwn", "text": "*Rollback plan*\nRe-apply the previous bundle from the "
                                   "Terraform state."}]
    assert [(b["action_id"], b["value"]) for b in message.blocks[-1]["elements"]] == [
        ("approve", key), ("reject", key)]
    issue = runtime.jira.get_issue(key, fields=fields_to_fetch(runtime.site))
    assert jira.property(key, "changeguard-slack-approval") == {
        "channel": slack.channel_id("#deployments"), "ts": message.ts,
        "revision": revision_of(parse_change_request(issue, runtime.site))}
    assert request_emergency_approval(key, runtime=runtime) == {"posted": False,
                                                                "reason": "already_posted"}
    assert len(slack.messages) == 1


def test_only_emergency_changes_awaiting_approval_get_a_request(jira, slack, runtime):
    normal = jira.create_change_request("alice", SUMMARY, COMPLETE)
    jira.transition(normal, "Awaiting Approval", as_user="alice")
    draft = jira.create_change_request("alice", SUMMARY, EMERGENCY)
    assert request_emergency_approval(normal, runtime=runtime) == {"posted": False,
                                                                   "reason": "not_emergency"}
    assert request_emergency_approval(draft, runtime=runtime) == {"posted": False,
                                                                  "reason": "not_awaiting"}
    assert slack.messages == []


def test_hoe_then_named_ic_approve_from_slack_and_changeguard_moves_it(jira, slack, runtime, key):
    dana, erin = jira.users["dana"].account_id, jira.users["erin"].account_id
    assert click(runtime, key, slack, "U0DANA") == {"verdict": "recorded", "moved": False}
    assert jira.status_of(key) == "Awaiting Approval"
    assert approvals(jira, key) == [(dana, "head_of_engineering")]
    assert jira.property(key, "changeguard")["audit"] == [
        {"at": CLICK_AT, "decision": "approval recorded", "reason": "slack", "actor": dana,
         "from": "Awaiting Approval", "to": "Approved", "changelog": None,
         "detail": "recorded"}]
    [message] = slack.messages
    assert message.latest_text == f"Dana Diaz approved as the Head of Engineering. {STILL_IC}"
    assert message.updates[-1].blocks[-1]["type"] == "actions"  # still open

    jira.reset_recordings()
    assert click(runtime, key, slack, "U0ERIN", at="1764583260.000200") == {
        "verdict": "approved", "moved": True}
    assert jira.status_of(key) == "Approved"
    assert bot_writes(jira) == [("PUT", "changeguard"), ("POST", "transitions")]
    # One read of the issue brings the way to Approved with it (expand=transitions).
    assert [call for call in bot_calls(jira) if call[1] in (key, "transitions")] == [
        ("GET", key), ("POST", "transitions")]
    assert approvals(jira, key) == [(dana, "head_of_engineering"), (erin, "incident_commander")]
    assert jira.property(key, "changeguard")["audit"][-1]["decision"] == "approved"
    [message] = slack.messages
    assert message.latest_text == (
        ":white_check_mark: Approved by Dana Diaz (the Head of Engineering) and Erin Evans (the "
        f"Incident Commander named on the change). changeguard moved {key} to Approved.")
    assert message.updates[-1].blocks[-1]["type"] == "section"  # buttons gone

    # The webhook of changeguard's own move is ignored by enforcement.
    assert enforce_transition(**move_args(jira, key, "changeguard"), runtime=runtime) == {
        "verdict": "ignore", "reason": "own_move"}


def test_a_slack_approval_counts_for_the_jira_path(jira, slack, runtime, key):
    click(runtime, key, slack, "U0DANA")
    jira.transition(key, "Approved", as_user="erin")
    assert enforce_transition(**move_args(jira, key, "erin"), runtime=runtime) == {
        "verdict": "allow", "reason": "approved"}
    assert jira.status_of(key) == "Approved"


def test_one_approval_twice_does_not_approve(jira, slack, runtime, key):
    click(runtime, key, slack, "U0DANA")
    jira.reset_recordings()
    assert click(runtime, key, slack, "U0DANA", at="1764583260.000200") == {
        "verdict": "already_recorded", "moved": False}
    assert bot_writes(jira) == []
    assert jira.status_of(key) == "Awaiting Approval"
    assert slack.messages[0].latest_text == (
        f"Dana Diaz's approval is already recorded. {STILL_IC}")


REFUSALS = [
    ("frank", "U0FRANK", ":no_entry: Frank Foster can't approve {key}: they are an Incident "
     "Commander, but not the one named on this change. Nothing was recorded. " + STILL_IC),
    ("alice", "U0ALICE", ":no_entry: Alice Adams can't approve {key}: they reported this "
     "change, and nobody approves a change they reported. Nothing was recorded. " + STILL_IC),
    ("nobody", "U0NOBODY", ":no_entry: <@U0NOBODY> can't approve from Slack: changeguard doesn't "
     "know their Jira account. Ask an admin to add their Slack user id to [slack.users] in the "
     "change policy, or use the same email address in Slack and Jira. Nothing was recorded. "
     + STILL_IC),
]


@pytest.mark.parametrize("who, slack_id, text", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_are_shown_in_slack_and_record_nothing(jira, slack, runtime, key, who,
                                                        slack_id, text):
    click(runtime, key, slack, "U0DANA")
    jira.reset_recordings()
    verdict = "unknown_user" if who == "nobody" else "refused"
    assert click(runtime, key, slack, slack_id, at="1764583260.000200") == {
        "verdict": verdict, "moved": False}
    assert bot_writes(jira) == []
    assert approvals(jira, key) == [(jira.users["dana"].account_id, "head_of_engineering")]
    assert jira.status_of(key) == "Awaiting Approval"
    assert slack.messages[0].latest_text == text.format(key=key)


def test_reject_records_it_and_moves_the_change_to_rejected(jira, slack, runtime, key):
    jira.reset_recordings()
    assert click(runtime, key, slack, "U0DANA", action="reject") == {"verdict": "rejected",
                                                                      "moved": True}
    assert jira.status_of(key) == "Rejected"
    assert jira.property(key, "changeguard")["audit"] == [
        {"at": CLICK_AT, "decision": "rejected", "reason": "slack",
         "actor": jira.users["dana"].account_id, "from": "Awaiting Approval", "to": "Rejected",
         "changelog": None, "detail": ""}]
    assert slack.messages[0].latest_text == (
        f":x: Rejected by Dana Diaz. changeguard moved {key} to Rejected.")


def test_a_retried_job_only_repeats_the_message_update(jira, slack, runtime, key):
    click(runtime, key, slack, "U0DANA")
    jira.reset_recordings()
    assert click(runtime, key, slack, "U0DANA") == {"verdict": "recorded", "moved": False}
    assert [r for r in jira.requests if r.account_id == jira.bot.account_id] == []
    assert [u.text for u in slack.messages[0].updates] == [
        f"Dana Diaz approved as the Head of Engineering. {STILL_IC}"] * 2


def test_a_click_on_an_older_request_is_refused(jira, slack, runtime, key):
    [old] = slack.messages
    jira.transition(key, "Draft", as_user="alice")
    jira.edit(key, "alice", {"Rollback Plan": "Restore the previous bundle from the S3 backup."})
    jira.transition(key, "Awaiting Approval", as_user="alice")
    assert request_emergency_approval(key, runtime=runtime)["posted"] is True
    assert handle_slack_action(key, "approve", "U0DANA", old.ts, CLICK_TS, runtime=runtime) == {
        "verdict": "superseded", "moved": False}
    assert "changeguard" not in (runtime.jira.get_issue(
        key, fields=["summary"], properties=["changeguard"]).get("properties") or {})
    assert slack.messages[0].latest_text.startswith("This request is out of date")
