"""Change freezes: which freezes a change's window runs into, and whether the change may go."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from .adf import adf_to_text
from .cab_schedule import CabCalendar, MeetingRule, when
from .change_request import account_id_of, datetime_value, issue_parts, option_value
from .policy import (Category, FieldRole, FreezeFieldRole, FreezeKind, FreezePolicy, Policy,
                     RecurringFreeze, StatusRole)
from .site_map import SiteMap

POLICY_SOURCE = "policy"
DAY = timedelta(days=1)

# Every text a developer reads about a freeze: one sentence naming the freeze, until when it
# holds, and what would let the change go.
HARD_FREEZE = ("{key}'s planned window overlaps the hard freeze {freeze}, which lets only "
               "Emergency changes through until {until}: move its Planned Start to that time or "
               "later.")
SOFT_FREEZE = ("{key}'s planned window overlaps the soft freeze {freeze} until {until}: move its "
               "Planned Start to that time or later, or ask someone in {group} for a freeze "
               "exception.")
SOFT_AFTER_HARD = ("{key}'s planned window overlaps the soft freeze {freeze} until {until} and the "
                   "hard freeze {hard} before it, which lets only Emergency changes through: move "
                   "its Planned Start to that time or later.")
ALLOWED_EMERGENCY = ("{key} is an Emergency change, so it may go ahead during the {kind} freeze "
                     "{freeze}, which lasts until {until}.")
ALLOWED_EXCEPTION = ("{key} may go ahead during the soft freeze {freeze}, which lasts until "
                     "{until}: it has a freeze exception from {group}.")
INCOMPLETE = ("{key} is not enforced as a change freeze until it has {missing}: fill {them} in "
              "and the freeze applies from then on.")
BACKWARDS = ("{key} is not enforced as a change freeze: its {end_field} is not after its "
             "{start_field}; correct the dates and the freeze applies from then on.")


@dataclasses.dataclass(frozen=True)
class Freeze:
    """One freeze period: [start, end) in UTC, its kind, and where it was declared.

    ``source`` is "policy" for a recurring freeze, or the key of the Jira issue declaring it.
    """

    name: str
    kind: FreezeKind
    start: datetime
    end: datetime
    reason: str
    source: str

    @property
    def key(self) -> str:
        """Return a stable id: the Jira key, or the recurring freeze's name and UTC start."""
        if self.source != POLICY_SOURCE:
            return self.source
        return f"{self.name}@{self.start.astimezone(timezone.utc):%Y%m%dT%H%MZ}"

    @property
    def title(self) -> str:
        """Return how texts name the freeze: its name in quotes, after its Jira key if any."""
        return (f'"{self.name}"' if self.source == POLICY_SOURCE
                else f'{self.source} "{self.name}"')


@dataclasses.dataclass(frozen=True)
class FreezeRule:
    """A recurring freeze of the policy, its RRULE and time zone loaded by the shell.

    ``rule`` is a dateutil ``rrule`` built from ``spec.rrule`` with a naive DTSTART (wall-clock
    time); ``zone`` is the ``ZoneInfo`` of ``spec.timezone``.
    """

    spec: RecurringFreeze
    rule: MeetingRule
    zone: tzinfo


@dataclasses.dataclass(frozen=True)
class FreezeIssue:
    """A one-off freeze as declared in Jira (an issue of the policy's freeze issue type)."""

    key: str
    summary: str
    issue_type: str | None
    status_id: str
    reporter_account_id: str | None
    start: datetime | None
    end: datetime | None
    kind_value: str | None
    reason: str | None


@dataclasses.dataclass(frozen=True)
class IncompleteFreeze:
    """A declared freeze that cannot be enforced yet, and the comment that says why."""

    key: str
    text: str


class FreezeDecision(str, enum.Enum):
    """What the freezes say about a change going ahead in its window."""

    CLEAR = "clear"  # no freeze overlaps the window
    EMERGENCY = "emergency"  # in a freeze, but an Emergency change goes ahead
    EXCEPTION = "exception"  # in soft freezes only, and the change has the exception
    BLOCKED = "blocked"


@dataclasses.dataclass(frozen=True)
class FreezeVerdict:
    """The decision, every freeze the window overlaps, and the one the text names.

    ``blocking`` is the freeze that holds the change longest: among those that stop it, the
    one that ends last, so ``until`` is the first moment the change could start. When the
    change may go, ``blocking`` is None and the text (if any) says why it may.
    """

    decision: FreezeDecision
    freezes: tuple[Freeze, ...]
    blocking: Freeze | None
    text: str

    @property
    def allowed(self) -> bool:
        """Tell whether the freezes let the change go ahead."""
        return self.decision is not FreezeDecision.BLOCKED

    @property
    def until(self) -> datetime | None:
        """Return when the blocking freeze ends (None when nothing blocks)."""
        return self.blocking.end if self.blocking else None


def recurring_freezes(rules: Iterable[FreezeRule], start: datetime,
                      end: datetime) -> tuple[Freeze, ...]:
    """Return the recurring freezes overlapping [start, end) (aware), ordered by start.

    Each rule is expanded in wall-clock time in its own zone and its duration added in
    wall-clock time, so "Friday 15:00 plus 65 hours" ends Monday 08:00 local even when the
    clocks change that weekend (64 or 66 real hours).
    """
    found = []
    for freeze_rule in rules:
        zone, length = freeze_rule.zone, freeze_rule.spec.duration
        # Occurrences starting up to one duration (and a day's margin) before the range.
        after = start.astimezone(zone).replace(tzinfo=None) - length - DAY
        before = end.astimezone(zone).replace(tzinfo=None) + DAY
        for wall in freeze_rule.rule.between(after, before, inc=True):
            freeze = Freeze(name=freeze_rule.spec.name, kind=freeze_rule.spec.kind,
                            start=_utc(wall, zone), end=_utc(wall + length, zone),
                            reason=freeze_rule.spec.reason, source=POLICY_SOURCE)
            # Empty only when it starts in the hour the clocks skip and lasts under an hour.
            if freeze.start < freeze.end and freeze.start < end and start < freeze.end:
                found.append(freeze)
    return tuple(sorted(found, key=lambda f: (f.start, f.end, f.name)))


def _utc(wall: datetime, zone: tzinfo) -> datetime:
    """Return a wall-clock time in ``zone`` as UTC.

    A time the clocks skip takes the offset before the change (01:30 on the morning the clocks
    go forward is 02:30 summer time); a time they repeat is its first occurrence.
    """
    return wall.replace(tzinfo=zone).astimezone(timezone.utc)


def freeze_fields_to_fetch(site: SiteMap) -> tuple[str, ...]:
    """Return the field ids a freeze issue snapshot needs, for GET issue's ``fields`` parameter."""
    return ("summary", "status", "reporter", "issuetype",
            site.field_id(FieldRole.PLANNED_START), site.field_id(FieldRole.PLANNED_END),
            *sorted(site.freeze_field_ids.values()))


def parse_freeze_issue(issue: Mapping[str, Any], site: SiteMap) -> FreezeIssue:
    """Return the freeze a REST v3 issue body declares; raise SnapshotError on a malformed one."""
    key, fields, status_id = issue_parts(issue)
    summary = fields.get("summary") if isinstance(fields.get("summary"), str) else ""
    issue_type = fields.get("issuetype")
    type_name = issue_type.get("name") if isinstance(issue_type, Mapping) else None
    kind_id = site.freeze_field_ids.get(FreezeFieldRole.KIND)
    reason_id = site.freeze_field_ids.get(FreezeFieldRole.REASON)
    reason = adf_to_text(fields.get(reason_id)) if reason_id else None
    return FreezeIssue(
        key=key, summary=summary,
        issue_type=type_name if isinstance(type_name, str) else None, status_id=status_id,
        reporter_account_id=account_id_of(fields.get("reporter")),
        start=datetime_value(fields.get(site.field_id(FieldRole.PLANNED_START))),
        end=datetime_value(fields.get(site.field_id(FieldRole.PLANNED_END))),
        kind_value=option_value(fields.get(kind_id)) if kind_id else None,
        reason=reason.strip() if reason and reason.strip() else None,
    )


def freeze_from_issue(issue: FreezeIssue, freezes: FreezePolicy, *, start_field: str,
                      end_field: str) -> Freeze | IncompleteFreeze:
    """Return the freeze a Jira issue declares, or why it cannot be enforced yet.

    ``start_field``/``end_field`` are the policy's names of Planned Start and Planned End. The
    reason is the reason field's text, or the summary when that is empty (or not configured).
    """
    kind = freezes.kind_of(issue.kind_value)
    start, end = issue.start, issue.end
    if kind is None or start is None or end is None:
        missing = [name for name, value in ((start_field, start), (end_field, end))
                   if value is None]
        if kind is None:
            values = " or ".join(freezes.kind_values[k] for k in FreezeKind)
            missing.append(f"a {freezes.field_names[FreezeFieldRole.KIND]} ({values})")
        listed = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
        return IncompleteFreeze(issue.key, INCOMPLETE.format(
            key=issue.key, missing=listed, them="them" if len(missing) > 1 else "it"))
    if end <= start:
        return IncompleteFreeze(issue.key, BACKWARDS.format(
            key=issue.key, start_field=start_field, end_field=end_field))
    return Freeze(name=issue.summary or issue.key, kind=kind, start=start.astimezone(timezone.utc),
                  end=end.astimezone(timezone.utc), reason=issue.reason or issue.summary,
                  source=issue.key)


def overlapping(window_start: datetime, window_end: datetime,
                freezes: Iterable[Freeze]) -> tuple[Freeze, ...]:
    """Return the freezes the window [window_start, window_end) overlaps, ordered by start.

    Half-open: a window ending as a freeze starts (or starting as it ends) is not in it.
    """
    return tuple(sorted((f for f in freezes if f.start < window_end and window_start < f.end),
                        key=lambda f: (f.start, f.end, f.name)))


def freeze_verdict(key: str, category: Category | None, has_freeze_exception: bool,
                   window_start: datetime, window_end: datetime, freezes: Iterable[Freeze], *,
                   calendar: CabCalendar, exception_group: str) -> FreezeVerdict:
    """Decide whether a change may go ahead in its window, given the freezes.

    A hard freeze lets only Emergency changes through; a soft freeze also lets through a change
    with a freeze exception (an extra approval from ``exception_group``). A change without a
    category counts as not Emergency. The text names the freeze that ends last among those
    that stop the change, in the CAB's time zone.
    """
    inside = overlapping(window_start, window_end, freezes)
    if not inside:
        return FreezeVerdict(FreezeDecision.CLEAR, (), None, "")
    last = max(inside, key=lambda f: (f.end, f.start, f.name))
    if category is Category.EMERGENCY:
        return FreezeVerdict(FreezeDecision.EMERGENCY, inside, None, ALLOWED_EMERGENCY.format(
            key=key, kind=last.kind.value, freeze=last.title, until=_until(last.end, calendar)))
    hard = [f for f in inside if f.kind is FreezeKind.HARD]
    if not hard and has_freeze_exception:
        return FreezeVerdict(FreezeDecision.EXCEPTION, inside, None, ALLOWED_EXCEPTION.format(
            key=key, freeze=last.title, until=_until(last.end, calendar), group=exception_group))
    stopping = hard if has_freeze_exception else list(inside)
    blocking = max(stopping, key=lambda f: (f.end, f.kind is FreezeKind.HARD, f.start, f.name))
    until = _until(blocking.end, calendar)
    if blocking.kind is FreezeKind.HARD:
        text = HARD_FREEZE.format(key=key, freeze=blocking.title, until=until)
    elif hard:
        text = SOFT_AFTER_HARD.format(key=key, freeze=blocking.title, until=until,
                                      hard=max(hard, key=lambda f: f.end).title)
    else:
        text = SOFT_FREEZE.format(key=key, freeze=blocking.title, until=until,
                                  group=exception_group)
    return FreezeVerdict(FreezeDecision.BLOCKED, inside, blocking, text)


def _until(moment: datetime, calendar: CabCalendar) -> str:
    """Return when a freeze ends as people read it: in the CAB's zone, naming the zone."""
    return f"{when(moment, calendar)} ({calendar.zone_name})"


def declared_freezes_jql(policy: Policy, site: SiteMap) -> str | None:
    """Return the JQL of the one-off freezes declared in Jira and not cancelled, or None when the
    policy reads none. Dates are compared by the caller: few freezes exist at any time."""
    issue_type = policy.freezes.issue_type
    if issue_type is None:
        return None
    clauses = [f'issuetype = "{jql_escaped(issue_type)}"']
    if policy.scope_project_keys:
        clauses.insert(0, f"project in ({', '.join(policy.scope_project_keys)})")
    gone = [site.status_ids[role] for role in (StatusRole.CANCELLED, StatusRole.REJECTED)
            if role in site.status_ids]
    if gone:
        clauses.append(f"status not in ({', '.join(gone)})")
    return " AND ".join(clauses) + " ORDER BY key"


def jql_escaped(text: str) -> str:
    """Return ``text`` fit to go between double quotes in JQL."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def freeze_to_json(freeze: Freeze) -> dict[str, str]:
    """Return the JSON form of a freeze (kept in Redis between searches, and in records)."""
    return {"name": freeze.name, "kind": freeze.kind.value, "start": freeze.start.isoformat(),
            "end": freeze.end.isoformat(), "reason": freeze.reason, "source": freeze.source}


def freeze_from_json(value: Mapping[str, str]) -> Freeze:
    """Read a freeze ``freeze_to_json`` wrote; raise KeyError or ValueError on anything else."""
    return Freeze(name=value["name"], kind=FreezeKind(value["kind"]),
                  start=datetime.fromisoformat(value["start"]),
                  end=datetime.fromisoformat(value["end"]), reason=value["reason"],
                  source=value["source"])
