"""Parse the change policy (TOML text) into typed, validated, frozen objects."""

from __future__ import annotations

import dataclasses
import enum
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any


# Jira's project key format: a capital letter, then capitals, digits or underscores.
PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]+")
# Without a [deploy] table: deploys to "production" wait for an approved change.
DEFAULT_DEPLOY: Mapping[str, Any] = {"environments": ["production"]}
# A change made from a Standard template is planned for this long unless the template says.
DEFAULT_WINDOW_HOURS = 2
TEMPLATE_TEXTS = ("description", "deployment_plan", "rollback_plan", "risk_assessment")
TEMPLATE_KEYS = ("change_type", *TEMPLATE_TEXTS, "risk_level", "window_hours", "pre_approved")
FREEZE_KEYS = ("issue_type", "kind_field", "reason_field", "kind_values", "recurring")
RECURRING_KEYS = ("name", "rrule", "duration", "timezone", "kind", "reason")
# ISO 8601 durations as RFC 5545 writes them: weeks alone, or days and/or a time part.
ISO_DURATION = re.compile(r"P(?:(\d+)W|(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?)")
# RFC 5545 RRULE parts a freeze may use; a freeze recurs at most daily (and COUNT would count
# from the rule's fixed anchor, not from anything the reader sees: UNTIL says it plainly).
RRULE_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
WEEKDAY = r"(?:MO|TU|WE|TH|FR|SA|SU)"
RRULE_PARTS = {
    "FREQ": re.compile("|".join(RRULE_FREQS)),
    "UNTIL": re.compile(r"\d{8}(?:T\d{6})?"),
    "INTERVAL": re.compile(r"[1-9]\d{0,3}"),
    "BYSECOND": re.compile(r"(?:[0-5]?\d|60)(?:,(?:[0-5]?\d|60))*"),
    "BYMINUTE": re.compile(r"[0-5]?\d(?:,[0-5]?\d)*"),
    "BYHOUR": re.compile(r"(?:[01]?\d|2[0-3])(?:,(?:[01]?\d|2[0-3]))*"),
    "BYDAY": re.compile(rf"(?:[+-]?(?:[1-9]|[1-4]\d|5[0-3]))?{WEEKDAY}"
                        rf"(?:,(?:[+-]?(?:[1-9]|[1-4]\d|5[0-3]))?{WEEKDAY})*"),
    "BYMONTHDAY": re.compile(r"[+-]?(?:[1-9]|[12]\d|3[01])(?:,[+-]?(?:[1-9]|[12]\d|3[01]))*"),
    "BYYEARDAY": re.compile(r"[+-]?\d{1,3}(?:,[+-]?\d{1,3})*"),
    "BYWEEKNO": re.compile(r"[+-]?(?:[1-9]|[1-4]\d|5[0-3])(?:,[+-]?(?:[1-9]|[1-4]\d|5[0-3]))*"),
    "BYMONTH": re.compile(r"(?:[1-9]|1[0-2])(?:,(?:[1-9]|1[0-2]))*"),
    "BYSETPOS": re.compile(r"[+-]?\d{1,3}(?:,[+-]?\d{1,3})*"),
    "WKST": re.compile(WEEKDAY),
}
RRULE_HINTS = {
    "FREQ": f"FREQ must be one of {', '.join(RRULE_FREQS)} (a freeze recurs at most daily)",
    "UNTIL": "UNTIL must be a local date or date-time in the freeze's time zone, e.g. "
             "20271231 or 20271231T235959 (no Z)",
}


class PolicyError(ValueError):
    """The policy file is wrong; the message names the file, the line or key, and why."""


class FieldRole(str, enum.Enum):
    """The fields a change request carries, by the part they play in the policy."""

    DESCRIPTION = "description"
    CATEGORY = "category"
    CHANGE_TYPE = "change_type"
    DEPLOYMENT_PLAN = "deployment_plan"
    ROLLBACK_PLAN = "rollback_plan"
    RISK_ASSESSMENT = "risk_assessment"
    RISK_LEVEL = "risk_level"
    STANDARD_TEMPLATE = "standard_template"
    PLANNED_START = "planned_start"
    PLANNED_END = "planned_end"
    INCIDENT_COMMANDER = "incident_commander"
    OUTCOME = "outcome"
    RETROSPECTIVE = "retrospective"


class FreezeFieldRole(str, enum.Enum):
    """The fields of a one-off freeze declared in Jira, beyond Planned Start and Planned End."""

    KIND = "kind"
    REASON = "reason"


class FreezeKind(str, enum.Enum):
    """What a freeze lets through: hard, only Emergency changes; soft, also an excepted change."""

    HARD = "hard"
    SOFT = "soft"


class StatusRole(str, enum.Enum):
    """The statuses of the change workflow, by the part they play in the policy."""

    DRAFT = "draft"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    IMPLEMENTING = "implementing"
    IMPLEMENTED = "implemented"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Category(str, enum.Enum):
    """The three change categories."""

    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class GroupRole(str, enum.Enum):
    """The Jira groups that hold approval rights."""

    TEAM_LEADS = "team_leads"
    CAB = "cab"
    HEAD_OF_ENGINEERING = "head_of_engineering"
    INCIDENT_COMMANDERS = "incident_commanders"


@dataclasses.dataclass(frozen=True)
class CabPolicy:
    """When the CAB meets and where its agenda goes."""

    epic_key: str
    meeting_rrule: str
    timezone: str
    agenda_hours_before: int
    retrospective_due_hours: int


@dataclasses.dataclass(frozen=True)
class DeployPolicy:
    """Which deployment environments wait for an approved change (the deployment gate)."""

    environments: tuple[str, ...]

    def gates(self, environment: str) -> bool:
        """Tell whether deploying to ``environment`` needs an approved change (case ignored:
        GitHub's environment names are case-insensitive, and missing "Production" is a hole)."""
        wanted = environment.strip().casefold()
        return any(name.strip().casefold() == wanted for name in self.environments)


@dataclasses.dataclass(frozen=True)
class RecurringFreeze:
    """A freeze the policy declares by a calendar rule, e.g. every Friday 15:00 to Monday 08:00.

    ``rrule`` (RFC 5545) is expanded in wall-clock time in ``timezone``, and ``duration`` is
    wall-clock time too: "Friday 15:00 plus 65 hours" ends Monday 08:00 on the clock, whatever
    the clocks did that weekend. Parts the rule leaves out come from Monday 1 January 2024,
    00:00 (like the CAB's meeting rule).
    """

    name: str
    rrule: str
    duration: timedelta
    timezone: str
    kind: FreezeKind
    reason: str


@dataclasses.dataclass(frozen=True)
class FreezePolicy:
    """Change freezes: the recurring ones, and how one-off freezes are declared in Jira.

    ``issue_type`` None: one-off freezes are not read from Jira (policy files written before
    freezes). ``field_names`` holds the kind field and, when the policy names one, the reason
    field; without it a one-off freeze's reason is its summary.
    """

    issue_type: str | None
    field_names: Mapping[FreezeFieldRole, str]
    kind_values: Mapping[FreezeKind, str]
    recurring: tuple[RecurringFreeze, ...]

    def kind_of(self, value: str | None) -> FreezeKind | None:
        """Return the freeze kind whose option value is ``value``, if any."""
        for kind, option in self.kind_values.items():
            if option == value:
                return kind
        return None


# Without a [freezes] table: no recurring freezes, none declared in Jira.
NO_FREEZES = FreezePolicy(issue_type=None, field_names={},
                          kind_values={FreezeKind.HARD: "Hard", FreezeKind.SOFT: "Soft"},
                          recurring=())


@dataclasses.dataclass(frozen=True)
class StandardTemplate:
    """A Standard template's content: what a change made from it says, and if it is pre-approved.

    ``pre_approved``: a change that follows the template needs no team lead's approval.
    """

    name: str
    change_type: str
    description: str
    deployment_plan: str
    rollback_plan: str
    risk_assessment: str
    risk_level: str | None = None
    window_hours: int = DEFAULT_WINDOW_HOURS
    pre_approved: bool = False


@dataclasses.dataclass(frozen=True)
class Policy:
    """The whole change policy, as names people see in Jira."""

    source: str
    scope_issue_type: str
    scope_jql: str
    scope_project_keys: tuple[str, ...]
    field_names: Mapping[FieldRole, str]
    status_names: Mapping[StatusRole, str]
    category_values: Mapping[Category, str]
    change_types: tuple[str, ...]
    emergency_only_change_types: frozenset[str]
    risk_levels: tuple[str, ...]
    outcomes: tuple[str, ...]
    standard_templates: tuple[str, ...]
    # The templates whose content the policy gives ([standard_templates.templates."<name>"]).
    template_specs: Mapping[str, StandardTemplate]
    min_text_length: int
    long_text_fields: frozenset[FieldRole]
    placeholders: frozenset[str]
    group_names: Mapping[GroupRole, str]
    allowed_moves: frozenset[tuple[StatusRole, StatusRole]]
    way_back_moves: frozenset[tuple[StatusRole, StatusRole]]
    cab: CabPolicy
    deploy: DeployPolicy
    slack_channel: str
    slack_users: Mapping[str, str]
    violation_label: str
    retro_overdue_label: str
    freezes: FreezePolicy = NO_FREEZES

    def field_name(self, role: FieldRole) -> str:
        """Return the Jira name of the field playing ``role``."""
        return self.field_names[role]

    def scoped_jql(self, condition: str, order_by: str = "") -> str:
        """Return JQL for ``condition`` among the changes in scope (the scope in parentheses)."""
        return f"({self.scope_jql}) AND {condition}" + (f" ORDER BY {order_by}" if order_by else "")

    def template_spec(self, name: str | None) -> StandardTemplate | None:
        """Return the content the policy gives the catalog template ``name``, if any."""
        return self.template_specs.get(name) if name is not None else None

    def category_of(self, value: str | None) -> Category | None:
        """Return the category whose option value is ``value``, if any."""
        for category, option in self.category_values.items():
            if option == value:
                return category
        return None


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate policy TOML; raise PolicyError naming ``source``, line or key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from exc
    reader = _Reader(data, source)
    scope = reader.table("scope")
    fields = reader.table("fields")
    statuses = reader.table("statuses")
    categories = reader.table("categories")
    change_types = reader.table("change_types")
    filled = reader.table("filled")
    groups = reader.table("groups")
    workflow = reader.table("workflow")
    cab = reader.table("cab")
    slack = reader.table("slack")
    labels = reader.table("labels")
    # Optional, so that policy files written before the deployment gate keep loading.
    deploy = reader.table("deploy") if "deploy" in reader.data else DEFAULT_DEPLOY

    field_names = reader.role_map(fields, "fields", FieldRole)
    status_names = reader.role_map(statuses, "statuses", StatusRole)
    category_values = reader.role_map(categories, "categories", Category)
    group_names = reader.role_map(groups, "groups", GroupRole)
    reader.distinct(status_names, "statuses")
    reader.distinct(category_values, "categories")

    type_values = reader.strings(change_types, "change_types", "values")
    emergency_only = reader.strings(change_types, "change_types", "emergency_only", allow_empty=True)
    for value in emergency_only:
        if value not in type_values:
            raise PolicyError(
                f"{source}: change_types.emergency_only: {value!r} is not one of change_types.values"
            )

    long_text = []
    for name in reader.strings(filled, "filled", "long_text_fields", allow_empty=True):
        try:
            long_text.append(FieldRole(name))
        except ValueError:
            raise PolicyError(
                f"{source}: filled.long_text_fields: {name!r} is not a field role "
                f"(one of: {', '.join(r.value for r in FieldRole)})"
            ) from None
    min_length = reader.integer(filled, "filled", "min_text_length", minimum=0)

    moves = reader.moves(workflow, "allowed")
    way_back = reader.moves(workflow, "way_back")

    project_keys = (reader.strings(scope, "scope", "project_keys") if "project_keys" in scope
                    else ())
    for key in project_keys:
        if not PROJECT_KEY.fullmatch(key):
            raise reader.fail("scope.project_keys", f"{key!r} is not a Jira project key "
                              "(a capital letter, then capitals, digits or _)")

    standard = reader.table("standard_templates")
    catalog = reader.strings(standard, "standard_templates", "catalog")
    risk_levels = reader.strings(reader.table("risk_levels"), "risk_levels", "values")
    specs = _template_specs(reader, standard, catalog, type_values, frozenset(emergency_only),
                            risk_levels)

    rrule = reader.string(cab, "cab", "meeting_rrule")
    if "FREQ=" not in rrule.upper():
        raise PolicyError(f"{source}: cab.meeting_rrule: {rrule!r} is not an RFC 5545 RRULE (no FREQ=)")
    cab_zone = reader.string(cab, "cab", "timezone")
    # Optional, so that policy files written before freezes keep loading.
    freezes = (_freeze_policy(reader, reader.table("freezes"), cab_zone)
               if "freezes" in reader.data else NO_FREEZES)

    return Policy(
        source=source,
        scope_issue_type=reader.string(scope, "scope", "issue_type"),
        scope_jql=reader.string(scope, "scope", "jql"),
        scope_project_keys=project_keys,
        field_names=field_names,
        status_names=status_names,
        category_values=category_values,
        change_types=type_values,
        emergency_only_change_types=frozenset(emergency_only),
        risk_levels=risk_levels,
        outcomes=reader.strings(reader.table("outcomes"), "outcomes", "values"),
        standard_templates=catalog,
        template_specs=specs,
        min_text_length=min_length,
        long_text_fields=frozenset(long_text),
        placeholders=frozenset(
            p.strip().lower()
            for p in reader.strings(filled, "filled", "placeholders", allow_empty=True)
        ),
        group_names=group_names,
        allowed_moves=moves,
        way_back_moves=way_back,
        cab=CabPolicy(
            epic_key=reader.string(cab, "cab", "epic_key"),
            meeting_rrule=rrule,
            timezone=cab_zone,
            agenda_hours_before=reader.integer(cab, "cab", "agenda_hours_before", minimum=1),
            retrospective_due_hours=reader.integer(cab, "cab", "retrospective_due_hours", minimum=1),
        ),
        deploy=DeployPolicy(environments=reader.strings(deploy, "deploy", "environments")),
        slack_channel=reader.string(slack, "slack", "channel"),
        slack_users=reader.string_map(slack, "slack", "users"),
        violation_label=reader.string(labels, "labels", "violation"),
        retro_overdue_label=reader.string(labels, "labels", "retro_overdue"),
        freezes=freezes,
    )


def _template_specs(reader: _Reader, standard: Mapping[str, Any], catalog: tuple[str, ...],
                    change_types: tuple[str, ...], emergency_only: frozenset[str],
                    risk_levels: tuple[str, ...]) -> dict[str, StandardTemplate]:
    """Read the optional [standard_templates.templates."<name>"] tables, one per template."""
    tables = standard.get("templates", {})
    if not isinstance(tables, dict):
        raise reader.fail("standard_templates.templates",
                          'expected tables, one per template: [standard_templates.templates."'
                          f'{catalog[0]}"]')
    specs = {}
    for name, table in tables.items():
        prefix = f'standard_templates.templates."{name}"'
        if name not in catalog:
            raise reader.fail(prefix, f"{name!r} is not in standard_templates.catalog "
                              f"({', '.join(catalog)})")
        if not isinstance(table, dict):
            raise reader.fail(prefix, "expected a table")
        unknown = sorted(set(table) - set(TEMPLATE_KEYS))
        if unknown:
            raise reader.fail(f"{prefix}.{unknown[0]}",
                              f"unknown key (expected: {', '.join(TEMPLATE_KEYS)})")
        change_type = reader.string(table, prefix, "change_type")
        if change_type not in change_types or change_type in emergency_only:
            raise reader.fail(f"{prefix}.change_type", f"{change_type!r} is not a change type a "
                              "Standard change may have (change_types.values, less "
                              "change_types.emergency_only)")
        risk_level = table.get("risk_level")
        if risk_level is not None and risk_level not in risk_levels:
            raise reader.fail(f"{prefix}.risk_level",
                              f"{risk_level!r} is not one of risk_levels.values")
        pre_approved = table.get("pre_approved", False)
        if not isinstance(pre_approved, bool):
            raise reader.fail(f"{prefix}.pre_approved",
                              f"expected true or false, got {pre_approved!r}")
        window = (reader.integer(table, prefix, "window_hours", minimum=1)
                  if "window_hours" in table else DEFAULT_WINDOW_HOURS)
        texts = {key: reader.string(table, prefix, key) for key in TEMPLATE_TEXTS}
        specs[name] = StandardTemplate(name=name, change_type=change_type, risk_level=risk_level,
                                       window_hours=window, pre_approved=pre_approved, **texts)
    return specs


def _freeze_policy(reader: _Reader, table: Mapping[str, Any], cab_zone: str) -> FreezePolicy:
    """Read [freezes]: the Jira issue type and fields of one-off freezes, and the recurring ones."""
    reader.known_keys(table, "freezes", FREEZE_KEYS)
    issue_type = reader.string(table, "freezes", "issue_type") if "issue_type" in table else None
    field_names = {}
    if issue_type is not None:
        field_names[FreezeFieldRole.KIND] = reader.string(table, "freezes", "kind_field")
    elif "kind_field" in table:
        raise reader.fail("freezes.kind_field", "set freezes.issue_type too: the kind field "
                          "belongs to the issue type of one-off freezes")
    if "reason_field" in table:
        field_names[FreezeFieldRole.REASON] = reader.string(table, "freezes", "reason_field")
        if issue_type is None:
            raise reader.fail("freezes.reason_field", "set freezes.issue_type too: the reason "
                              "field belongs to the issue type of one-off freezes")
    kind_values = dict(NO_FREEZES.kind_values)
    if "kind_values" in table:
        values = table["kind_values"]
        if not isinstance(values, dict):
            raise reader.fail("freezes.kind_values", 'expected a table: { hard = "Hard", '
                              'soft = "Soft" }')
        kind_values = reader.role_map(values, "freezes.kind_values", FreezeKind)
        reader.distinct(kind_values, "freezes.kind_values")
    entries = table.get("recurring", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise reader.fail("freezes.recurring", "expected [[freezes.recurring]] tables, one per "
                          "recurring freeze")
    recurring = tuple(_recurring_freeze(reader, entry, index, cab_zone)
                      for index, entry in enumerate(entries))
    names = [freeze.name for freeze in recurring]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise reader.fail(f"freezes.recurring[{index}].name",
                              f"{name!r} names another recurring freeze too")
    return FreezePolicy(issue_type=issue_type, field_names=field_names, kind_values=kind_values,
                        recurring=recurring)


def _recurring_freeze(reader: _Reader, entry: Mapping[str, Any], index: int,
                      cab_zone: str) -> RecurringFreeze:
    """Read one [[freezes.recurring]] entry; errors name it by its place and its name."""
    where = f"freezes.recurring[{index}]"
    reader.known_keys(entry, where, RECURRING_KEYS)
    name = reader.string(entry, where, "name")
    where = f'{where} ("{name}")'
    rrule = reader.string(entry, where, "rrule")
    problem = rrule_problem(rrule)
    if problem:
        raise reader.fail(f"{where}.rrule", f"{rrule!r} is not a usable RFC 5545 RRULE: {problem}")
    kind = reader.string(entry, where, "kind")
    if kind not in {k.value for k in FreezeKind}:
        raise reader.fail(f"{where}.kind", f"expected \"hard\" or \"soft\", got {kind!r}")
    return RecurringFreeze(
        name=name, rrule=rrule, duration=_duration(reader, entry.get("duration"), where),
        timezone=reader.string(entry, where, "timezone") if "timezone" in entry else cab_zone,
        kind=FreezeKind(kind), reason=reader.string(entry, where, "reason"))


def _duration(reader: _Reader, value: Any, where: str) -> timedelta:
    """Read a duration: whole hours, or ISO 8601 like "PT65H", "P9D", "P2DT17H", "P1W"."""
    if isinstance(value, int) and not isinstance(value, bool):
        length = timedelta(hours=value)
    elif isinstance(value, str) and (match := ISO_DURATION.fullmatch(value.strip().upper())) \
            and not value.strip().upper().endswith(("P", "T")):
        weeks, days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
        length = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    else:
        raise reader.fail(f"{where}.duration", 'expected whole hours or an ISO 8601 duration '
                          f'such as "PT65H" or "P9D" (no months or years), got {value!r}')
    if length <= timedelta(0):
        raise reader.fail(f"{where}.duration", f"must be longer than nothing, got {value!r}")
    return length


def rrule_problem(rrule: str) -> str | None:
    """Say what keeps ``rrule`` from being an RFC 5545 RRULE a freeze can use; None if nothing.

    Syntax only: the shell also builds the rule with dateutil when it loads the policy.
    """
    seen: set[str] = set()
    for part in rrule.strip().upper().split(";"):
        name, equals, value = part.partition("=")
        if name == "COUNT":
            return "COUNT would count from the rule's anchor (1 January 2024): end it with UNTIL"
        if name not in RRULE_PARTS:
            return f"{part!r} is not a rule part ({', '.join(RRULE_PARTS)})"
        if name in seen:
            return f"{name} is given twice"
        seen.add(name)
        if not equals or not RRULE_PARTS[name].fullmatch(value):
            return RRULE_HINTS.get(name, f"{name}={value} is not a valid value")
    if "FREQ" not in seen:
        return "no FREQ"
    return None


class _Reader:
    """Typed access to the parsed TOML, with errors that name the key."""

    def __init__(self, data: Mapping[str, Any], source: str):
        self.data = data
        self.source = source

    def fail(self, key: str, reason: str) -> PolicyError:
        return PolicyError(f"{self.source}: {key}: {reason}")

    def table(self, name: str) -> Mapping[str, Any]:
        value = self.data.get(name)
        if not isinstance(value, dict):
            raise self.fail(f"[{name}]", "missing table" if value is None else "expected a table")
        return value

    def string(self, table: Mapping[str, Any], prefix: str, key: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{prefix}.{key}", "expected a non-empty string" if value is None or isinstance(value, str) else f"expected a string, got {type(value).__name__}")
        return value

    def integer(self, table: Mapping[str, Any], prefix: str, key: str, minimum: int) -> int:
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(f"{prefix}.{key}", f"expected a whole number >= {minimum}, got {value!r}")
        return value

    def strings(
        self, table: Mapping[str, Any], prefix: str, key: str, allow_empty: bool = False
    ) -> tuple[str, ...]:
        value = table.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(f"{prefix}.{key}", "expected a list of non-empty strings")
        if not value and not allow_empty:
            raise self.fail(f"{prefix}.{key}", "must not be empty")
        return tuple(value)

    def string_map(self, table: Mapping[str, Any], prefix: str, key: str) -> dict[str, str]:
        value = table.get(key, {})
        if not isinstance(value, dict) or not all(
                isinstance(v, str) and v.strip() for v in value.values()):
            raise self.fail(f"{prefix}.{key}", "expected a table of names to non-empty strings")
        return dict(value)

    def known_keys(self, table: Mapping[str, Any], prefix: str, keys: tuple[str, ...]) -> None:
        unknown = sorted(set(table) - set(keys))
        if unknown:
            raise self.fail(f"{prefix}.{unknown[0]}", f"unknown key (expected: {', '.join(keys)})")

    def role_map(self, table: Mapping[str, Any], prefix: str, roles: type[enum.Enum]) -> dict:
        result = {}
        for key in table:
            if key not in {r.value for r in roles}:
                raise self.fail(
                    f"{prefix}.{key}",
                    f"unknown key (expected: {', '.join(r.value for r in roles)})",
                )
        for role in roles:
            result[role] = self.string(table, prefix, role.value)
        return result

    def moves(self, table: Mapping[str, Any], key: str) -> frozenset[tuple[StatusRole, StatusRole]]:
        raw_moves = table.get(key)
        if not isinstance(raw_moves, list) or not raw_moves:
            raise self.fail(f"workflow.{key}", "expected a list of [from, to] status roles")
        moves = set()
        for index, move in enumerate(raw_moves):
            where = f"workflow.{key}[{index}]"
            if not (isinstance(move, list) and len(move) == 2
                    and all(isinstance(s, str) for s in move)):
                raise self.fail(where, f"expected [from, to], got {move!r}")
            try:
                moves.add((StatusRole(move[0]), StatusRole(move[1])))
            except ValueError:
                raise self.fail(where, f"{move!r} names an unknown status role "
                                f"(one of: {', '.join(r.value for r in StatusRole)})") from None
        return frozenset(moves)

    def distinct(self, mapping: Mapping[Any, str], prefix: str) -> None:
        seen: dict[str, Any] = {}
        for role, name in mapping.items():
            if name in seen:
                raise self.fail(
                    f"{prefix}.{role.value}", f"{name!r} is also used by {prefix}.{seen[name].value}"
                )
            seen[name] = role
