"""Change health from Jira alone: deployments, failures, lead times and restores, week by week."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from .approvals import ApprovalRole
from .change_history import HistoryEntry, parse_history
from .change_request import ChangeRequest, SnapshotError, fields_to_fetch, parse_change_request
from .deployment import PROPERTY_KEY as DEPLOYMENTS_KEY
from .deployment import LET_THROUGH, DeployResult, outcome_for, parse_deployments
from .emergency_retrospective import parse_jira_time
from .issue_record import PROPERTY_KEY as RECORD_KEY
from .issue_record import parse_record
from .policy import Category, FieldRole, Policy, StatusRole
from .site_map import SiteMap

WEEK = timedelta(days=7)
# An Emergency change created this long after a deployment, linked to its change, failed it.
CAUSED_BY_WINDOW = timedelta(days=7)
# The link label an Emergency change shows for the change that caused it (Jira's "Causes" type).
CAUSED_BY_PHRASE = "is caused by"
BASELINE_WEEKS = 12
FAILED_OUTCOMES = frozenset({DeployResult.FAILURE, DeployResult.ROLLED_BACK})
# The table's scopes: every change (None), then each category.
SCOPES: tuple[Category | None, ...] = (None, Category.STANDARD, Category.NORMAL,
                                       Category.EMERGENCY)
ALL_CHANGES = "All changes"
NO_VALUE = "-"
# What the facts need besides a snapshot's fields, and the issue properties they read.
HEALTH_FIELDS = ("created", "issuelinks")
HEALTH_PROPERTIES = (RECORD_KEY, DEPLOYMENTS_KEY)
PRODUCTION_ROLES = frozenset({StatusRole.IMPLEMENTING, StatusRole.IMPLEMENTED})


@dataclasses.dataclass(frozen=True)
class Implementation:
    """One move of a change into Implemented that stood, and the approval it went out on."""

    at: datetime
    approved_at: datetime | None  # the last approval that stood before it (None: none seen)


@dataclasses.dataclass(frozen=True)
class ChangeFacts:
    """What change health needs of one change, read from its fields, changelog and records."""

    key: str
    category: Category | None
    created: datetime
    implementations: tuple[Implementation, ...] = ()  # oldest first
    closed: tuple[datetime, ...] = ()  # moves into Closed that stood, oldest first
    outcome: DeployResult | None = None  # the Outcome as it is now
    caused_by: tuple[str, ...] = ()  # keys this change links to as "is caused by"
    freeze_exception: bool = False  # the Head of Engineering let it through a freeze
    gate_deployments: tuple[datetime, ...] = ()  # deployments the gate let through

    @property
    def emergency(self) -> bool:
        """Tell whether this is an Emergency change."""
        return self.category is Category.EMERGENCY


def facts_from_issue(issue: Mapping[str, Any], site: SiteMap, policy: Policy, *,
                     histories: Sequence[Any] | None = None, freeze_exception: bool = False,
                     caused_by_phrase: str = CAUSED_BY_PHRASE,
                     change: ChangeRequest | None = None) -> ChangeFacts:
    """Return a change's facts from a REST issue (fields incl. ``created`` and ``issuelinks``,
    and the ``changeguard.deployments`` property when asked for) and its whole changelog.

    ``histories`` are every changelog history, gathered over as many pages as it takes (the
    issue's own expanded changelog is used when not given); overlapping pages do no harm.
    A freeze exception is read from the ``changeguard`` property when the issue brings it
    (or given as ``freeze_exception``). Raise SnapshotError for an issue without a key, status
    or readable ``created``. ``change`` is the snapshot already parsed from ``issue``, if any.
    """
    change = change if change is not None else parse_change_request(issue, site)
    fields = issue["fields"]
    created_text = fields.get("created")
    created = parse_jira_time(created_text) if isinstance(created_text, str) else None
    if created is None:
        raise SnapshotError(f"{change.key}: the issue has no readable 'created' time")
    changelog = issue if histories is None else {"changelog": {"histories": list(histories)}}
    history = tuple({entry.id: entry for entry in parse_history(changelog, site)}.values())
    implementations: list[Implementation] = []
    closed: list[datetime] = []
    approved_at: datetime | None = None
    for move in standing_moves(history, site.bot_account_id):
        at = parse_jira_time(move.at)
        role = site.status_role(move.to_status_id)
        if at is None:
            continue
        if role is StatusRole.APPROVED and (site.status_role(move.from_status_id)
                                            is StatusRole.AWAITING_APPROVAL):
            approved_at = at
        elif role is StatusRole.IMPLEMENTED:
            implementations.append(Implementation(at, approved_at))
        elif role is StatusRole.CLOSED:
            closed.append(at)
    outcome = change.option(FieldRole.OUTCOME)
    properties = issue.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    gate = parse_deployments(properties.get(DEPLOYMENTS_KEY))
    return ChangeFacts(
        key=change.key,
        category=policy.category_of(change.option(FieldRole.CATEGORY)),
        created=created,
        implementations=tuple(implementations),
        closed=tuple(closed),
        outcome=next((result for result in DeployResult
                      if outcome is not None and outcome_for(result, policy.outcomes) == outcome),
                     None),
        caused_by=caused_by_keys(fields, caused_by_phrase),
        freeze_exception=freeze_exception or has_freeze_exception(properties.get(RECORD_KEY)),
        gate_deployments=tuple(sorted(at for at in (_moment(e.at) for e in gate.entries
                                                     if e.state in LET_THROUGH)
                                      if at is not None)),
    )


def health_fields_to_fetch(site: SiteMap) -> tuple[str, ...]:
    """Return the field ids the facts of a change need, for a search's ``fields``."""
    return (*fields_to_fetch(site), *HEALTH_FIELDS)


def has_freeze_exception(record: Any) -> bool:
    """Tell whether a ``changeguard`` property value holds a freeze exception for the change."""
    return any(approval.role is ApprovalRole.FREEZE_EXCEPTION
               for approval in parse_record(record).approvals.approvals)


def needs_whole_changelog(issue: Mapping[str, Any], site: SiteMap, since: datetime) -> bool:
    """Tell whether a searched issue's changelog, cut short at its latest histories, may lack
    what counts from ``since`` on: its earliest history is not before ``since`` (the ones in
    between are missing), or it moves into Implementing or Implemented from ``since`` on (the
    approval it went out on may be missing). A whole changelog needs nothing more."""
    changelog = issue.get("changelog")
    histories = changelog.get("histories") if isinstance(changelog, Mapping) else None
    total = changelog.get("total") if isinstance(changelog, Mapping) else None
    if not isinstance(histories, list) or not isinstance(total, int) or total <= len(histories):
        return False
    entries = parse_history(issue, site)
    moments = [parse_jira_time(entry.at) for entry in entries]
    known = [moment for moment in moments if moment is not None]
    return not known or min(known) >= since or went_to_production_since(entries, site, since)


def went_to_production_since(history: Iterable[HistoryEntry], site: SiteMap,
                             since: datetime) -> bool:
    """Tell whether a changelog moves into Implementing or Implemented at or after ``since``
    (by anyone: the deployment gate moves changes itself)."""
    return any(site.status_role(entry.to_status_id) in PRODUCTION_ROLES
               and (at := parse_jira_time(entry.at)) is not None and at >= since
               for entry in history)


def standing_moves(history: tuple[HistoryEntry, ...], bot: str) -> tuple[HistoryEntry, ...]:
    """Return the status moves that stood, oldest first: a person's move that changeguard
    reverted at once (its next status move, back to where it came from) is left out, and so is
    the revert. Moves Jira had no way back from stand (changeguard flags them instead)."""
    moves = [entry for entry in history if entry.to_status_id is not None]
    undone: set[int] = set()
    for move, following in zip(moves, moves[1:]):
        if (move.actor != bot and following.actor == bot
                and following.from_status_id == move.to_status_id
                and following.to_status_id == move.from_status_id):
            undone.update((move.id, following.id))
    return tuple(move for move in moves if move.id not in undone)


def caused_by_keys(fields: Mapping[str, Any], phrase: str = CAUSED_BY_PHRASE) -> tuple[str, ...]:
    """Return the keys an issue's links label with ``phrase`` (case ignored), in link order.

    Jira labels a link on an issue with its type's ``inward`` text when the link gives an
    ``inwardIssue``, and its ``outward`` text for an ``outwardIssue``.
    """
    links = fields.get("issuelinks")
    keys: list[str] = []
    for link in links if isinstance(links, list) else ():
        kind = link.get("type") if isinstance(link, Mapping) else None
        if not isinstance(kind, Mapping):
            continue
        for side, label in (("inwardIssue", "inward"), ("outwardIssue", "outward")):
            other = link.get(side)
            key = other.get("key") if isinstance(other, Mapping) else None
            if (isinstance(key, str) and key not in keys
                    and str(kind.get(label, "")).casefold() == phrase.casefold()):
                keys.append(key)
    return tuple(keys)


def _moment(value: str) -> datetime | None:
    """Parse Jira's time form or ISO 8601 with an offset (the gate's record); None otherwise."""
    parsed = parse_jira_time(value)
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else None


@dataclasses.dataclass(frozen=True)
class WeekHealth:
    """One week's numbers for one scope (every change, or one category)."""

    deployments: int = 0
    failures: int = 0
    lead_time_to_approval: timedelta | None = None  # median, created → Approved
    lead_time_to_implemented: timedelta | None = None  # median, Approved → Implemented
    time_to_restore: timedelta | None = None  # median, Emergency created → first Implemented
    emergency_deployments: int = 0
    retrospectives_due: int = 0
    retrospectives_on_time: int = 0
    freeze_exceptions: int = 0
    gate_deployments: int = 0

    @property
    def change_failure_rate(self) -> float | None:
        """Return failures ÷ deployments (None without deployments)."""
        return self.failures / self.deployments if self.deployments else None

    @property
    def emergency_share(self) -> float | None:
        """Return the share of deployments that were Emergency changes."""
        return self.emergency_deployments / self.deployments if self.deployments else None

    @property
    def retrospectives_on_time_share(self) -> float | None:
        """Return the share of due retrospectives done in time (None when none was due)."""
        return (self.retrospectives_on_time / self.retrospectives_due
                if self.retrospectives_due else None)


@dataclasses.dataclass(frozen=True)
class HealthTable:
    """The numbers of each week (Monday, in the CAB's time zone) and scope, oldest week first."""

    weeks: tuple[date, ...]
    cells: Mapping[tuple[date, Category | None], WeekHealth]
    retrospective_hours: int

    def cell(self, week: date, scope: Category | None = None) -> WeekHealth:
        """Return one week's numbers for every change (None) or one category."""
        return self.cells[(week, scope)]


def week_of(moment: datetime, tz: tzinfo) -> date:
    """Return the Monday that starts ``moment``'s ISO week in time zone ``tz``."""
    local = moment.astimezone(tz).date()
    return local - timedelta(days=local.weekday())


def weeks_before(now: datetime, count: int, tz: tzinfo) -> tuple[date, ...]:
    """Return the ``count`` whole weeks before the one holding ``now``, oldest first."""
    this_week = week_of(now, tz)
    return tuple(this_week - WEEK * back for back in range(count, 0, -1))


@dataclasses.dataclass
class _Tally:
    deployments: int = 0
    failures: int = 0
    to_approval: list[timedelta] = dataclasses.field(default_factory=list)
    to_implemented: list[timedelta] = dataclasses.field(default_factory=list)
    to_restore: list[timedelta] = dataclasses.field(default_factory=list)
    emergency: int = 0
    retros_due: int = 0
    retros_on_time: int = 0
    freeze_exceptions: int = 0
    gate: int = 0

    def health(self) -> WeekHealth:
        return WeekHealth(self.deployments, self.failures, median(self.to_approval),
                          median(self.to_implemented), median(self.to_restore), self.emergency,
                          self.retros_due, self.retros_on_time, self.freeze_exceptions, self.gate)


def weekly_health(facts: Iterable[ChangeFacts], weeks: Sequence[date], tz: tzinfo, *,
                  now: datetime, retrospective_hours: int = 48) -> HealthTable:
    """Count each week's deployments, failures, lead times, restores and retrospectives.

    ``weeks`` are Mondays in ``tz`` (the CAB's zone); each counts what happened from its
    Monday 00:00 to the next. A retrospective not done whose deadline is after ``now`` is not
    due yet, so neither counts. Facts with the same key: the last one counts.
    """
    if not weeks or any(week.weekday() != 0 for week in weeks):
        raise ValueError("weeks must be one or more Mondays")
    ordered = tuple(sorted(set(weeks)))
    by_key = {fact.key: fact for fact in facts}
    tallies = {(week, scope): _Tally() for week in ordered for scope in SCOPES}
    failed = failed_implementations(by_key)
    due_after = timedelta(hours=retrospective_hours)

    def tallies_of(fact: ChangeFacts, moment: datetime) -> list[_Tally]:
        week = week_of(moment, tz)
        scopes = (None, fact.category) if fact.category is not None else (None,)
        return [tallies[(week, scope)] for scope in scopes if (week, scope) in tallies]

    for fact in by_key.values():
        for index, done in enumerate(fact.implementations):
            retro_done = any(done.at <= closed <= done.at + due_after for closed in fact.closed)
            retro_due = retro_done or now >= done.at + due_after
            for tally in tallies_of(fact, done.at):
                tally.deployments += 1
                tally.failures += (fact.key, index) in failed
                tally.freeze_exceptions += fact.freeze_exception
                if done.approved_at is not None:
                    tally.to_approval.append(done.approved_at - fact.created)
                    tally.to_implemented.append(done.at - done.approved_at)
                if fact.emergency:
                    tally.emergency += 1
                    tally.retros_due += retro_due
                    tally.retros_on_time += retro_done
                    if index == 0:
                        tally.to_restore.append(done.at - fact.created)
        for at in fact.gate_deployments:
            for tally in tallies_of(fact, at):
                tally.gate += 1
    return HealthTable(ordered, {cell: tally.health() for cell, tally in tallies.items()},
                       retrospective_hours)


def failed_implementations(by_key: Mapping[str, ChangeFacts]) -> frozenset[tuple[str, int]]:
    """Return the failed deployments as (key, index of the implementation).

    A change whose Outcome is Failed or Rolled Back failed at its latest implementation; an
    Emergency change linked as "is caused by" a change, created within 7 days after one of
    that change's implementations, failed the latest such implementation.
    """
    failed: set[tuple[str, int]] = set()
    for fact in by_key.values():
        if fact.outcome in FAILED_OUTCOMES and fact.implementations:
            failed.add((fact.key, len(fact.implementations) - 1))
        for key in fact.caused_by if fact.emergency else ():
            cause = by_key.get(key) if key != fact.key else None
            before = [(index, done.at) for index, done in enumerate(
                cause.implementations if cause is not None else ()) if done.at <= fact.created]
            if before and fact.created - before[-1][1] <= CAUSED_BY_WINDOW:
                failed.add((key, before[-1][0]))
    return frozenset(failed)


def median(values: Sequence[Any]) -> Any:
    """Return the median (the mean of the middle two for an even count), None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
