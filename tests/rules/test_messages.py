"""The texts engineers read: exact comments for each kind of finding."""

import pytest

from rules.awaiting_approval_gate import Finding, Problem
from rules.messages import describe_finding
from rules.policy import FieldRole as F
from worker.policy_file import load_policy

POLICY = load_policy()

FINDING_TEXTS = [
    (Finding(F.DEPLOYMENT_PLAN, Problem.MISSING),
     "Deployment Plan is empty: list the steps that deploy the change."),
    (Finding(F.CATEGORY, Problem.MISSING),
     "Change Category is empty: choose Standard, Normal or Emergency."),
    (Finding(F.ROLLBACK_PLAN, Problem.PLACEHOLDER, "TBD"),
     "Rollback Plan only says “TBD”: describe how to undo the change if it goes wrong, "
     "in at least a sentence."),
    (Finding(F.DEPLOYMENT_PLAN, Problem.TOO_SHORT, "deploy it"),
     "Deployment Plan is too short (“deploy it”): list the steps that deploy the change, "
     "in at least 20 characters."),
    (Finding(F.CHANGE_TYPE, Problem.UNKNOWN_VALUE, "Hardware"),
     "Change Type is “Hardware”, which the change policy does not know: choose Application "
     "Code, Infrastructure, Configuration or Database."),
    (Finding(F.STANDARD_TEMPLATE, Problem.NOT_IN_CATALOG, "Big bang"),
     "Standard Template “Big bang” is not in the catalog of pre-approved templates: pick the "
     "pre-approved template this change follows (Copy update, Dependency patch bump or Feature "
     "flag toggle), or make this a Normal change."),
    (Finding(F.PLANNED_END, Problem.WINDOW_NOT_ORDERED),
     "Planned End is not after Planned Start: the change window must close after it opens."),
    (Finding(F.CHANGE_TYPE, Problem.EMERGENCY_ONLY, "Database"),
     "Change Type is “Database”, which only Emergency changes may use (manual database changes "
     "are for emergencies): make it an Emergency change with an Incident Commander, or ship it "
     "through the normal release as Application Code."),
    (Finding(F.RISK_ASSESSMENT, Problem.PLACEHOLDER, "x" * 70),
     "Risk Assessment only says “" + "x" * 57 + "…”: say what could break, for whom, and how "
     "you would notice, in at least a sentence."),
    (Finding(F.RISK_LEVEL, Problem.UNKNOWN_VALUE, "Huge"),
     "Risk Level is “Huge”, which the change policy does not know: choose Low, Medium or High."),
    (Finding(F.OUTCOME, Problem.MISSING),
     "Outcome is empty: choose Successful, Failed or Rolled Back."),
]


@pytest.mark.parametrize("finding, expected", FINDING_TEXTS,
                         ids=[f"{f.field.value}-{f.problem.value}" for f, _ in FINDING_TEXTS])
def test_describe_finding(finding, expected):
    nodes = describe_finding(finding, POLICY)
    assert nodes[0] == {"type": "text", "text": POLICY.field_name(finding.field),
                        "marks": [{"type": "strong"}]}
    assert "".join(node["text"] for node in nodes) == expected
