"""The edit job called directly against the sandbox Jira: withdrawn approvals and their Jira calls."""

from __future__ import annotations

import pytest

from jobs.enforce_edit import enforce_edit
from jobs.enforce_transition import enforce_transition

from ..builders import COMPLETE, bot_calls, move_args, way_back

EMERGENCY = {**COMPLETE, "Change Category": "Emergency", "Change Type": "Database",
             "Incident Commander": "erin"}
NEW_ROLLBACK = "Restore the previous bundle from the S3 backup."


@pytest.mark.parametrize(("fields", "approvers", "verdict", "calls", "status"), [
    (COMPLETE, ["carol"], "withdraw_and_revert",
     [("POST", "transitions"), ("POST", "comment")], "Awaiting Approval"),
    (EMERGENCY, ["dana"], "withdraw",
     [("POST", "comment"), ("PUT", "changeguard")], "Awaiting Approval"),
], ids=["approved-moved-back-with-its-record", "partly-approved-record-written-alone"])
def test_an_edit_after_approval_withdraws_it(jira, runtime, fields, approvers, verdict, calls,
                                            status):
    key = jira.create_change_request("alice", "Rotate edge TLS certificates", fields)
    for actor, to in [("alice", "Awaiting Approval")] + [(a, "Approved") for a in approvers]:
        jira.transition(key, to, as_user=actor)
        enforce_transition(**move_args(jira, key, actor), runtime=runtime)
    earlier = len(jira.comments(key))  # a partial approval is answered with a comment
    jira.edit(key, "alice", {"Rollback Plan": NEW_ROLLBACK})
    edited = jira.site.issue(key).histories[-1].id
    jira.reset_recordings()
    assert enforce_edit(key, f"delivery-{edited}", 0, str(edited),
                        jira.users["alice"].account_id, runtime=runtime) == {"verdict": verdict}
    assert bot_calls(jira) == [("GET", key)] + calls
    assert jira.status_of(key) == status
    record = jira.property(key, "changeguard")
    assert record["approvals"]["approvals"] == []
    assert record["audit"][-1] == {
        "at": "1970-01-01T00:00:00+00:00", "decision": "approval withdrawn",
        "reason": "material_edit", "actor": jira.users["alice"].account_id, "from": None,
        "to": None, "changelog": edited, "detail": "Rollback Plan"}
    moves = [r.json for r in jira.requests
             if r.method == "POST" and r.path.endswith("/transitions")]
    assert moves == ([{"transition": {"id": way_back(jira, "Approved", "Awaiting Approval")},
                       "properties": [{"key": "changeguard", "value": record}]}]
                     if verdict == "withdraw_and_revert" else [])
    assert len(jira.comments(key)) == earlier + 1
