"""Plans: typed steps in order, stored as JSON between tries, read back exactly or refused."""

import json

import pytest

from rules.plan import (AddComment, AddLabel, FollowUp, Plan, Revert, SlackAlert, UnreadablePlan,
                        WriteRecord, plan_from_json)

BODY = {"type": "doc", "version": 1, "content": []}
RECORD = {"approvals": {"revision": None, "values": {}, "approvals": []}, "audit": []}
PLAN = Plan(
    {"verdict": "revert", "reason": "gate_failed", "reverted": True},
    (Revert("31", "10001", RECORD), AddComment(BODY)),
    fallback=(AddLabel("changeguard-violation"), SlackAlert("#deployments", "CHG-7 flagged"),
              AddComment(BODY), WriteRecord(RECORD)),
)
FOLLOW_UP = FollowUp("jobs.deployment_notices.announce_deployment", "notice-CHG-7-20",
                     {"issue_key": "CHG-7", "changelog_id": "20", "to_status_id": "10004"})


def test_the_json_form_names_each_step_by_kind():
    assert PLAN.step_taken().to_json() == {
        "summary": {"verdict": "revert", "reason": "gate_failed", "reverted": True},
        "steps": [{"kind": "revert", "transition_id": "31", "to_status_id": "10001",
                   "record": RECORD},
                  {"kind": "comment", "body": BODY}],
        "fallback": [{"kind": "label", "label": "changeguard-violation"},
                     {"kind": "alert", "channel": "#deployments", "text": "CHG-7 flagged"},
                     {"kind": "comment", "body": BODY}, {"kind": "record", "value": RECORD}],
        "done": 1,
    }


@pytest.mark.parametrize("plan", [
    PLAN, PLAN.step_taken(), PLAN.falling_back(), Plan({}, (WriteRecord(RECORD), FOLLOW_UP), done=2),
], ids=["new", "one-step-taken", "fallen-back", "all-taken"])
def test_a_stored_plan_reads_back_as_it_was(plan):
    assert plan_from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_steps_are_taken_in_order_and_a_refused_revert_falls_back():
    assert [PLAN.next_step, PLAN.step_taken().next_step, PLAN.step_taken().step_taken().next_step
            ] == [Revert("31", "10001", RECORD), AddComment(BODY), None]
    fallen = PLAN.falling_back()
    assert fallen == Plan({"verdict": "revert", "reason": "gate_failed", "reverted": False},
                          PLAN.fallback)
    # Steps taken before the refused one stay taken.
    assert Plan({}, (AddComment(BODY), Revert("31", "10001", RECORD)), (AddLabel("x"),),
                done=1).falling_back() == Plan({"reverted": False},
                                               (AddComment(BODY), AddLabel("x")), done=1)


STORED = PLAN.to_json()
UNREADABLE = [
    ("not an object", [], "TypeError"),
    ("no steps", {k: v for k, v in STORED.items() if k != "steps"}, "KeyError('steps')"),
    ("an unknown kind", {**STORED, "steps": [{"kind": "page_someone"}]}, "KeyError('page_someone')"),
    ("a step without its kind", {**STORED, "steps": [{"label": "x"}]}, "KeyError('kind')"),
    ("a field too many", {**STORED, "steps": [{"kind": "label", "label": "x", "colour": "red"}]},
     "TypeError"),
    ("a step that is not an object", {**STORED, "steps": ["label"]}, "ValueError"),
    ("a job nobody knows", {**STORED, "steps": [{"kind": "follow_up", "func": "jobs.x.y",
                                                 "job_id": "x", "kwargs": {}}]},
     "ValueError(\"'jobs.x.y' is not a valid JobName\")"),
    ("done as a list (an older version)", {**STORED, "done": [0]}, "ValueError('done=[0]')"),
    ("done past the end", {**STORED, "done": 3}, "ValueError('done=3')"),
    ("done negative", {**STORED, "done": -1}, "ValueError('done=-1')"),
    ("done as a flag", {**STORED, "done": True}, "ValueError('done=True')"),
]


@pytest.mark.parametrize("value, error", [u[1:] for u in UNREADABLE], ids=[u[0] for u in UNREADABLE])
def test_anything_else_is_refused_with_the_reason(value, error):
    with pytest.raises(UnreadablePlan) as raised:
        plan_from_json(value)
    assert str(raised.value).startswith(f"stored plan not readable: {error}")
