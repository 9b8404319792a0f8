"""The deployment gate in change freezes: deny inside, wait for the end, let exceptions through."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from jobs.periodic import cab_calendar
from rules.approvals import ApprovalRole, ApprovalState
from rules.cab_schedule import next_meeting
from rules.deploy_gate import GateDecision, GateVerdict, decide_deploy
from rules.freeze import Freeze
from rules.policy import FreezeKind, StatusRole
from worker.policy_file import load_policy

from .builders import SITE, approved, change, with_status

POLICY = load_policy()
CAL = cab_calendar(POLICY)
ALLOW, WAIT, DENY = GateVerdict.ALLOW, GateVerdict.WAIT, GateVerdict.DENY
CAB, TEAM_LEAD = ApprovalRole.CAB, ApprovalRole.TEAM_LEAD
HEAD, IC = ApprovalRole.HEAD_OF_ENGINEERING, ApprovalRole.INCIDENT_COMMANDER
EXCEPTION = ApprovalRole.FREEZE_EXCEPTION


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def hard(start: datetime, end: datetime, name: str = "Launch", key: str = "CHG-90") -> Freeze:
    return Freeze(name, FreezeKind.HARD, start, end, "Launch week", key)


def soft(start: datetime, end: datetime, name: str = "Audit", key: str = "CHG-91") -> Freeze:
    return Freeze(name, FreezeKind.SOFT, start, end, "Auditors on site", key)


# The builder's window: Tue 1 Dec 2026 10:00-11:00 UTC (GMT: the same in London).
START, END = utc(2026, 12, 1, 10), utc(2026, 12, 1, 11)
BEFORE, DURING = utc(2026, 11, 30, 9), utc(2026, 12, 1, 10, 30)

NORMAL = change("Normal", status=StatusRole.APPROVED)
STANDARD = change("Standard", status=StatusRole.APPROVED, template="Copy update")
EMERGENCY = change("Emergency", status=StatusRole.APPROVED, commander="712020:ic")
EMERGENCY_NO_WINDOW = change("Emergency", status=StatusRole.APPROVED, commander="712020:ic",
                             start=None, end=None)

WHOLE_WINDOW = hard(utc(2026, 12, 1, 9), utc(2026, 12, 1, 12))
UNTIL_HALF_PAST = hard(utc(2026, 12, 1, 9), utc(2026, 12, 1, 10, 30))
MID_WINDOW = hard(utc(2026, 12, 1, 10, 15), utc(2026, 12, 1, 10, 45))
SOFT_WHOLE = soft(utc(2026, 12, 1, 8), utc(2026, 12, 1, 13))
SOFT_UNTIL_HALF_PAST = soft(utc(2026, 12, 1, 8), utc(2026, 12, 1, 10, 30))
AFTER_WINDOW = hard(END, utc(2026, 12, 2))

ALLOWED = ("CHG-7 is Approved with its approvals standing and its change window open until "
           "Tue 1 Dec 2026 11:00 (Europe/London): deploying to production is allowed.")
HARD_DENIED = ('CHG-7\'s planned window overlaps the hard freeze CHG-90 "Launch", which lets only '
               "Emergency changes through until Tue 1 Dec 2026 12:00 (Europe/London): move its "
               "Planned Start to that time or later.")
SOFT_DENIED = ('CHG-7\'s planned window overlaps the soft freeze CHG-91 "Audit" until Tue 1 Dec '
               "2026 13:00 (Europe/London): move its Planned Start to that time or later, or ask "
               "someone in head-of-engineering for a freeze exception.")


SOONER = (" Someone in head-of-engineering can let it go sooner: move it back to Awaiting "
          "Approval and approve it there, which gives it a freeze exception.")


def waits(kind: str, freeze: str, until: datetime, now: datetime) -> GateDecision:
    at = f"{until.day} Dec 2026 {until:%H:%M}"
    return GateDecision(
        WAIT, f"CHG-7 is approved, but the {kind} freeze {freeze} holds it until Tue {at} "
        "(Europe/London): the deployment waits until then, inside its change window (open until "
        f"Tue 1 Dec 2026 11:00 (Europe/London)).{SOONER if kind == 'soft' else ''}", "CHG-7",
        -((now - until) // timedelta(seconds=1)), until)


# id, change, approvals, now, freezes, expected decision
CASES = [
    ("no-freeze", NORMAL, approved(NORMAL, CAB), DURING, (), GateDecision(ALLOW, ALLOWED, "CHG-7")),
    ("freeze-after-the-window", NORMAL, approved(NORMAL, CAB), DURING, (AFTER_WINDOW,),
     GateDecision(ALLOW, ALLOWED, "CHG-7")),
    ("hard-freeze-over-the-whole-window-denies", NORMAL, approved(NORMAL, CAB), DURING,
     (WHOLE_WINDOW,), GateDecision(DENY, HARD_DENIED, "CHG-7")),
    ("denied-at-once-before-the-window-too", NORMAL, approved(NORMAL, CAB), BEFORE,
     (WHOLE_WINDOW,), GateDecision(DENY, HARD_DENIED, "CHG-7")),
    ("implementing-is-denied-too", with_status(NORMAL, StatusRole.IMPLEMENTING),
     approved(NORMAL, CAB), DURING, (WHOLE_WINDOW,), GateDecision(DENY, HARD_DENIED, "CHG-7")),
    ("window-goes-on-after-the-freeze-waits", NORMAL, approved(NORMAL, CAB), START,
     (UNTIL_HALF_PAST,), waits("hard", 'CHG-90 "Launch"', utc(2026, 12, 1, 10, 30), START)),
    ("before-the-window-waits-for-the-freeze-not-the-window", NORMAL, approved(NORMAL, CAB),
     BEFORE, (UNTIL_HALF_PAST,),
     waits("hard", 'CHG-90 "Launch"', utc(2026, 12, 1, 10, 30), BEFORE)),
    ("freeze-inside-the-window-waits-for-its-end", NORMAL, approved(NORMAL, CAB), START,
     (MID_WINDOW,), waits("hard", 'CHG-90 "Launch"', utc(2026, 12, 1, 10, 45), START)),
    ("decided-again-when-the-freeze-has-ended", NORMAL, approved(NORMAL, CAB),
     utc(2026, 12, 1, 10, 30), (UNTIL_HALF_PAST,), GateDecision(ALLOW, ALLOWED, "CHG-7")),
    ("soft-freeze-without-exception-denies", NORMAL, approved(NORMAL, CAB), DURING,
     (SOFT_WHOLE,), GateDecision(DENY, SOFT_DENIED, "CHG-7")),
    ("soft-freeze-without-exception-waits-for-its-end", NORMAL, approved(NORMAL, CAB), START,
     (SOFT_UNTIL_HALF_PAST,), waits("soft", 'CHG-91 "Audit"', utc(2026, 12, 1, 10, 30), START)),
    ("soft-then-hard-waits-for-the-soft-without-the-way-sooner", NORMAL, approved(NORMAL, CAB),
     START, (hard(utc(2026, 12, 1, 9), utc(2026, 12, 1, 10, 10)),
             soft(utc(2026, 12, 1, 9), utc(2026, 12, 1, 10, 20))), dataclasses.replace(
         waits("soft", 'CHG-91 "Audit"', utc(2026, 12, 1, 10, 20), START),
         reason=waits("soft", 'CHG-91 "Audit"', utc(2026, 12, 1, 10, 20), START).reason
         .removesuffix(SOONER))),
    ("soft-freeze-with-exception-allowed", NORMAL, approved(NORMAL, CAB, EXCEPTION), DURING,
     (SOFT_WHOLE,), GateDecision(ALLOW, (
         f"{ALLOWED} CHG-7 may go ahead during the soft freeze CHG-91 \"Audit\", which lasts until "
         "Tue 1 Dec 2026 13:00 (Europe/London): it has a freeze exception from "
         "head-of-engineering."), "CHG-7")),
    ("standard-with-exception-allowed", STANDARD, approved(STANDARD, TEAM_LEAD, EXCEPTION),
     DURING, (SOFT_WHOLE,), GateDecision(ALLOW, (
         f"{ALLOWED} CHG-7 may go ahead during the soft freeze CHG-91 \"Audit\", which lasts until "
         "Tue 1 Dec 2026 13:00 (Europe/London): it has a freeze exception from "
         "head-of-engineering."), "CHG-7")),
    ("exception-does-not-lift-a-hard-freeze", NORMAL, approved(NORMAL, CAB, EXCEPTION), DURING,
     (SOFT_WHOLE, WHOLE_WINDOW), GateDecision(DENY, HARD_DENIED, "CHG-7")),
    ("emergency-allowed-in-a-hard-freeze", EMERGENCY, approved(EMERGENCY, HEAD, IC), DURING,
     (WHOLE_WINDOW,), GateDecision(ALLOW, (
         "CHG-7 is an Emergency change, Approved with its approvals standing: deploying to "
         "production is allowed. CHG-7 is an Emergency change, so it may go ahead during the hard "
         'freeze CHG-90 "Launch", which lasts until Tue 1 Dec 2026 12:00 (Europe/London).'), "CHG-7")),
    ("emergency-without-a-window", EMERGENCY_NO_WINDOW, approved(EMERGENCY_NO_WINDOW, HEAD, IC),
     DURING, (WHOLE_WINDOW,), GateDecision(ALLOW, (
         "CHG-7 is an Emergency change, Approved with its approvals standing: deploying to "
         "production is allowed."), "CHG-7")),
    ("emergency-after-its-window", EMERGENCY, approved(EMERGENCY, HEAD, IC), utc(2026, 12, 1, 12),
     (WHOLE_WINDOW,), GateDecision(ALLOW, (
         "CHG-7 is an Emergency change, Approved with its approvals standing: deploying to "
         "production is allowed."), "CHG-7")),
    ("awaiting-approval-waits-for-the-approval-first",
     with_status(NORMAL, StatusRole.AWAITING_APPROVAL), ApprovalState(), DURING, (WHOLE_WINDOW,),
     GateDecision(WAIT, "CHG-7 is not approved yet: waiting for a CAB member or the Head of "
                  "Engineering to approve it, next CAB meeting Tue 1 Dec 2026 15:00 "
                  "(Europe/London).", "CHG-7", 60, utc(2026, 12, 1, 15))),
]


@pytest.mark.parametrize("cr, approvals, now, freezes, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_decide_deploy_in_freezes(cr, approvals, now, freezes, expected):
    decision = decide_deploy(cr, approvals, environment="production", now=now, policy=POLICY,
                             site=SITE, calendar=CAL, next_cab=next_meeting(CAL, now),
                             freezes=freezes)
    assert decision == expected
