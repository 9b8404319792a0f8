"""Fuzz the rules: any snapshot, any issue JSON, any record, and every rule answers without raising."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import event, given, settings
from hypothesis import strategies as st

from rules.approvals import Approval, ApprovalRole, ApprovalState, parse_approval_state
from rules.awaiting_approval_gate import check_ready_for_approval
from rules.change_history import HistoryEntry, parse_history
from rules.change_request import (DATETIME_ROLES, OPTION_ROLES, TEXT_ROLES, USER_ROLES,
                                  ChangeRequest, SnapshotError, parse_change_request)
from rules.explanation import explain
from rules.issue_record import parse_record
from rules.material_edit import EditDecision, EditVerdict, judge_edit
from rules.move_comments import (MoveContext, comment_for_move, comment_for_withdrawal,
                                 violation_alert)
from rules.policy import FieldRole, GroupRole, StatusRole
from rules.post_implementation_review import check_review
from rules.status_move import StatusMove, judge_move, replay_approvals, screen_move
from worker.policy_file import load_policy

from .builders import BOT, FIELD_IDS, SITE, STATUS_IDS

POLICY = load_policy()
FUZZ = settings(max_examples=200, derandomize=True, deadline=None, database=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=15)
status_ids = st.sampled_from([*STATUS_IDS.values(), "99999"]) | st.text(max_size=6)
accounts = st.sampled_from(["712020:alice", "712020:bob", "712020:ic", BOT, ""]) | st.text(max_size=8)
option_values = {
    FieldRole.CATEGORY: ["Standard", "Normal", "Emergency"],
    FieldRole.CHANGE_TYPE: ["Application Code", "Infrastructure", "Configuration", "Database"],
    FieldRole.RISK_LEVEL: ["Low", "Medium", "High"],
    FieldRole.STANDARD_TEMPLATE: list(POLICY.standard_templates),
    FieldRole.OUTCOME: ["Successful", "Failed", "Rolled Back"],
}
texts = st.none() | st.sampled_from(["TBD", "n/a", "see above", "", " ", "Revert the config PR."]) \
    | st.text(max_size=300)
times = st.none() | st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-12)),
                               timezone(timedelta(hours=14))]))
snapshots = st.builds(
    ChangeRequest,
    key=st.just("CHG-7") | st.text(max_size=10),
    summary=st.text(max_size=50),
    status_id=status_ids,
    reporter_account_id=st.none() | accounts,
    labels=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    texts=st.fixed_dictionaries({role: texts for role in TEXT_ROLES}),
    options=st.fixed_dictionaries({role: st.none() | st.sampled_from(option_values[role])
                                   | st.text(max_size=10) for role in OPTION_ROLES}),
    times=st.fixed_dictionaries({role: times for role in DATETIME_ROLES}),
    users=st.fixed_dictionaries({role: st.none() | accounts for role in USER_ROLES}),
)
approval_states = st.builds(
    ApprovalState,
    revision=st.none() | st.text(max_size=16),
    values=st.dictionaries(st.sampled_from([r.value for r in FieldRole]), st.text(max_size=20),
                           max_size=4),
    approvals=st.lists(st.builds(Approval, accounts, st.sampled_from(ApprovalRole),
                                 st.text(max_size=25), st.frozensets(st.sampled_from(ApprovalRole))),
                       max_size=3).map(tuple))
moves = st.builds(StatusMove, st.integers(min_value=0, max_value=10**9), st.none() | status_ids,
                  status_ids, st.none() | accounts)
groups = st.frozensets(st.sampled_from(GroupRole))
history_items = st.fixed_dictionaries({}, optional={
    "fieldId": st.sampled_from(["status", *FIELD_IDS.values()]) | st.none() | st.text(max_size=8)
    | json_values,
    "field": st.sampled_from(["Status", "status"]) | json_values,
    "from": status_ids | json_values, "to": status_ids | json_values,
    "fromString": json_values, "toString": json_values})
# Shaped like an issue at the top (key, fields, status), anything below, so most examples reach
# the rules; a top that is not an issue is the SnapshotError the parser's own tests cover.
issues = st.fixed_dictionaries({
    "key": st.just("CHG-7"),
    "fields": st.fixed_dictionaries({"status": st.fixed_dictionaries({"id": status_ids})}, optional={
        "summary": json_values, "labels": json_values, "reporter": json_values,
        **{field_id: json_values for field_id in FIELD_IDS.values()}}),
}, optional={
    "changelog": st.fixed_dictionaries({}, optional={"histories": st.lists(
        st.fixed_dictionaries({}, optional={
            "id": st.integers(min_value=0, max_value=10**6).map(str) | json_values,
            "author": st.fixed_dictionaries({}, optional={"accountId": accounts | json_values})
            | json_values,
            "created": json_values,
            "items": st.lists(history_items | json_values, max_size=3) | json_values,
        }) | json_values, max_size=4)}) | json_values,
    "properties": json_values,
})


def run_every_rule(change: ChangeRequest, move: StatusMove, approvals: ApprovalState,
                   actor_groups: frozenset, history=()) -> None:
    """Run each rule and comment builder on the inputs; any exception fails the example."""
    findings = check_ready_for_approval(change, POLICY)
    assert isinstance(findings, tuple)
    assert isinstance(check_review(change, POLICY), tuple)
    screen_move(move, SITE, last_handled_changelog_id=move.changelog_id)
    decision = judge_move(move, change, POLICY, SITE, approvals=approvals,
                          actor_groups=actor_groups, at="2026-12-01T10:00:00+00:00",
                          history=history)
    edit = judge_edit(change, approvals, SITE)
    assert isinstance(edit, EditDecision)
    replay_approvals(tuple((entry, actor_groups) for entry in history), change, POLICY,
                     history, approvals)
    record = parse_record({"approvals": approvals.to_json(), "audit": []})
    assert all(isinstance(line, str) for line in explain(change, record, POLICY, SITE))
    category = POLICY.category_of(change.option(FieldRole.CATEGORY))
    for reverted in (False, True):
        ctx = MoveContext(actor=move.actor_account_id, from_status="Draft",
                          to_status="Awaiting Approval", category=category,
                          incident_commander=change.user(FieldRole.INCIDENT_COMMANDER),
                          reverted=reverted)
        if decision.verdict.value == "revert":
            assert comment_for_move(decision, ctx, POLICY)["type"] == "doc"
        assert isinstance(violation_alert(change.key, change.summary, ctx, POLICY, "https://x"), str)
    for verdict in (EditVerdict.WITHDRAW, EditVerdict.WITHDRAW_AND_REVERT):
        withdrawal = EditDecision(verdict, edit.changes, SITE.status_ids[StatusRole.AWAITING_APPROVAL])
        assert comment_for_withdrawal(withdrawal, move.actor_account_id, POLICY)["type"] == "doc"


@FUZZ
@given(change=snapshots, move=moves, approvals=approval_states, actor_groups=groups)
def test_every_rule_answers_any_snapshot(change, move, approvals, actor_groups):
    run_every_rule(change, move, approvals, actor_groups)


@FUZZ
@given(issue=issues, move=moves, actor_groups=groups)
def test_parsers_read_any_issue_json_and_the_rules_answer(issue, move, actor_groups):
    history = parse_history(issue, SITE) if isinstance(issue, dict) else ()
    properties = issue.get("properties")
    record = parse_record(properties.get("changeguard") if isinstance(properties, dict) else properties)
    try:
        change = parse_change_request(issue, SITE)
    except SnapshotError:
        event("not an issue")
        return
    run_every_rule(change, move, record.approvals, actor_groups, history)


@FUZZ
@given(value=json_values | st.fixed_dictionaries({}, optional={
    "approvals": st.lists(st.fixed_dictionaries({}, optional={
        "accountId": json_values, "role": st.sampled_from([r.value for r in ApprovalRole])
        | json_values, "at": json_values,
        "roles": st.lists(st.sampled_from([r.value for r in ApprovalRole]) | json_values)
        | json_values}) | json_values, max_size=3) | json_values,
    "revision": json_values, "values": json_values, "audit": json_values}))
def test_record_and_approval_parsers_read_any_json(value):
    record = parse_record(value)
    state = parse_approval_state(value)
    expected = parse_approval_state(value.get("approvals")) if isinstance(value, dict) else ApprovalState()
    assert record.approvals == expected
    assert parse_approval_state(state.to_json()) == state
    assert all(isinstance(entry, dict) for entry in record.audit)


def issue_with_history(history: dict) -> dict:
    """Return a minimal issue whose changelog holds ``history``."""
    return {"key": "CHG-7", "fields": {"status": {"id": "10001"}},
            "changelog": {"histories": [history]}}


def test_parse_history_skips_an_item_whose_field_id_is_a_list():
    assert parse_history(issue_with_history({"id": "0", "items": [{"fieldId": [None]}]}), SITE) == (
        HistoryEntry(0, None),)


def test_parse_history_reads_items_that_are_not_a_list_as_none():
    assert parse_history(issue_with_history({"id": "0", "items": True}), SITE) == (
        HistoryEntry(0, None),)
