"""Emergency retrospectives: due 48 h after Implemented; past due and not Closed → flag it once."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime, timedelta
from typing import Any

from .adf import document, mention, paragraph, text
from .cab_schedule import CabCalendar, Meeting, when
from .change_history import HistoryEntry
from .change_request import ChangeRequest
from .issue_record import AuditEntry, IssueRecord
from .plan import AddComment, AddLabel, Plan, SlackAlert, WriteRecord
from .policy import Category, FieldRole, Policy, StatusRole
from .site_map import SiteMap

ADF = dict[str, Any]


class RetroState(str, enum.Enum):
    """Where an Emergency change stands with its retrospective."""

    NOT_APPLICABLE = "not_applicable"  # not an Emergency change sitting in Implemented
    NO_ENTRY = "no_entry"  # the changelog does not show when it reached Implemented
    PENDING = "pending"
    ALREADY_FLAGGED = "already_flagged"
    OVERDUE = "overdue"


@dataclasses.dataclass(frozen=True)
class RetroDeadline:
    """The retrospective deadline of one change, and whether to flag it now."""

    key: str
    state: RetroState
    implemented_at: datetime | None = None
    due_at: datetime | None = None


def entered_implemented(history: tuple[HistoryEntry, ...], site: SiteMap) -> datetime | None:
    """Return when the change last moved into Implemented, from its changelog."""
    moments = [parse_jira_time(entry.at) for entry in history
               if site.status_role(entry.to_status_id) is StatusRole.IMPLEMENTED]
    known = [moment for moment in moments if moment is not None]
    return known[-1] if known else None


def parse_jira_time(value: str) -> datetime | None:
    """Parse Jira's time form (2026-03-30T09:12:00.000+0000); None if unreadable."""
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    return None


def retro_deadline(change: ChangeRequest, implemented_at: datetime | None, *, now: datetime,
                   policy: Policy, site: SiteMap) -> RetroDeadline:
    """Judge one change: an Emergency change in Implemented past its deadline is OVERDUE once."""
    if (policy.category_of(change.option(FieldRole.CATEGORY)) is not Category.EMERGENCY
            or site.status_role(change.status_id) is not StatusRole.IMPLEMENTED):
        return RetroDeadline(change.key, RetroState.NOT_APPLICABLE)
    if implemented_at is None:
        return RetroDeadline(change.key, RetroState.NO_ENTRY)
    due = implemented_at + timedelta(hours=policy.cab.retrospective_due_hours)
    if now < due:
        state = RetroState.PENDING
    elif policy.retro_overdue_label in change.labels:
        state = RetroState.ALREADY_FLAGGED
    else:
        state = RetroState.OVERDUE
    return RetroDeadline(change.key, state, implemented_at, due)


def overdue_comment(change: ChangeRequest, deadline: RetroDeadline, next_meeting: Meeting | None,
                    *, policy: Policy, calendar: CabCalendar) -> ADF:
    """Return the one comment on an overdue change: to reporter and IC, what is late and what to do."""
    assert deadline.due_at is not None and deadline.implemented_at is not None
    people = dict.fromkeys(p for p in (change.reporter_account_id,
                                        change.user(FieldRole.INCIDENT_COMMANDER)) if p)
    lead: list[ADF] = []
    for person in people:
        lead += [text(" and "), mention(person)] if lead else [mention(person)]
    lead.append(text(", this" if lead else "This"))
    meeting = (f"the CAB meeting on {when(next_meeting.at, calendar)} ({calendar.zone_name})"
               if next_meeting is not None else "the next CAB meeting")
    hours = policy.cab.retrospective_due_hours
    return document(
        paragraph(text(f"Retrospective overdue since {when(deadline.due_at, calendar)} "
                       f"({calendar.zone_name})", "strong")),
        paragraph(*lead, text(
            f" Emergency change reached "
            f"{policy.status_names[StatusRole.IMPLEMENTED]} on "
            f"{when(deadline.implemented_at, calendar)}, and its full-CAB retrospective was due "
            f"within {hours} hours. It is now labelled {policy.retro_overdue_label} and heads the "
            f"agenda of {meeting}.")),
        paragraph(text(
            f"Next: hold the retrospective with the CAB, write its notes in "
            f"{policy.field_name(FieldRole.RETROSPECTIVE)}, set "
            f"{policy.field_name(FieldRole.OUTCOME)}, then move the change to "
            f"{policy.status_names[StatusRole.CLOSED]}.")),
    )


def overdue_alert(change: ChangeRequest, deadline: RetroDeadline, *, browse_url: str,
                  calendar: CabCalendar) -> str:
    """Return the one Slack alert for an overdue retrospective."""
    assert deadline.due_at is not None
    return (f":alarm_clock: <{browse_url}/{change.key}|{change.key}> “{change.summary}”: the "
            f"Emergency retrospective is overdue since {when(deadline.due_at, calendar)} "
            f"({calendar.zone_name}). The reporter and the Incident Commander have been asked on "
            "the issue; it heads the next CAB agenda.")


FLAGGED_DECISION = "retrospective overdue"


def flagged_in(record: IssueRecord, implemented_at: datetime) -> bool:
    """Tell whether our record on the issue shows this stay in Implemented flagged already."""
    since = f"in Implemented since {implemented_at.isoformat()}"
    return any(entry.get("decision") == FLAGGED_DECISION and entry.get("detail") == since
               for entry in record.audit)


def flag_plan(change: ChangeRequest, deadline: RetroDeadline, next_one: Meeting | None, *,
              record: IssueRecord, at: str, policy: Policy, calendar: CabCalendar,
              browse_url: str) -> Plan:
    """Return the steps that flag an overdue retrospective: label, comment, record, then Slack.

    The record (on the issue, where it outlasts any Redis) says the alert is decided: written
    before the alert, so no later scan alerts again, whatever Redis remembers.
    """
    assert deadline.implemented_at is not None and deadline.due_at is not None
    entry = AuditEntry(at=at, decision=FLAGGED_DECISION, reason="retrospective_overdue",
                       actor=None, from_status=None, to_status=None, changelog_id=None,
                       detail=f"in Implemented since {deadline.implemented_at.isoformat()}")
    return Plan({"state": RetroState.OVERDUE.value}, (
        AddLabel(policy.retro_overdue_label),
        AddComment(overdue_comment(change, deadline, next_one, policy=policy, calendar=calendar)),
        WriteRecord(record.with_entry(entry)),
        SlackAlert(policy.slack_channel, overdue_alert(change, deadline, browse_url=browse_url,
                                                       calendar=calendar)),
    ))
