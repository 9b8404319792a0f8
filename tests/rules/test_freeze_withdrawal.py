"""One change caught by a new freeze: withdrawn once, back to Awaiting Approval, one comment."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from rules.adf import adf_to_text
from rules.approvals import ApprovalRole
from rules.freeze import Freeze
from rules.freeze_withdrawal import (Outcome, Withdrawal, WithdrawalFacts, detail_of,
                                     judge_withdrawal, withdrawal_plan, withdrawn_in)
from rules.issue_record import AuditEntry, IssueRecord
from rules.job_names import JobName
from rules.plan import AddComment, AddLabel, FollowUp, Revert, WriteRecord
from rules.policy import FreezeKind, StatusRole

from .builders import SITE, STATUS_IDS, approved, change
from .test_freeze_declaration import CALENDAR, DANA, POLICY

UTC = timezone.utc
HARD = Freeze("Quarter close", FreezeKind.HARD, datetime(2026, 11, 30, tzinfo=UTC),
              datetime(2026, 12, 2, 8, tzinfo=UTC), "Auditors are on site.", "CHG-50")
SOFT = dataclasses.replace(HARD, kind=FreezeKind.SOFT)
AT = "2026-11-20T09:00:00+00:00"
APPROVED = change(status=StatusRole.APPROVED)  # Normal, window Tue 1 Dec 2026 10:00–11:00 UTC


def record_with(*roles: ApprovalRole, cr=APPROVED, audit=()) -> IssueRecord:
    return IssueRecord(approved(cr, *roles), tuple(audit))


def withdrawn_entry(freeze=HARD, check=1, decision="approval withdrawn"):
    return AuditEntry(AT, decision, "freeze", DANA, "Approved", "Awaiting Approval", None,
                      detail_of(freeze, check)).to_json()


CAB = record_with(ApprovalRole.CAB)
EXCEPTED = record_with(ApprovalRole.CAB, ApprovalRole.FREEZE_EXCEPTION)
EMERGENCY = change("Emergency", status=StatusRole.APPROVED)

# id, change, its record, freeze, check, outcome
JUDGED = [
    ("hard-catches-normal", APPROVED, CAB, HARD, 1, Outcome.WITHDRAW),
    ("soft-catches-normal", APPROVED, CAB, SOFT, 1, Outcome.WITHDRAW),
    ("hard-ignores-the-exception", APPROVED, EXCEPTED, HARD, 1, Outcome.WITHDRAW),
    ("soft-exception-stays", APPROVED, EXCEPTED, SOFT, 1, Outcome.ALLOWED),
    ("emergency-stays", EMERGENCY, record_with(cr=EMERGENCY), HARD, 1, Outcome.ALLOWED),
    ("moved-on", dataclasses.replace(APPROVED, status_id=STATUS_IDS[StatusRole.IMPLEMENTING]),
     CAB, HARD, 1, Outcome.NOT_APPROVED),
    ("rescheduled-out-of-it", change(status=StatusRole.APPROVED,
                                     start=datetime(2026, 12, 2, 8, tzinfo=UTC),
                                     end=datetime(2026, 12, 2, 9, tzinfo=UTC)),
     CAB, HARD, 1, Outcome.ALLOWED),
    ("no-window", change("Emergency", status=StatusRole.APPROVED, start=None, end=None),
     CAB, HARD, 1, Outcome.ALLOWED),
    ("this-check-done", APPROVED, record_with(ApprovalRole.CAB, audit=[withdrawn_entry()]),
     HARD, 1, Outcome.ALREADY_WITHDRAWN),
    ("flagged-by-this-check", APPROVED,
     record_with(ApprovalRole.CAB, audit=[withdrawn_entry(decision="flagged")]),
     HARD, 1, Outcome.ALREADY_WITHDRAWN),
    ("an-earlier-check-done", APPROVED,
     record_with(ApprovalRole.CAB, audit=[withdrawn_entry(check=1)]), HARD, 2, Outcome.WITHDRAW),
    ("another-freeze-done", APPROVED,
     record_with(ApprovalRole.CAB, audit=[withdrawn_entry(dataclasses.replace(HARD,
                                                                             source="CHG-51"))]),
     HARD, 1, Outcome.WITHDRAW),
]


@pytest.mark.parametrize(("cr", "record", "freeze", "check", "outcome"),
                         [j[1:] for j in JUDGED], ids=[j[0] for j in JUDGED])
def test_judge_withdrawal(cr, record, freeze, check, outcome):
    judged = judge_withdrawal(cr, record, freeze, check, policy=POLICY, site=SITE,
                              calendar=CALENDAR)
    assert judged.outcome is outcome
    assert (judged.verdict is not None) is (outcome is Outcome.WITHDRAW)


def test_withdrawn_in_reads_only_freeze_entries():
    other = AuditEntry(AT, "approved", "approved", DANA, "Awaiting Approval", "Approved", 7,
                       detail_of(HARD, 1)).to_json()
    assert withdrawn_in(IssueRecord(audit=(other,)), HARD, 1) is False


def facts(record=CAB, freeze=HARD, transition="21", waiting=False) -> WithdrawalFacts:
    return WithdrawalFacts(change=APPROVED, record=record, freeze=freeze, check=1, actor=DANA,
                           at=AT, transition_id=transition, deployments_waiting=waiting)


def judged(freeze=HARD) -> Withdrawal:
    return judge_withdrawal(APPROVED, CAB, freeze, 1, policy=POLICY, site=SITE, calendar=CALENDAR)


ALICE = "@712020:alice"
HARD_COMMENT = (
    "Approval withdrawn: a change freeze now covers this change's window\n"
    f"{ALICE}, CHG-7's planned window overlaps the hard freeze CHG-50 \"Quarter close\", which "
    "lets only Emergency changes through until Wed 2 Dec 2026 08:00 (Europe/London): move its "
    "Planned Start to that time or later. changeguard moved it back to Awaiting Approval; the "
    "approvals it had are kept on the change.\n"
    "Next: moving Planned Start to that time changes what was approved, so the change then "
    "needs its approval again.")
SOFT_COMMENT = (
    "Approval withdrawn: a change freeze now covers this change's window\n"
    f"{ALICE}, CHG-7's planned window overlaps the soft freeze CHG-50 \"Quarter close\" until "
    "Wed 2 Dec 2026 08:00 (Europe/London): move its Planned Start to that time or later, or ask "
    "someone in head-of-engineering for a freeze exception. changeguard moved it back to "
    "Awaiting Approval; the approvals it had are kept on the change.\n"
    "Next: someone in head-of-engineering gives the freeze exception by moving this change to "
    "Approved; the approvals it had still count, so it needs no other. Moving Planned Start "
    "instead changes what was approved, so the change then needs its approval again.")


def entry(decision="approval withdrawn", to_status="Awaiting Approval", freeze=HARD) -> AuditEntry:
    return AuditEntry(AT, decision, "freeze", DANA, "Approved", to_status, None,
                      detail_of(freeze, 1))


@pytest.mark.parametrize(("freeze", "comment"), [(HARD, HARD_COMMENT), (SOFT, SOFT_COMMENT)],
                         ids=["hard", "soft"])
def test_moved_back_with_the_record_on_the_same_call_then_one_comment(freeze, comment):
    plan = withdrawal_plan(judged(freeze), facts(freeze=freeze), policy=POLICY, site=SITE)
    revert, note = plan.steps
    # The approvals stay recorded: the move back withdraws the approval from the workflow.
    assert revert == Revert("21", "10002", CAB.with_entry(entry(freeze=freeze)))
    assert revert.record["approvals"] == CAB.approvals.to_json()
    assert isinstance(note, AddComment) and adf_to_text(note.body) == comment
    assert plan.summary == {"outcome": "withdraw", "freeze": "CHG-50", "reverted": True}
    label, flag_note, record = plan.fallback
    assert (label, record) == (AddLabel("changeguard-violation"), WriteRecord(CAB.with_entry(
        entry("flagged", "Approved", freeze=freeze))))
    assert "could not move it back to Awaiting Approval" in adf_to_text(flag_note.body)


def test_without_a_way_back_the_change_is_flagged_and_waiting_deployments_judged_again():
    plan = withdrawal_plan(judged(), facts(transition=None, waiting=True), policy=POLICY,
                           site=SITE)
    label, note, record, release = plan.steps
    assert (label, record, release) == (
        AddLabel("changeguard-violation"), WriteRecord(CAB.with_entry(entry("flagged", "Approved"))),
        FollowUp(JobName.RELEASE_WAITING, "release-CHG-7-freeze-CHG-50-1",
                 {"issue_key": "CHG-7"}))
    assert adf_to_text(note.body).split("\n")[1].endswith(
        "changeguard could not move it back to Awaiting Approval: the workflow offers no way "
        "back from Approved, so it is labelled changeguard-violation. Do not start it before "
        "the freeze ends.")
    assert (plan.fallback, plan.summary["reverted"]) == ((), False)


def test_a_change_without_reporter_is_not_mentioned():
    anonymous = dataclasses.replace(facts(), change=dataclasses.replace(APPROVED,
                                                                        reporter_account_id=None))
    note = withdrawal_plan(judged(), anonymous, policy=POLICY, site=SITE).steps[1]
    assert adf_to_text(note.body).split("\n")[1].startswith("CHG-7's planned window")
