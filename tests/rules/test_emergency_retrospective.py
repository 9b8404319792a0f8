"""Emergency retrospectives: the deadline from the changelog, the one comment and the one alert."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from jobs.periodic import cab_calendar
from rules.approvals import ApprovalState
from rules.issue_record import IssueRecord, parse_record
from rules.plan import AddComment, AddLabel, Plan, SlackAlert, WriteRecord
from rules.adf import adf_to_text
from rules.cab_schedule import next_meeting
from rules.change_history import HistoryEntry
from rules.emergency_retrospective import (RetroDeadline, RetroState, entered_implemented,
                                           flag_plan, flagged_in, overdue_alert, overdue_comment, parse_jira_time,
                                           retro_deadline)
from rules.policy import FieldRole, StatusRole
from worker.policy_file import load_policy

from .builders import SITE, STATUS_IDS, change

POLICY = load_policy()
CAL = cab_calendar(POLICY)
AT_NOW = "2026-04-03T12:00:00+00:00"
IMPLEMENTED = datetime(2026, 3, 30, 9, 12, tzinfo=timezone.utc)
EMERGENCY = change("Emergency", status=StatusRole.IMPLEMENTED, commander="712020:ivan")


def at(hours: float) -> datetime:
    return datetime.fromtimestamp(IMPLEMENTED.timestamp() + hours * 3600, timezone.utc)


def test_entered_implemented_is_the_last_move_into_implemented():
    history = (
        HistoryEntry(1, "a", "2026-03-29T08:00:00.000+0000", STATUS_IDS[StatusRole.IMPLEMENTING],
                     STATUS_IDS[StatusRole.IMPLEMENTED]),
        HistoryEntry(2, "a", "2026-03-29T09:00:00.000+0000", STATUS_IDS[StatusRole.IMPLEMENTED],
                     STATUS_IDS[StatusRole.IMPLEMENTING]),
        HistoryEntry(3, "a", "2026-03-30T09:12:00.000+0000", STATUS_IDS[StatusRole.IMPLEMENTING],
                     STATUS_IDS[StatusRole.IMPLEMENTED]),
        HistoryEntry(4, "a", "garbled", STATUS_IDS[StatusRole.IMPLEMENTING],
                     STATUS_IDS[StatusRole.IMPLEMENTED]),
    )
    assert entered_implemented(history, SITE) == IMPLEMENTED
    assert entered_implemented(history[1:2], SITE) is None
    assert parse_jira_time("2026-03-30T09:12:00+0000") == IMPLEMENTED


@pytest.mark.parametrize("cr, implemented_at, now, state", [
    (change("Normal", status=StatusRole.IMPLEMENTED), IMPLEMENTED, at(100), RetroState.NOT_APPLICABLE),
    (change("Emergency", status=StatusRole.CLOSED), IMPLEMENTED, at(100), RetroState.NOT_APPLICABLE),
    (EMERGENCY, None, at(100), RetroState.NO_ENTRY),
    (EMERGENCY, IMPLEMENTED, at(47.99), RetroState.PENDING),
    (EMERGENCY, IMPLEMENTED, at(48), RetroState.OVERDUE),
    (dataclasses.replace(EMERGENCY, labels=("retro-overdue",)), IMPLEMENTED, at(49),
     RetroState.ALREADY_FLAGGED),
], ids=["normal", "emergency-closed", "no-changelog-entry", "not-yet-due", "due-now",
        "already-labelled"])
def test_retro_deadline(cr, implemented_at, now, state):
    deadline = retro_deadline(cr, implemented_at, now=now, policy=POLICY, site=SITE)
    assert deadline.state is state
    if state in {RetroState.PENDING, RetroState.OVERDUE, RetroState.ALREADY_FLAGGED}:
        assert deadline.due_at == at(48)


DEADLINE = RetroDeadline("CHG-7", RetroState.OVERDUE, IMPLEMENTED, at(48))


def test_comment_mentions_reporter_and_ic_and_says_what_to_do():
    body = overdue_comment(EMERGENCY, DEADLINE, next_meeting(CAL, at(49)), policy=POLICY,
                           calendar=CAL)
    assert adf_to_text(body) == (
        "Retrospective overdue since Wed 1 Apr 2026 10:12 (Europe/London)\n"
        "@712020:alice and @712020:ivan, this Emergency change reached Implemented on "
        "Mon 30 Mar 2026 10:12, and its full-CAB retrospective was due within 48 hours. It is now "
        "labelled retro-overdue and heads the agenda of the CAB meeting on Tue 7 Apr 2026 15:00 "
        "(Europe/London).\n"
        "Next: hold the retrospective with the CAB, write its notes in Retrospective, set "
        "Outcome, then move the change to Closed.")


def test_comment_without_people_or_next_meeting():
    nobody = dataclasses.replace(EMERGENCY, reporter_account_id=None,
                                 users={FieldRole.INCIDENT_COMMANDER: None})
    text = adf_to_text(overdue_comment(nobody, DEADLINE, None, policy=POLICY, calendar=CAL))
    assert text.splitlines()[1].startswith("This Emergency change reached Implemented")
    assert "heads the agenda of the next CAB meeting." in text


def test_slack_alert():
    assert overdue_alert(EMERGENCY, DEADLINE, browse_url="https://x.atlassian.net/browse",
                         calendar=CAL) == (
        ":alarm_clock: <https://x.atlassian.net/browse/CHG-7|CHG-7> “Raise checkout DB pool”: the "
        "Emergency retrospective is overdue since Wed 1 Apr 2026 10:12 (Europe/London). The "
        "reporter and the Incident Commander have been asked on the issue; it heads the next CAB "
        "agenda.")


def test_flagging_is_label_comment_record_then_slack():
    meeting = next_meeting(CAL, at(49))
    plan = flag_plan(EMERGENCY, DEADLINE, meeting, record=IssueRecord(), at=AT_NOW, policy=POLICY,
                     calendar=CAL, browse_url="https://x.atlassian.net/browse")
    since = f"in Implemented since {DEADLINE.implemented_at.isoformat()}"
    assert plan == Plan({"state": "overdue"}, (
        AddLabel("retro-overdue"),
        AddComment(overdue_comment(EMERGENCY, DEADLINE, meeting, policy=POLICY, calendar=CAL)),
        WriteRecord({"approvals": ApprovalState().to_json(), "audit": [
            {"at": AT_NOW, "decision": "retrospective overdue", "reason": "retrospective_overdue",
             "actor": None, "from": None, "to": None, "changelog": None, "detail": since}]}),
        SlackAlert("#deployments", overdue_alert(EMERGENCY, DEADLINE, calendar=CAL,
                                                 browse_url="https://x.atlassian.net/browse")),
    ))
    record = parse_record(plan.steps[2].value)
    assert [flagged_in(record, DEADLINE.implemented_at),
            flagged_in(record, DEADLINE.implemented_at + timedelta(days=1)),
            flagged_in(IssueRecord(), DEADLINE.implemented_at)] == [True, False, False]
