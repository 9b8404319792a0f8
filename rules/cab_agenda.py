"""The CAB agenda: what the weekly meeting reviews, as one comment on the CAB epic."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from .adf import adf_to_text, document, mention, paragraph, table, text
from .cab_schedule import CabCalendar, Meeting, when
from .change_health import HealthTable
from .change_health_report import (AGENDA_ROWS, HEALTH_COLUMNS, HealthComparison,
                                   compare_last_week, health_cells, since_text)
from .change_request import ChangeRequest
from .filled import Emptiness, check_filled
from .freeze import Freeze
from .policy import Category, FieldRole, FreezeKind, Policy, StatusRole
from .site_map import SiteMap

ADF = dict[str, Any]
NONE_LISTED = "None."
HEALTH_HEADING = "How changes are going"
CHART_TEXT = "Chart: deployments a week and the change failure rate"


@dataclasses.dataclass(frozen=True)
class AgendaChange:
    """A change request as the agenda needs it: its snapshot and when it last reached Implemented."""

    change: ChangeRequest
    implemented_at: datetime | None = None


@dataclasses.dataclass(frozen=True)
class CabAgenda:
    """The agenda of one meeting: the keys in each section, in order, and the comment body."""

    meeting: Meeting
    awaiting_approval: tuple[str, ...]
    awaiting_retrospective: tuple[str, ...]
    implemented: tuple[str, ...]
    clashes: tuple[tuple[str, str], ...]
    body: ADF
    freezes: tuple[Freeze, ...] = ()
    health: HealthTable | None = None  # the weeks the health section compares (and charts)

    @property
    def text(self) -> str:
        """Return the agenda as plain text (what `changeguard agenda --dry-run` prints)."""
        return agenda_text(self.body)


def agenda_text(body: ADF) -> str:
    """Return an agenda comment's plain text, one line per heading, item or paragraph."""
    return "\n".join(line for line in (adf_to_text(body) or "").splitlines() if line)


def title(meeting: Meeting, calendar: CabCalendar) -> str:
    """Return the agenda's first line, which names its meeting."""
    return f"CAB agenda for {when(meeting.at, calendar)} ({calendar.zone_name})"


def build_agenda(meeting: Meeting, previous: Meeting | None, changes: Iterable[AgendaChange], *,
                 now: datetime, policy: Policy, site: SiteMap, calendar: CabCalendar,
                 browse_url: str, freezes: Iterable[Freeze] = (),
                 health: HealthTable | None = None) -> CabAgenda:
    """Sort the change requests into the agenda's sections and write its comment: the freezes
    of the coming week first (when there are any), change health last (when given)."""
    by_key = {item.change.key: item for item in changes}
    items = sorted(by_key.values(), key=lambda item: _key_order(item.change.key))

    def role(item: AgendaChange) -> StatusRole | None:
        return site.status_role(item.change.status_id)

    def category(item: AgendaChange) -> Category | None:
        return policy.category_of(item.change.option(FieldRole.CATEGORY))

    awaiting = sorted((i for i in items if category(i) is Category.NORMAL
                       and role(i) is StatusRole.AWAITING_APPROVAL),
                      key=lambda i: (_start(i.change) or datetime.max.replace(tzinfo=now.tzinfo),
                                     _key_order(i.change.key)))
    hours = timedelta(hours=policy.cab.retrospective_due_hours)
    retro = sorted((i for i in items if category(i) is Category.EMERGENCY
                    and role(i) is StatusRole.IMPLEMENTED),
                   # Unknown entry times first: nobody can tell they are not overdue.
                   key=lambda i: (i.implemented_at is not None, i.implemented_at or now))
    since = previous.at if previous is not None else None
    implemented = sorted((i for i in items if i.implemented_at is not None
                          and role(i) in {StatusRole.IMPLEMENTED, StatusRole.CLOSED}
                          and (since is None or i.implemented_at >= since)
                          and i.implemented_at <= now),
                         key=lambda i: (i.implemented_at, _key_order(i.change.key)))
    windows = [i.change for i in items if role(i) in {StatusRole.APPROVED, StatusRole.IMPLEMENTING}
               and _start(i.change) is not None and _end(i.change) is not None]
    clashes = [(a, b) for index, a in enumerate(windows) for b in windows[index + 1:]
               if _start(a) < _end(b) and _start(b) < _end(a)]

    def link(cr: ChangeRequest) -> ADF:
        return {"type": "text", "text": cr.key,
                "marks": [{"type": "link", "attrs": {"href": f"{browse_url}/{cr.key}"}}]}

    def normal_line(cr: ChangeRequest) -> list[ADF]:
        risk = cr.option(FieldRole.RISK_LEVEL)
        rollback = check_filled(cr.text(FieldRole.ROLLBACK_PLAN), policy, long_text=True)
        return [link(cr), text(f" “{cr.summary}” · window {_window(cr, calendar)} · "
                               f"risk {risk or 'not set'} · reporter "), *_person(cr.reporter_account_id),
                text(f" · rollback plan {'yes' if rollback is Emptiness.FILLED else 'no'}")]

    def retro_line(item: AgendaChange) -> list[ADF]:
        cr = item.change
        if item.implemented_at is None:
            due = "retrospective due: unknown (no move into Implemented in the changelog)"
        else:
            deadline = item.implemented_at + hours
            state = "overdue since" if deadline <= now else "due"
            due = (f"implemented {when(item.implemented_at, calendar)} · retrospective {state} "
                   f"{when(deadline, calendar)}")
        return [link(cr), text(f" “{cr.summary}” · {due} · IC "),
                *_person(cr.user(FieldRole.INCIDENT_COMMANDER))]

    def implemented_line(item: AgendaChange) -> list[ADF]:
        cr = item.change
        assert item.implemented_at is not None
        return [link(cr), text(f" “{cr.summary}” · implemented {when(item.implemented_at, calendar)}"
                               f" · outcome {cr.option(FieldRole.OUTCOME) or 'not recorded yet'}")]

    def clash_line(pair: tuple[ChangeRequest, ChangeRequest]) -> list[ADF]:
        a, b = pair
        return [link(a), text(f" ({_window(a, calendar)}) overlaps "), link(b),
                text(f" ({_window(b, calendar)})")]

    since_text = f" (since {when(since, calendar)})" if since is not None else ""
    # Policy: an overdue retrospective heads the agenda.
    overdue = [i for i in retro if i.implemented_at is None or i.implemented_at + hours <= now]
    due = [i for i in retro if i not in overdue]
    freezes = tuple(freezes)
    body = document(
        paragraph(text(title(meeting, calendar), "strong")),
        *(_section(f"Freezes in the coming week ({len(freezes)})",
                   [[text(freeze_line(f, calendar))] for f in freezes]) if freezes else []),
        *(_section(f"Overdue emergency retrospectives ({len(overdue)})",
                   [retro_line(i) for i in overdue]) if overdue else []),
        *_section(f"Normal changes awaiting approval ({len(awaiting)})",
                  [normal_line(i.change) for i in awaiting]),
        *_section(f"Emergency changes awaiting their retrospective ({len(due)})",
                  [retro_line(i) for i in due]),
        *_section(f"Implemented since the last meeting{since_text} ({len(implemented)})",
                  [implemented_line(i) for i in implemented]),
        *_section(f"Clashing change windows ({len(clashes)})", [clash_line(p) for p in clashes]),
        *(health_section(compare_last_week(health, AGENDA_ROWS), policy)
          if health is not None else []),
    )
    return CabAgenda(
        meeting=meeting,
        awaiting_approval=tuple(i.change.key for i in awaiting),
        awaiting_retrospective=tuple(i.change.key for i in retro),
        implemented=tuple(i.change.key for i in implemented),
        clashes=tuple((a.key, b.key) for a, b in clashes),
        body=body,
        freezes=freezes,
        health=health,
    )


def freeze_line(freeze: Freeze, calendar: CabCalendar) -> str:
    """Return one freeze for the agenda: name, kind, from–until in the CAB's zone, reason."""
    what = ("hard: Emergency changes only" if freeze.kind is FreezeKind.HARD
            else "soft: other changes need a freeze exception")
    reason = f" · {freeze.reason}" if freeze.reason else ""
    return (f"{freeze.name} ({what}) · {when(freeze.start, calendar)} – "
            f"{when(freeze.end, calendar)}{reason}")


def health_section(comparison: HealthComparison, policy: Policy) -> list[ADF]:
    """Return the health section: last week against the weeks before, a table row a measure."""
    heading = (f"{HEALTH_HEADING}: week of {comparison.week.day} {comparison.week:%b %Y} "
               f"against {since_text(comparison)}")
    hours = comparison.retrospective_hours
    return [_heading(heading),
            table(HEALTH_COLUMNS, [health_cells(row, policy, hours) for row in comparison.rows])]


def with_chart_link(agenda: CabAgenda, url: str) -> CabAgenda:
    """Return the agenda with a link to its chart under the health section's heading."""
    content = list(agenda.body["content"])
    at = next((index for index, node in enumerate(content) if node.get("type") == "heading"
               and adf_to_text(node) is not None
               and str(adf_to_text(node)).startswith(HEALTH_HEADING)), None)
    if at is None:
        return agenda
    link = {"type": "text", "text": CHART_TEXT,
            "marks": [{"type": "link", "attrs": {"href": url}}]}
    content.insert(at + 1, paragraph(link))
    return dataclasses.replace(agenda, body={**agenda.body, "content": content})



def _heading(heading: str) -> ADF:
    return {"type": "heading", "attrs": {"level": 3}, "content": [text(heading)]}


def _section(heading: str, lines: list[list[ADF]]) -> list[ADF]:
    head = _heading(heading)
    if not lines:
        return [head, paragraph(text(NONE_LISTED))]
    return [head, {"type": "bulletList",
                   "content": [{"type": "listItem", "content": [paragraph(*line)]}
                               for line in lines]}]


def _person(account_id: str | None) -> list[ADF]:
    return [mention(account_id)] if account_id else [text("not set")]


def _window(cr: ChangeRequest, calendar: CabCalendar) -> str:
    start, end = _start(cr), _end(cr)
    if start is None or end is None:
        return "not set"
    opening, closing = when(start, calendar), when(end, calendar)
    if opening[:-6] == closing[:-6]:  # same day: "Tue 1 Dec 2026 10:00–11:00"
        return f"{opening}–{closing[-5:]}"
    return f"{opening} – {closing}"


def _start(cr: ChangeRequest) -> datetime | None:
    return cr.datetime_of(FieldRole.PLANNED_START)


def _end(cr: ChangeRequest) -> datetime | None:
    return cr.datetime_of(FieldRole.PLANNED_END)


def _key_order(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return (project, int(number)) if number.isdigit() else (key, 0)
