"""Change health compared: last week against the 12 before, one trend word a row; text and CSV."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, timedelta

from .change_health import (ALL_CHANGES, BASELINE_WEEKS, HealthTable, NO_VALUE, SCOPES, WeekHealth,
                            median)
from .policy import Category, Policy


class Kind(str, enum.Enum):
    """How a measure is counted, shown and judged steady."""

    COUNT = "count"
    SHARE = "share"
    DURATION = "duration"


class Trend(str, enum.Enum):
    """How last week compares with the weeks before, in the measure's good direction."""

    BETTER = "better"
    WORSE = "worse"
    STEADY = "steady"
    UNKNOWN = "unknown"  # last week or the weeks before have no value to compare


# Steady: within 10% of the baseline, and never less than the kind's floor.
STEADY_FRACTION = 0.10
STEADY_FLOOR = {Kind.COUNT: 1.0, Kind.SHARE: 0.05, Kind.DURATION: 1.0}  # duration in hours


class Measure(str, enum.Enum):
    """The rows of the health comparison."""

    DEPLOYMENTS = "deployments"
    GATE_DEPLOYMENTS = "gate_deployments"
    CHANGE_FAILURE_RATE = "change_failure_rate"
    LEAD_TIME_TO_APPROVAL = "lead_time_to_approval"
    LEAD_TIME_TO_IMPLEMENTED = "lead_time_to_implemented"
    EMERGENCY_SHARE = "emergency_share"
    FREEZE_EXCEPTIONS = "freeze_exceptions"
    TIME_TO_RESTORE = "time_to_restore"
    RETROSPECTIVES_ON_TIME = "retrospectives_on_time"


@dataclasses.dataclass(frozen=True)
class MeasureSpec:
    """What a measure is called, how it is counted, and which way is better."""

    label: str
    kind: Kind
    higher_is_better: bool


MEASURES = {
    Measure.DEPLOYMENTS: MeasureSpec("Deployments (reached Implemented)", Kind.COUNT, True),
    Measure.GATE_DEPLOYMENTS: MeasureSpec("Pipeline deployments through the gate", Kind.COUNT,
                                          True),
    Measure.CHANGE_FAILURE_RATE: MeasureSpec("Change failure rate", Kind.SHARE, False),
    Measure.LEAD_TIME_TO_APPROVAL: MeasureSpec("Lead time, created to Approved (median)",
                                               Kind.DURATION, False),
    Measure.LEAD_TIME_TO_IMPLEMENTED: MeasureSpec("Lead time, Approved to Implemented (median)",
                                                  Kind.DURATION, False),
    Measure.EMERGENCY_SHARE: MeasureSpec("Emergency share of deployments", Kind.SHARE, False),
    Measure.FREEZE_EXCEPTIONS: MeasureSpec("Freeze exceptions", Kind.COUNT, False),
    Measure.TIME_TO_RESTORE: MeasureSpec("Time to restore (median)", Kind.DURATION, False),
    Measure.RETROSPECTIVES_ON_TIME: MeasureSpec("Retrospectives done within {hours} h",
                                                Kind.SHARE, True),
}
PER_CATEGORY = (Measure.DEPLOYMENTS, Measure.CHANGE_FAILURE_RATE, Measure.LEAD_TIME_TO_APPROVAL,
                Measure.LEAD_TIME_TO_IMPLEMENTED)
# Which rows the comparison shows, per scope, in order.
ROWS: tuple[tuple[Category | None, Measure], ...] = (
    *((None, m) for m in (*PER_CATEGORY[:1], Measure.GATE_DEPLOYMENTS, *PER_CATEGORY[1:],
                          Measure.EMERGENCY_SHARE, Measure.FREEZE_EXCEPTIONS)),
    *((Category.STANDARD, m) for m in PER_CATEGORY),
    *((Category.NORMAL, m) for m in PER_CATEGORY),
    *((Category.EMERGENCY, m) for m in (*PER_CATEGORY, Measure.TIME_TO_RESTORE,
                                        Measure.RETROSPECTIVES_ON_TIME)),
)

# The CAB agenda's rows: per category the deployments, failure rate and lead times; every
# change's Emergency share and freeze exceptions; Emergency restores and retrospectives.
_AGENDA_COMMON = (Measure.DEPLOYMENTS, Measure.CHANGE_FAILURE_RATE,
                  Measure.LEAD_TIME_TO_APPROVAL, Measure.LEAD_TIME_TO_IMPLEMENTED)
AGENDA_ROWS: tuple[tuple[Category | None, Measure], ...] = (
    *((None, m) for m in (*_AGENDA_COMMON, Measure.EMERGENCY_SHARE, Measure.FREEZE_EXCEPTIONS)),
    *((Category.STANDARD, m) for m in (*_AGENDA_COMMON, Measure.FREEZE_EXCEPTIONS)),
    *((Category.NORMAL, m) for m in (*_AGENDA_COMMON, Measure.FREEZE_EXCEPTIONS)),
    *((Category.EMERGENCY, m) for m in (*_AGENDA_COMMON, Measure.TIME_TO_RESTORE,
                                        Measure.RETROSPECTIVES_ON_TIME)),
)


def measure_value(health: WeekHealth, measure: Measure) -> float | None:
    """Return a week's value of ``measure``: a count, a share (0–1) or hours."""
    values: dict[Measure, float | timedelta | None] = {
        Measure.DEPLOYMENTS: health.deployments,
        Measure.GATE_DEPLOYMENTS: health.gate_deployments,
        Measure.CHANGE_FAILURE_RATE: health.change_failure_rate,
        Measure.LEAD_TIME_TO_APPROVAL: health.lead_time_to_approval,
        Measure.LEAD_TIME_TO_IMPLEMENTED: health.lead_time_to_implemented,
        Measure.EMERGENCY_SHARE: health.emergency_share,
        Measure.FREEZE_EXCEPTIONS: health.freeze_exceptions,
        Measure.TIME_TO_RESTORE: health.time_to_restore,
        Measure.RETROSPECTIVES_ON_TIME: health.retrospectives_on_time_share,
    }
    value = values[measure]
    if isinstance(value, timedelta):
        return value.total_seconds() / 3600
    return None if value is None else float(value)


@dataclasses.dataclass(frozen=True)
class HealthRow:
    """One row of the comparison: last week's value, the baseline's median, and the trend."""

    scope: Category | None
    measure: Measure
    last_week: float | None
    baseline: float | None
    trend: Trend


@dataclasses.dataclass(frozen=True)
class HealthComparison:
    """Last week against the median of the weeks before it (up to 12)."""

    week: date
    baseline_weeks: tuple[date, ...]
    retrospective_hours: int
    rows: tuple[HealthRow, ...]


def higher_is_better(scope: Category | None, measure: Measure) -> bool:
    """Tell which way is better: more deployments are, except more Emergency changes."""
    if scope is Category.EMERGENCY and measure is Measure.DEPLOYMENTS:
        return False
    return MEASURES[measure].higher_is_better


def trend_of(scope: Category | None, measure: Measure, last_week: float | None,
             baseline: float | None) -> Trend:
    """Judge last week against the baseline: steady within 10% (at least the kind's floor)."""
    if last_week is None or baseline is None:
        return Trend.UNKNOWN
    tolerance = max(STEADY_FLOOR[MEASURES[measure].kind], abs(baseline) * STEADY_FRACTION)
    if abs(last_week - baseline) <= tolerance:
        return Trend.STEADY
    rose = last_week > baseline
    return Trend.BETTER if rose == higher_is_better(scope, measure) else Trend.WORSE


def compare_last_week(table: HealthTable,
                      rows: tuple[tuple[Category | None, Measure], ...] = ROWS
                      ) -> HealthComparison:
    """Compare the table's last week with the median of the up to 12 weeks before it, in
    ``rows`` (scope and measure, in order).

    Weeks without a value (no deployments for a rate, no samples for a median) are left out of
    the median; counts are values in every week, zero included.
    """
    week, baseline_weeks = table.weeks[-1], table.weeks[:-1][-BASELINE_WEEKS:]
    found = []
    for scope, measure in rows:
        last = measure_value(table.cell(week, scope), measure)
        earlier = [value for value in (measure_value(table.cell(w, scope), measure)
                                       for w in baseline_weeks) if value is not None]
        baseline = median(earlier)
        found.append(HealthRow(scope, measure, last, baseline,
                               trend_of(scope, measure, last, baseline)))
    return HealthComparison(week, baseline_weeks, table.retrospective_hours, tuple(found))


def scope_name(scope: Category | None, policy: Policy) -> str:
    """Return the scope as people see it: "All changes", or the category's option value."""
    return ALL_CHANGES if scope is None else policy.category_values[scope]


def measure_label(measure: Measure, retrospective_hours: int) -> str:
    """Return the measure's row label."""
    return MEASURES[measure].label.format(hours=retrospective_hours)


def shown(measure: Measure, value: float | None) -> str:
    """Return a value for people: counts as numbers, shares as percents, durations in h or d."""
    if value is None:
        return NO_VALUE
    kind = MEASURES[measure].kind
    if kind is Kind.SHARE:
        return f"{value:.0%}"
    if kind is Kind.DURATION:
        return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} d"
    return f"{value:g}"


HEALTH_COLUMNS = ("Category", "Measure", "Last week", "Median", "Trend")


def health_cells(row: HealthRow, policy: Policy, retrospective_hours: int) -> tuple[str, ...]:
    """Return one row's cells under HEALTH_COLUMNS: scope, measure, the two values, the trend."""
    return (scope_name(row.scope, policy), measure_label(row.measure, retrospective_hours),
            shown(row.measure, row.last_week), shown(row.measure, row.baseline), row.trend.value)


def health_rows_text(comparison: HealthComparison, policy: Policy) -> str:
    """Return the comparison as a plain-text table, one line per row, columns aligned."""
    since = since_text(comparison)
    lines = [HEALTH_COLUMNS] + [health_cells(row, policy, comparison.retrospective_hours)
                                for row in comparison.rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(HEALTH_COLUMNS))]
    table = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in lines]
    return "\n".join([f"Change health: week of {comparison.week:%d %b %Y} against {since}",
                      *table])


def since_text(comparison: HealthComparison) -> str:
    """Return what last week is compared with, e.g. "the median of the 12 weeks from 1 Sep 2026"."""
    first = comparison.baseline_weeks[0] if comparison.baseline_weeks else None
    if first is None:
        return "no earlier weeks"
    return (f"the median of the {len(comparison.baseline_weeks)} weeks from "
            f"{first:%d %b %Y}")


def weekly_text(table: HealthTable) -> str:
    """Return every change's numbers week by week, one aligned line a week, oldest first."""
    lines = [("Week of", "Deployments", "Failures", "Failure rate", "Emergency")] + [
        (f"{week:%d %b %Y}", str(cell.deployments), str(cell.failures),
         shown(Measure.CHANGE_FAILURE_RATE, cell.change_failure_rate),
         str(cell.emergency_deployments))
        for week, cell in ((week, table.cell(week)) for week in table.weeks)]
    widths = [max(len(line[column]) for line in lines) for column in range(5)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in lines)


CSV_COLUMNS = ("week", "category", "deployments", "failures", "change_failure_rate",
               "lead_time_to_approval_hours", "lead_time_to_implemented_hours",
               "time_to_restore_hours", "emergency_deployments", "emergency_share",
               "retrospectives_due", "retrospectives_on_time", "freeze_exceptions",
               "gate_deployments")


def health_csv(table: HealthTable, policy: Policy) -> str:
    """Return every week and scope as CSV (RFC 4180, header first), for a spreadsheet."""
    lines = [",".join(CSV_COLUMNS)]
    for week in table.weeks:
        for scope in SCOPES:
            cell = table.cell(week, scope)
            values = (week.isoformat(), scope_name(scope, policy), cell.deployments,
                      cell.failures, _number(cell.change_failure_rate),
                      _hours(cell.lead_time_to_approval), _hours(cell.lead_time_to_implemented),
                      _hours(cell.time_to_restore), cell.emergency_deployments,
                      _number(cell.emergency_share), cell.retrospectives_due,
                      cell.retrospectives_on_time, cell.freeze_exceptions, cell.gate_deployments)
            lines.append(",".join(_csv_field(str(value)) for value in values))
    return "\r\n".join(lines) + "\r\n"


def comparison_csv(comparison: HealthComparison, policy: Policy) -> str:
    """Return the comparison as CSV: raw numbers (shares 0–1, durations in hours)."""
    lines = ["category,measure,last_week,median,trend"]
    for row in comparison.rows:
        values = (scope_name(row.scope, policy), row.measure.value, _number(row.last_week),
                  _number(row.baseline), row.trend.value)
        lines.append(",".join(_csv_field(value) for value in values))
    return "\r\n".join(lines) + "\r\n"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}".rstrip("0").rstrip(".")


def _hours(value: timedelta | None) -> str:
    return "" if value is None else _number(value.total_seconds() / 3600)


def _csv_field(value: str) -> str:
    if any(character in value for character in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value
