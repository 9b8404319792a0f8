"""Judging late events from the changelog: overtaken moves, late approvals, edits since approval."""

import pytest

from rules.approvals import Approval, ApprovalOutcome, ApprovalRole as R, ApprovalState, ApprovalVerdict as AV, material_values, revision_of
from rules.change_history import (HistoryEntry, approval_moves_between, changelog_is_complete,
                                  edits_after, last_editor, latest_status_move, parse_history)
from rules.material_edit import FieldChange
from rules.policy import FieldRole as F
from rules.policy import GroupRole as G
from rules.policy import StatusRole as S
from rules.status_move import MoveDecision, Reason, StatusMove, Verdict, judge_move, replay_approvals
from worker.policy_file import load_policy

from .builders import BOT, SITE, STATUS_IDS as ID, change

POLICY = load_policy()
ALICE, CAROL, BOB = "712020:alice", "712020:carol", "712020:bob"
AT = "2026-11-24T10:00:00+00:00"
ROLLBACK_ID = SITE.field_id(F.ROLLBACK_PLAN)


def history(*entries):
    return {"changelog": {"histories": list(entries)}}


def entry(id, actor, items, created=AT):
    return {"id": str(id), "author": {"accountId": actor}, "created": created, "items": items}


def status_item(frm, to):
    return {"field": "status", "fieldId": "status", "from": ID[frm], "to": ID[to]}


def rollback_item(before, after):
    return {"field": "Rollback Plan", "fieldId": ROLLBACK_ID, "fromString": before,
            "toString": after}


def test_parse_history_sorts_and_reads_status_moves_and_material_edits():
    issue = history(
        entry(12, ALICE, [rollback_item("Revert the PR.", "Restore  the\\nbackup." + "x" * 300)]),
        entry(10, CAROL, [status_item(S.AWAITING_APPROVAL, S.APPROVED), "junk",
                          {"field": "labels", "fieldId": "labels"}]),
        {"id": "not-a-number"}, "junk",
        {"id": "11", "author": None, "items": [{"field": "Status", "from": "1", "to": "2"}]},
    )
    parsed = parse_history(issue, SITE)
    assert [e.id for e in parsed] == [10, 11, 12]
    assert parsed[0] == HistoryEntry(10, CAROL, AT, ID[S.AWAITING_APPROVAL], ID[S.APPROVED], ())
    assert parsed[1] == HistoryEntry(11, None, "", "1", "2", ())
    [edit] = parsed[2].edits
    assert (edit.field, edit.before, len(edit.after), edit.after[-1]) == (
        F.ROLLBACK_PLAN, "Revert the PR.", 200, "…")


@pytest.mark.parametrize("issue", [{}, {"changelog": []}, {"changelog": {"histories": {}}}])
def test_parse_history_without_a_changelog(issue):
    assert parse_history(issue, SITE) == ()


ENTRIES = (
    HistoryEntry(10, CAROL, AT, ID[S.AWAITING_APPROVAL], ID[S.APPROVED]),
    HistoryEntry(11, ALICE, AT, edits=(FieldChange(F.ROLLBACK_PLAN, "a", "b"),)),
    HistoryEntry(12, BOB, AT, edits=(FieldChange(F.ROLLBACK_PLAN, "b", "c"),
                                     FieldChange(F.RISK_LEVEL, "", "High"))),
    HistoryEntry(13, BOT, AT, ID[S.APPROVED], ID[S.AWAITING_APPROVAL]),
    HistoryEntry(14, BOB, AT, ID[S.AWAITING_APPROVAL], ID[S.APPROVED]),
)


@pytest.mark.parametrize(("issue", "complete"), [
    ({"changelog": {"startAt": 0, "maxResults": 2, "total": 2, "histories": [{}, {}]}}, True),
    ({"changelog": {"startAt": 0, "maxResults": 0, "total": 0, "histories": []}}, True),
    ({"changelog": {"startAt": 0, "maxResults": 40, "total": 41, "histories": [{}] * 40}}, False),
    ({"changelog": {"histories": [{}]}}, False),
    ({"changelog": {"total": 1}}, False),
    ({"changelog": []}, False),
    ({}, False),
], ids=["all", "none-yet", "truncated", "no-total", "no-histories", "not-a-page", "not-expanded"])
def test_changelog_is_complete(issue, complete):
    assert changelog_is_complete(issue) is complete


def test_history_queries():
    assert latest_status_move(ENTRIES) == 14 and latest_status_move(ENTRIES[1:3]) is None
    assert edits_after(ENTRIES, 10) == (FieldChange(F.ROLLBACK_PLAN, "a", "c"),
                                        FieldChange(F.RISK_LEVEL, "", "High"))
    assert edits_after(ENTRIES, 12) == ()
    assert (last_editor(ENTRIES, 10), last_editor(ENTRIES, 12)) == (BOB, None)
    assert approval_moves_between(ENTRIES, 0, 14, SITE) == (ENTRIES[0],)
    assert approval_moves_between(ENTRIES, 10, 15, SITE) == (ENTRIES[4],)


NORMAL = change(status=S.APPROVED)
APPROVAL = StatusMove(10, ID[S.AWAITING_APPROVAL], ID[S.APPROVED], CAROL)
CAROL_CAB = Approval(CAROL, R.CAB, AT)
COMPLETE = ApprovalOutcome(AV.COMPLETE, ApprovalState(revision_of(NORMAL), material_values(NORMAL),
                                                      (CAROL_CAB,)))
EDIT = HistoryEntry(11, ALICE, AT, edits=(FieldChange(F.ROLLBACK_PLAN, "a", "b"),))
THEN_IMPLEMENTING = HistoryEntry(11, ALICE, AT, ID[S.APPROVED], ID[S.IMPLEMENTING])
APPROVED_AT_10 = HistoryEntry(10, CAROL, AT, ID[S.AWAITING_APPROVAL], ID[S.APPROVED])

LATE = [
    ("approval, then an edit before we saw it", change(status=S.APPROVED), (APPROVED_AT_10, EDIT),
     {G.CAB}, MoveDecision(Verdict.REVERT, Reason.APPROVAL_WITHDRAWN,
                           revert_to_status_id=ID[S.AWAITING_APPROVAL], approval=COMPLETE,
                           edits=EDIT.edits, edited_by=ALICE)),
    ("refused approval, then an edit: refused as usual", change(status=S.APPROVED),
     (APPROVED_AT_10, EDIT), {G.TEAM_LEADS}, "refused"),
    ("approval overtaken by a move on", change(status=S.IMPLEMENTING),
     (APPROVED_AT_10, THEN_IMPLEMENTING), {G.CAB},
     MoveDecision(Verdict.RECORD, Reason.APPROVAL_RECORDED, approval=COMPLETE)),
    ("overtaken refused approval", change(status=S.IMPLEMENTING),
     (APPROVED_AT_10, THEN_IMPLEMENTING), set(), MoveDecision(Verdict.IGNORE, Reason.SUPERSEDED)),
    ("overtaken approval of content since edited", change(status=S.IMPLEMENTING),
     (APPROVED_AT_10, EDIT, THEN_IMPLEMENTING.__class__(12, ALICE, AT, ID[S.APPROVED],
                                                        ID[S.IMPLEMENTING])), {G.CAB},
     MoveDecision(Verdict.IGNORE, Reason.SUPERSEDED)),
    ("overtaken approval of an incomplete change", change(status=S.DRAFT, rollback_plan="TBD"),
     (APPROVED_AT_10, HistoryEntry(11, BOT, AT, ID[S.APPROVED], ID[S.DRAFT])), {G.CAB},
     MoveDecision(Verdict.IGNORE, Reason.SUPERSEDED)),
    ("a move overtaken by a later move to the same status",
     change(status=S.DRAFT), (HistoryEntry(9, ALICE, AT, ID[S.AWAITING_APPROVAL], ID[S.DRAFT]),
                              HistoryEntry(12, ALICE, AT, ID[S.AWAITING_APPROVAL], ID[S.DRAFT])),
     set(), "superseded-draft"),
]


@pytest.mark.parametrize("cr, hist, groups, expected", [c[1:] for c in LATE],
                         ids=[c[0] for c in LATE])
def test_late_events(cr, hist, groups, expected):
    move = APPROVAL
    if expected == "superseded-draft":
        move = StatusMove(9, ID[S.AWAITING_APPROVAL], ID[S.DRAFT], ALICE)
        expected = MoveDecision(Verdict.IGNORE, Reason.SUPERSEDED)
    decision = judge_move(move, cr, POLICY, SITE, actor_groups=frozenset(groups), at=AT,
                          history=hist)
    if expected == "refused":
        assert (decision.verdict, decision.reason, decision.approval.verdict) == (
            Verdict.REVERT, Reason.APPROVAL_REFUSED, AV.NOT_AN_APPROVER)
    else:
        assert decision == expected


def test_replay_adds_approvals_whose_events_have_not_arrived():
    cr = change(status=S.IMPLEMENTING)
    replayed = replay_approvals(((APPROVED_AT_10, frozenset({G.CAB})),), cr, POLICY,
                                (APPROVED_AT_10,), ApprovalState())
    assert replayed == ApprovalState(revision_of(cr), material_values(cr), (CAROL_CAB,))
    # ...but not a refused one, one of content since edited, or with no category.
    assert replay_approvals(((APPROVED_AT_10, frozenset()),), cr, POLICY, (APPROVED_AT_10,),
                            ApprovalState()) == ApprovalState()
    assert replay_approvals(((APPROVED_AT_10, frozenset({G.CAB})),), cr, POLICY,
                            (APPROVED_AT_10, EDIT), ApprovalState()) == ApprovalState()
    assert replay_approvals(((APPROVED_AT_10, frozenset({G.CAB})),), change(None), POLICY,
                            (APPROVED_AT_10,), ApprovalState()) == ApprovalState()
