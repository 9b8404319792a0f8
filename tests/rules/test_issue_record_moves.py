"""The record on the issue tells which status moves were decided, whatever Redis remembers."""

import pytest

from rules.issue_record import parse_record


def entry(changelog, to="Awaiting Approval", decision="reverted"):
    return {"at": "2026-11-24T10:00:00+00:00", "decision": decision, "reason": "gate_failed",
            "actor": "712020:alice", "from": "Draft", "to": to, "changelog": changelog,
            "detail": ""}


@pytest.mark.parametrize("audit, expected", [
    ([], None),
    ([entry(20107)], 20107),
    ([entry(20107), entry(20110), entry(20108)], 20110),
    # An edit's withdrawal (no status) and a retrospective flag (no changelog id) are no moves.
    ([entry(20107), entry(20120, to=None, decision="approval withdrawn")], 20107),
    ([entry(None, to=None, decision="retrospective overdue")], None),
    # Entries a person or an older version damaged are skipped, not trusted.
    ([entry("20130"), entry(True), entry(20107)], 20107),
], ids=["empty", "one-move", "the-latest-of-several", "edits-do-not-count",
        "retro-flags-do-not-count", "damaged-entries-skipped"])
def test_last_decided_move(audit, expected):
    assert parse_record({"audit": audit}).last_decided_move() == expected
