"""The Awaiting Approval gate, one row per policy case."""

from datetime import datetime, timezone

import pytest

from rules.awaiting_approval_gate import Finding, Problem, check_ready_for_approval
from rules.policy import FieldRole as F
from worker.policy_file import load_policy

from .builders import change

POLICY = load_policy()
T10 = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)

CASES = [
    ("normal complete", change("Normal"), ()),
    ("standard complete", change("Standard", template="Copy update"), ()),
    ("emergency complete, no window needed",
     change("Emergency", commander="712020:erin", start=None, end=None), ()),
    ("emergency database change", change("Emergency", change_type="Database", commander="x"), ()),
    ("everything missing",
     change(None, change_type=None, description=None, deployment_plan=None, rollback_plan=None,
            risk_assessment=None),
     (Finding(F.DESCRIPTION, Problem.MISSING), Finding(F.CATEGORY, Problem.MISSING),
      Finding(F.CHANGE_TYPE, Problem.MISSING), Finding(F.DEPLOYMENT_PLAN, Problem.MISSING),
      Finding(F.ROLLBACK_PLAN, Problem.MISSING), Finding(F.RISK_ASSESSMENT, Problem.MISSING))),
    ("whitespace only is missing", change(rollback_plan="  \n "),
     (Finding(F.ROLLBACK_PLAN, Problem.MISSING),)),
    ("TBD rollback plan", change(rollback_plan="TBD"),
     (Finding(F.ROLLBACK_PLAN, Problem.PLACEHOLDER, "TBD"),)),
    ("n/a with a full stop", change(rollback_plan="N/A."),
     (Finding(F.ROLLBACK_PLAN, Problem.PLACEHOLDER, "N/A."),)),
    ("punctuation only", change(deployment_plan="???"),
     (Finding(F.DEPLOYMENT_PLAN, Problem.PLACEHOLDER, "???"),)),
    ("TODO followed by words", change(risk_assessment="TODO: ask the DBA team about this"),
     (Finding(F.RISK_ASSESSMENT, Problem.PLACEHOLDER, "TODO: ask the DBA team about this"),)),
    ("see above", change(rollback_plan="See above"),
     (Finding(F.ROLLBACK_PLAN, Problem.PLACEHOLDER, "See above"),)),
    ("too short a plan", change(deployment_plan="deploy it"),
     (Finding(F.DEPLOYMENT_PLAN, Problem.TOO_SHORT, "deploy it"),)),
    ("too short a description", change(description="Pool size"),
     (Finding(F.DESCRIPTION, Problem.TOO_SHORT, "Pool size"),)),
    ("unknown category", change("Minor"), (Finding(F.CATEGORY, Problem.UNKNOWN_VALUE, "Minor"),)),
    ("unknown change type", change(change_type="Hardware"),
     (Finding(F.CHANGE_TYPE, Problem.UNKNOWN_VALUE, "Hardware"),)),
    ("database as normal", change("Normal", change_type="Database"),
     (Finding(F.CHANGE_TYPE, Problem.EMERGENCY_ONLY, "Database"),)),
    ("database as standard", change("Standard", change_type="Database", template="Copy update"),
     (Finding(F.CHANGE_TYPE, Problem.EMERGENCY_ONLY, "Database"),)),
    ("database with no category says only the category",
     change(None, change_type="Database"), (Finding(F.CATEGORY, Problem.MISSING),)),
    ("standard without template", change("Standard"),
     (Finding(F.STANDARD_TEMPLATE, Problem.MISSING),)),
    ("standard with template outside the catalog", change("Standard", template="Big bang"),
     (Finding(F.STANDARD_TEMPLATE, Problem.NOT_IN_CATALOG, "Big bang"),)),
    ("normal without a window", change("Normal", start=None, end=None),
     (Finding(F.PLANNED_START, Problem.MISSING), Finding(F.PLANNED_END, Problem.MISSING))),
    ("standard without an end", change("Standard", template="Copy update", end=None),
     (Finding(F.PLANNED_END, Problem.MISSING),)),
    ("window ends before it starts", change("Normal", start=T10, end=T10.replace(hour=9)),
     (Finding(F.PLANNED_END, Problem.WINDOW_NOT_ORDERED),)),
    ("window of zero length", change("Normal", start=T10, end=T10),
     (Finding(F.PLANNED_END, Problem.WINDOW_NOT_ORDERED),)),
    ("emergency without incident commander", change("Emergency"),
     (Finding(F.INCIDENT_COMMANDER, Problem.MISSING),)),
]


@pytest.mark.parametrize("cr, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_gate(cr, expected):
    assert check_ready_for_approval(cr, POLICY) == expected
