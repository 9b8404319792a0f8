"""The freeze exception: recorded with the approvals, withdrawn with them, never one of them."""

import pytest

from rules.approvals import (Approval, ApprovalOutcome, ApprovalRole as R, ApprovalState,
                             ApprovalVerdict as AV, has_freeze_exception, judge_approval,
                             material_values, revision_of, with_freeze_exception)
from rules.policy import Category
from rules.policy import GroupRole as G
from rules.policy import StatusRole as S

from .builders import change

AT = "2026-11-30T09:00:00+00:00"
CAROL, DANA = "712020:carol", "712020:dana"
CR = change("Normal", status=S.APPROVED)
CAB = Approval(CAROL, R.CAB, AT)
HOE = Approval(DANA, R.HEAD_OF_ENGINEERING, AT)
EXCEPTION = Approval(DANA, R.FREEZE_EXCEPTION, AT)


def now(*approvals):
    return ApprovalState(revision_of(CR), material_values(CR), approvals)


def before_an_edit(*approvals):
    return ApprovalState("0123456789abcdef", material_values(CR), approvals)


@pytest.mark.parametrize("state, expected", [
    (ApprovalState(), False),
    (now(CAB), False),
    (now(CAB, EXCEPTION), True),
    (before_an_edit(CAB, EXCEPTION), False),
], ids=["nothing", "approvals only", "standing", "withdrawn by an edit"])
def test_has_freeze_exception(state, expected):
    assert has_freeze_exception(state, CR) is expected


@pytest.mark.parametrize("state, expected", [
    (now(CAB), now(CAB, EXCEPTION)),
    (now(CAB, EXCEPTION), now(CAB, EXCEPTION)),
    (now(CAB, Approval(CAROL, R.FREEZE_EXCEPTION, "earlier")),
     now(CAB, Approval(CAROL, R.FREEZE_EXCEPTION, "earlier"))),
], ids=["given", "given once only", "the first one stands"])
def test_with_freeze_exception(state, expected):
    assert with_freeze_exception(state, CR, DANA, AT) == expected


@pytest.mark.parametrize("recorded, actor, groups, expected", [
    (now(EXCEPTION), CAROL, {G.CAB}, ApprovalOutcome(AV.COMPLETE, now(CAB, EXCEPTION))),
    # The exception is not an approval of the change: its giver may still approve it.
    (now(EXCEPTION), DANA, {G.HEAD_OF_ENGINEERING},
     ApprovalOutcome(AV.COMPLETE, now(HOE, EXCEPTION))),
    (now(CAB, EXCEPTION), DANA, {G.HEAD_OF_ENGINEERING},
     ApprovalOutcome(AV.COMPLETE, now(CAB, EXCEPTION))),
    (before_an_edit(CAB, EXCEPTION), DANA, {G.HEAD_OF_ENGINEERING},
     ApprovalOutcome(AV.COMPLETE, now(HOE))),
], ids=["the CAB approves after the exception", "its giver approves too",
        "already approved: the exception stays", "an edit withdrew both"])
def test_an_exception_is_kept_but_not_counted(recorded, actor, groups, expected):
    assert judge_approval(CR, Category.NORMAL, actor, frozenset(groups), recorded,
                          at=AT) == expected
