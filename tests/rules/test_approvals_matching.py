"""Approval roles are a matching over the standing approvals: no order of approvals deadlocks."""

from __future__ import annotations

from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.adf import adf_to_text
from rules.approvals import (Approval, ApprovalRole as R, ApprovalState, ApprovalVerdict as AV,
                             assign_roles, judge_approval, material_values, parse_approval_state,
                             revision_of)
from rules.move_comments import MoveContext, comment_for_move
from rules.policy import Category as C
from rules.policy import GroupRole as G
from rules.policy import StatusRole as S
from rules.status_move import StatusMove, judge_move
from worker.policy_file import load_policy

from .builders import SITE, STATUS_IDS, change

POLICY = load_policy()
AT = "2026-11-24T10:00:00+00:00"
ALICE, BOB, CAROL, DANA, ERIN, HANK = (f"712020:{n}" for n in
                                       ("alice", "bob", "carol", "dana", "erin", "hank"))
GROUPS = {
    ALICE: frozenset({G.HEAD_OF_ENGINEERING, G.INCIDENT_COMMANDERS}),  # the reporter
    BOB: frozenset({G.TEAM_LEADS}),
    CAROL: frozenset({G.CAB}),
    DANA: frozenset({G.HEAD_OF_ENGINEERING}),
    ERIN: frozenset({G.INCIDENT_COMMANDERS}),
    HANK: frozenset({G.HEAD_OF_ENGINEERING, G.INCIDENT_COMMANDERS}),
}
CHANGES = {category: change(category.name.title(), template="Copy update", commander=HANK)
           for category in C}
HOE = frozenset({R.HEAD_OF_ENGINEERING})
IC = frozenset({R.INCIDENT_COMMANDER})


def roles(state):
    return [(a.account_id, a.role) for a in state.approvals]


def approve_in_turn(cr, category, approvers, state=ApprovalState(), groups=GROUPS):
    """Judge each approver's move to Approved in turn, recording what each outcome records."""
    outcomes = []
    for actor in approvers:
        outcomes.append(judge_approval(cr, category, actor, groups[actor], state, at=AT))
        state = outcomes[-1].state
    return outcomes


def test_named_ic_in_head_of_engineering_approving_first_does_not_deadlock():
    first, second = approve_in_turn(CHANGES[C.EMERGENCY], C.EMERGENCY, [HANK, DANA])
    assert first.verdict is AV.RECORDED
    assert (second.verdict, second.missing) == (AV.COMPLETE, ())
    assert roles(second.state) == [(HANK, R.INCIDENT_COMMANDER), (DANA, R.HEAD_OF_ENGINEERING)]


# (id, category, named IC, approvers in order, verdicts, roles recorded at the end, still missing)
ORDERS = [
    ("the named IC, also Head of Engineering, first", C.EMERGENCY, HANK, [HANK, DANA],
     [AV.RECORDED, AV.COMPLETE], [(HANK, R.INCIDENT_COMMANDER), (DANA, R.HEAD_OF_ENGINEERING)], ()),
    ("the Head of Engineering first", C.EMERGENCY, HANK, [DANA, HANK],
     [AV.RECORDED, AV.COMPLETE], [(DANA, R.HEAD_OF_ENGINEERING), (HANK, R.INCIDENT_COMMANDER)], ()),
    ("a Head of Engineering who is an IC, but not the named one", C.EMERGENCY, ERIN, [HANK, ERIN],
     [AV.RECORDED, AV.COMPLETE], [(HANK, R.HEAD_OF_ENGINEERING), (ERIN, R.INCIDENT_COMMANDER)], ()),
    ("the named IC, also Head of Engineering, alone twice", C.EMERGENCY, HANK, [HANK, HANK],
     [AV.RECORDED, AV.SAME_PERSON], [(HANK, R.INCIDENT_COMMANDER)], (HOE,)),
    ("an IC who is not the named one adds nothing", C.EMERGENCY, HANK, [HANK, ERIN, DANA],
     [AV.RECORDED, AV.NOT_THE_NAMED_IC, AV.COMPLETE],
     [(HANK, R.INCIDENT_COMMANDER), (DANA, R.HEAD_OF_ENGINEERING)], ()),
    ("two Heads of Engineering and no named IC", C.EMERGENCY, ERIN, [DANA, HANK, CAROL],
     [AV.RECORDED, AV.ROLE_ALREADY_FILLED, AV.NOT_AN_APPROVER],
     [(DANA, R.HEAD_OF_ENGINEERING)], (IC,)),
    ("the reporter is the named IC: never complete", C.EMERGENCY, ALICE, [HANK, ALICE, DANA],
     [AV.RECORDED, AV.SELF_APPROVAL, AV.ROLE_ALREADY_FILLED],
     [(HANK, R.HEAD_OF_ENGINEERING)], (IC,)),
    ("complete, then another approver changes nothing", C.EMERGENCY, HANK, [DANA, HANK, ERIN],
     [AV.RECORDED, AV.COMPLETE, AV.NOT_THE_NAMED_IC],
     [(DANA, R.HEAD_OF_ENGINEERING), (HANK, R.INCIDENT_COMMANDER)], ()),
    ("Normal: a second approver adds nothing", C.NORMAL, HANK, [CAROL, DANA],
     [AV.COMPLETE, AV.COMPLETE], [(CAROL, R.CAB)], ()),
    ("Standard: the Head of Engineering first", C.STANDARD, HANK, [HANK, BOB],
     [AV.COMPLETE, AV.COMPLETE], [(HANK, R.HEAD_OF_ENGINEERING)], ()),
]


@pytest.mark.parametrize("category, commander, approvers, verdicts, recorded, missing",
                         [o[1:] for o in ORDERS], ids=[o[0] for o in ORDERS])
def test_approvals_in_a_given_order(category, commander, approvers, verdicts, recorded, missing):
    cr = change(category.name.title(), commander=commander)
    outcomes = approve_in_turn(cr, category, approvers)
    assert [o.verdict for o in outcomes] == verdicts
    assert (roles(outcomes[-1].state), outcomes[-1].missing) == (recorded, tuple(missing))


def record(cr, *approvals):
    """The approvals as stored on the issue property, read back."""
    return parse_approval_state(ApprovalState(revision_of(cr), material_values(cr),
                                              approvals).to_json())


HANK_AS_HOE = Approval(HANK, R.HEAD_OF_ENGINEERING, AT, IC)  # could also be the IC

# (id, named IC now, recorded, next approver, verdict, roles recorded after it)
RECORDED = [
    ("an earlier approver moves to the other role they can fill", HANK, [HANK_AS_HOE], DANA,
     AV.COMPLETE, [(HANK, R.INCIDENT_COMMANDER), (DANA, R.HEAD_OF_ENGINEERING)]),
    ("but not into the IC role once someone else is named", ERIN, [HANK_AS_HOE], DANA,
     AV.ROLE_ALREADY_FILLED, [(HANK, R.HEAD_OF_ENGINEERING)]),
    ("a record from before roles were re-assignable cannot move", HANK,
     [Approval(HANK, R.HEAD_OF_ENGINEERING, AT)], DANA,
     AV.ROLE_ALREADY_FILLED, [(HANK, R.HEAD_OF_ENGINEERING)]),
    ("the named IC changed: the earlier IC moves to Head of Engineering", ERIN,
     [Approval(HANK, R.INCIDENT_COMMANDER, AT, HOE)], ERIN,
     AV.COMPLETE, [(HANK, R.HEAD_OF_ENGINEERING), (ERIN, R.INCIDENT_COMMANDER)]),
    ("a damaged record's extra approval is kept as it was", ERIN,
     [Approval(DANA, R.HEAD_OF_ENGINEERING, AT), Approval(HANK, R.HEAD_OF_ENGINEERING, AT)], ERIN,
     AV.COMPLETE, [(DANA, R.HEAD_OF_ENGINEERING), (HANK, R.HEAD_OF_ENGINEERING),
                   (ERIN, R.INCIDENT_COMMANDER)]),
]


@pytest.mark.parametrize("commander, recorded, actor, verdict, expected",
                         [r[1:] for r in RECORDED], ids=[r[0] for r in RECORDED])
def test_a_new_approval_against_recorded_roles(commander, recorded, actor, verdict, expected):
    cr = change("Emergency", commander=commander)
    outcome = judge_approval(cr, C.EMERGENCY, actor, GROUPS[actor], record(cr, *recorded), at=AT)
    assert (outcome.verdict, roles(outcome.state)) == (verdict, expected)


def test_every_role_an_approver_could_fill_is_stored_only_when_there_are_several():
    [first] = approve_in_turn(CHANGES[C.EMERGENCY], C.EMERGENCY, [HANK])
    [hank] = first.state.to_json()["approvals"]
    assert hank == {"accountId": HANK, "role": "incident_commander", "at": AT,
                    "roles": ["head_of_engineering", "incident_commander"]}
    [second] = approve_in_turn(CHANGES[C.EMERGENCY], C.EMERGENCY, [DANA])
    assert second.state.to_json()["approvals"] == [
        {"accountId": DANA, "role": "head_of_engineering", "at": AT}]
    assert parse_approval_state(first.state.to_json()) == first.state


@pytest.mark.parametrize("stored, also", [
    (None, frozenset()), ("head_of_engineering", frozenset()), ([{"x": 1}, "king"], frozenset()),
    (["incident_commander", "head_of_engineering", "cab"], frozenset({R.CAB, R.HEAD_OF_ENGINEERING})),
])
def test_stored_roles_are_read_leniently(stored, also):
    item = {"accountId": HANK, "role": "incident_commander", "at": AT, "roles": stored}
    [approval] = parse_approval_state({"approvals": [item]}).approvals
    assert approval == Approval(HANK, R.INCIDENT_COMMANDER, AT, also)


def test_the_comment_to_the_named_ic_who_approves_first_asks_for_the_head_of_engineering():
    cr = change("Emergency", commander=HANK, status=S.APPROVED)
    move = StatusMove(20, STATUS_IDS[S.AWAITING_APPROVAL], STATUS_IDS[S.APPROVED], HANK)
    decision = judge_move(move, cr, POLICY, SITE, actor_groups=GROUPS[HANK], at=AT)
    ctx = MoveContext(actor=HANK, from_status="Awaiting Approval", to_status="Approved",
                      category=C.EMERGENCY, incident_commander=HANK, reverted=True)
    assert adf_to_text(comment_for_move(decision, ctx, POLICY)).splitlines()[0] == (
        "Approval recorded: the Incident Commander named on the change approved; the Head of "
        "Engineering still has to")


# --- Every order of two and three approvers -------------------------------------------------

NEEDS = {C.STANDARD: [{R.TEAM_LEAD, R.HEAD_OF_ENGINEERING}],
         C.NORMAL: [{R.CAB, R.HEAD_OF_ENGINEERING}],
         C.EMERGENCY: [{R.HEAD_OF_ENGINEERING}, {R.INCIDENT_COMMANDER}]}


def allowed(person, category, commander, groups):
    """The roles the policy lets ``person`` approve in, worked out afresh from the policy page."""
    if person == ALICE:  # nobody approves a change they reported
        return set()
    given = {R.HEAD_OF_ENGINEERING} if G.HEAD_OF_ENGINEERING in groups[person] else set()
    if category is C.STANDARD and G.TEAM_LEADS in groups[person]:
        given.add(R.TEAM_LEAD)
    if category is C.NORMAL and G.CAB in groups[person]:
        given.add(R.CAB)
    if category is C.EMERGENCY and G.INCIDENT_COMMANDERS in groups[person] and person == commander:
        given.add(R.INCIDENT_COMMANDER)
    return given


def most_roles(people, category, commander, groups):
    """How many role sets distinct people among ``people`` can fill at most (brute force)."""
    needs = NEEDS[category]
    best = 0
    for size in range(1, len(needs) + 1):
        for chosen in permutations(range(len(needs)), size):
            for who in permutations(people, size):
                if all(allowed(p, category, commander, groups) & needs[n]
                       for p, n in zip(who, chosen)):
                    best = max(best, size)
    return best


def filled(state, category):
    return sum(1 for need in NEEDS[category] if any(a.role in need for a in state.approvals))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(category=st.sampled_from(C), commander=st.sampled_from([ERIN, HANK, ALICE, DANA]),
       ic_also_heads_engineering=st.booleans(),
       people=st.lists(st.sampled_from(sorted(GROUPS)), min_size=2, max_size=3, unique=True))
def test_every_order_of_approvers(category, commander, ic_also_heads_engineering, people):
    groups = dict(GROUPS)
    if ic_also_heads_engineering:
        groups[ERIN] = groups[ERIN] | {G.HEAD_OF_ENGINEERING}
    cr = change(category.name.title(), commander=commander)
    complete = most_roles(people, category, commander, groups) == len(NEEDS[category])
    for order in permutations(people):
        state = ApprovalState()
        for count, outcome in enumerate(approve_in_turn(cr, category, order, groups=groups), 1):
            before, state = state, outcome.state
            # As many roles as any matching of the approvers so far could fill.
            assert filled(state, category) == most_roles(order[:count], category, commander, groups)
            # A recorded approval stays recorded, and in its place.
            assert [a.account_id for a in state.approvals[:len(before.approvals)]] == [
                a.account_id for a in before.approvals]
        assert (filled(state, category) == len(NEEDS[category])) is complete
        assert (outcome.missing == ()) is complete
        people_in_roles = [a.account_id for a in state.approvals]
        assert len(set(people_in_roles)) == len(people_in_roles)
        assert len({a.role for a in state.approvals}) == len(state.approvals)
        assert all(a.role in allowed(a.account_id, category, commander, groups)
                   for a in state.approvals)
        # The roles recorded step by step are the ones a matching of the whole record gives.
        assert assign_roles(category, state.approvals, cr) == {
            i: a.role for i, a in enumerate(state.approvals)}
