"""Approval state on the issue: parsing, revisions, withdrawal on material edits, the audit record."""

import dataclasses

import pytest

from rules.approvals import (Approval, ApprovalRole as R, ApprovalState, material_values,
                             parse_approval_state, revision_of, standing_approvals)
from rules.issue_record import MAX_AUDIT_ENTRIES, AuditEntry, IssueRecord, parse_record
from rules.material_edit import EditDecision, EditVerdict, FieldChange, judge_edit
from rules.policy import FieldRole as F
from rules.policy import StatusRole as S

from .builders import SITE, STATUS_IDS, change

AT = "2026-11-24T10:00:00+00:00"
CAB_OK = Approval("712020:carol", R.CAB, AT)


@pytest.mark.parametrize("value, expected", [
    (None, ApprovalState()),
    ("junk", ApprovalState()),
    ({"approvals": "x"}, ApprovalState()),
    ({"revision": "abc", "values": {"risk_level": "Low", "bad": 3},
      "approvals": [{"accountId": "712020:carol", "role": "cab", "at": AT},
                    {"accountId": "x", "role": "king", "at": AT}, {"role": "cab"}, "junk"]},
     ApprovalState("abc", {"risk_level": "Low"}, (CAB_OK,))),
    ({"revision": 7, "values": [], "approvals": []}, ApprovalState(None, {}, ())),
])
def test_parse_approval_state(value, expected):
    assert parse_approval_state(value) == expected


def test_state_round_trips_through_the_property_form():
    state = ApprovalState("abc", {"risk_level": "Low"}, (CAB_OK,))
    assert parse_approval_state(state.to_json()) == state


def test_revision_changes_with_material_fields_only():
    base = change()
    assert revision_of(base) == revision_of(change())
    assert revision_of(base) != revision_of(change(rollback_plan="Restore last night's backup."))
    assert revision_of(base) != revision_of(change(start=None))
    assert revision_of(base) == revision_of(change(description="Another description, just as long."))


def test_material_values_are_short_display_strings():
    values = material_values(change(rollback_plan="word " * 100))
    assert values["category"] == "Normal"
    assert values["planned_start"] == "2026-12-01T10:00:00+00:00"
    assert values["risk_level"] == ""
    assert len(values["rollback_plan"]) == 200 and values["rollback_plan"].endswith("…")


def test_standing_approvals_need_the_same_revision():
    cr = change()
    assert standing_approvals(ApprovalState(revision_of(cr), {}, (CAB_OK,)), cr) == (CAB_OK,)
    assert standing_approvals(ApprovalState("old", {}, (CAB_OK,)), cr) == ()


APPROVED_CR = change(status=S.APPROVED)
STATE = ApprovalState(revision_of(APPROVED_CR), material_values(APPROVED_CR), (CAB_OK,))
EDITED = dataclasses.replace(change(status=S.APPROVED, rollback_plan="Restore last night's backup."))

EDITS = [
    ("nothing approved yet", EDITED, ApprovalState(), EditDecision(EditVerdict.NOTHING)),
    ("edit that changes nothing material", APPROVED_CR, STATE, EditDecision(EditVerdict.NOTHING)),
    ("material edit while Approved", EDITED, STATE, EditDecision(
        EditVerdict.WITHDRAW_AND_REVERT,
        (FieldChange(F.ROLLBACK_PLAN, STATE.values["rollback_plan"],
                     "Restore last night's backup."),), STATUS_IDS[S.AWAITING_APPROVAL])),
    ("material edit with a partial approval", dataclasses.replace(
        EDITED, status_id=STATUS_IDS[S.AWAITING_APPROVAL]), STATE, EditDecision(
        EditVerdict.WITHDRAW,
        (FieldChange(F.ROLLBACK_PLAN, STATE.values["rollback_plan"],
                     "Restore last night's backup."),))),
    ("too late: implementing", dataclasses.replace(
        EDITED, status_id=STATUS_IDS[S.IMPLEMENTING]), STATE, EditDecision(EditVerdict.NOTHING)),
]


@pytest.mark.parametrize("cr, state, expected", [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_judge_edit(cr, state, expected):
    assert judge_edit(cr, state, SITE) == expected


ENTRY = AuditEntry(at=AT, decision="reverted", reason="gate_failed", actor="712020:alice",
                   from_status="Draft", to_status="Awaiting Approval", changelog_id=30002,
                   detail="Rollback Plan: placeholder" + "!" * 300)


def test_record_appends_and_keeps_the_latest_entries():
    record = IssueRecord()
    for _ in range(MAX_AUDIT_ENTRIES + 5):
        record = parse_record(record.with_entry(ENTRY))
    assert len(record.audit) == MAX_AUDIT_ENTRIES
    assert record.audit[-1] == {"at": AT, "decision": "reverted", "reason": "gate_failed",
                                "actor": "712020:alice", "from": "Draft",
                                "to": "Awaiting Approval", "changelog": 30002,
                                "detail": ("Rollback Plan: placeholder" + "!" * 300)[:200]}


def test_record_replaces_approvals_when_given():
    state = ApprovalState("abc", {}, (CAB_OK,))
    value = IssueRecord().with_entry(ENTRY, state)
    assert parse_record(value).approvals == state
    assert parse_record(IssueRecord(approvals=state).with_entry(ENTRY)).approvals == state


@pytest.mark.parametrize("value", [None, [], {"audit": "x"}, {"audit": [1, {"a": 1}]}])
def test_parse_record_tolerates_damage(value):
    record = parse_record(value)
    assert record.approvals == ApprovalState()
    assert all(isinstance(e, dict) for e in record.audit)
