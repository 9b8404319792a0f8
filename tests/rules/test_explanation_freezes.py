"""`changeguard check`: the freezes a change's planned window runs into, and their verdict."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from jobs.periodic import cab_calendar
from rules.approvals import ApprovalRole
from rules.explanation import NO_FREEZE, NO_WINDOW, explain
from rules.freeze import POLICY_SOURCE, Freeze
from rules.issue_record import IssueRecord
from rules.policy import FreezeKind
from worker.policy_file import load_policy

from .builders import SITE, approved, change

POLICY = load_policy()
CAL = cab_calendar(POLICY)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


# The builder's window: Tue 1 Dec 2026 10:00-11:00 UTC.
LAUNCH = Freeze("Launch", FreezeKind.HARD, utc(2026, 12, 1, 9), utc(2026, 12, 1, 12),
                "Launch week", "CHG-90")
AUDIT = Freeze("Audit", FreezeKind.SOFT, utc(2026, 11, 30), utc(2026, 12, 2), "Auditors on site",
               POLICY_SOURCE)
LATER = Freeze("Later", FreezeKind.HARD, utc(2026, 12, 1, 11), utc(2026, 12, 1, 12), "", "CHG-92")
LAUNCH_LINE = ('    - hard freeze CHG-90 "Launch", Tue 1 Dec 2026 09:00 to Tue 1 Dec 2026 12:00 '
               "(Europe/London): Launch week")
AUDIT_LINE = ('    - soft freeze "Audit", Mon 30 Nov 2026 00:00 to Wed 2 Dec 2026 00:00 '
              "(Europe/London): Auditors on site")
NORMAL, EMERGENCY = change("Normal"), change("Emergency", commander="712020:ic")

# id, change, record, freezes, the freeze lines expected
CASES = [
    ("no-freeze", NORMAL, IssueRecord(), (), [NO_FREEZE]),
    ("a-freeze-that-starts-as-the-window-ends", NORMAL, IssueRecord(), (LATER,), [NO_FREEZE]),
    ("no-window", change("Emergency", start=None, end=None), IssueRecord(), (LAUNCH,),
     [NO_WINDOW]),
    ("window-backwards", change(start=utc(2026, 12, 1, 11), end=utc(2026, 12, 1, 10)),
     IssueRecord(), (LAUNCH,), [NO_WINDOW]),
    ("hard-freeze-blocks-a-normal-change", NORMAL, IssueRecord(), (LAUNCH,), [
        "  freezes the planned window runs into: 1", LAUNCH_LINE,
        '    blocked: CHG-7\'s planned window overlaps the hard freeze CHG-90 "Launch", which '
        "lets only Emergency changes through until Tue 1 Dec 2026 12:00 (Europe/London): move "
        "its Planned Start to that time or later."]),
    ("emergency-goes-ahead", EMERGENCY, IssueRecord(), (AUDIT, LAUNCH), [
        "  freezes the planned window runs into: 2", AUDIT_LINE, LAUNCH_LINE,
        '    allowed: CHG-7 is an Emergency change, so it may go ahead during the soft freeze '
        '"Audit", which lasts until Wed 2 Dec 2026 00:00 (Europe/London).']),
    ("soft-freeze-without-the-exception", NORMAL, IssueRecord(approved(NORMAL, ApprovalRole.CAB)),
     (AUDIT,), [
         "  freezes the planned window runs into: 1", AUDIT_LINE,
         '    blocked: CHG-7\'s planned window overlaps the soft freeze "Audit" until Wed 2 Dec '
         "2026 00:00 (Europe/London): move its Planned Start to that time or later, or ask "
         "someone in head-of-engineering for a freeze exception."]),
    ("soft-freeze-with-the-exception", NORMAL,
     IssueRecord(approved(NORMAL, ApprovalRole.CAB, ApprovalRole.FREEZE_EXCEPTION)), (AUDIT,), [
         "  freezes the planned window runs into: 1", AUDIT_LINE,
         '    allowed: CHG-7 may go ahead during the soft freeze "Audit", which lasts until Wed 2 '
         "Dec 2026 00:00 (Europe/London): it has a freeze exception from head-of-engineering."]),
]


@pytest.mark.parametrize("cr, record, freezes, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_the_freezes_come_after_the_moves_they_hold(cr, record, freezes, expected):
    with_freezes = explain(cr, record, POLICY, SITE, freezes=freezes, calendar=CAL)
    without = explain(cr, record, POLICY, SITE)
    at = next(i for i, line in enumerate(without) if line.startswith("  into Closed"))
    assert with_freezes == without[:at] + expected + without[at:]
