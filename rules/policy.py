"""Parse the change policy (TOML text) into typed, validated, frozen objects."""

from __future__ import annotations

import dataclasses
import enum
import re
import tomllib
from collections.abc import Mapping
from typing import Any


# Jira's project key format: a capital letter, then capitals, digits or underscores.
PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]+")
# Without a [deploy] table: deploys to "production" wait for an approved change.
DEFAULT_DEPLOY: Mapping[str, Any] = {"environments": ["production"]}
# A change made from a Standard template is planned for this long unless the template says.
DEFAULT_WINDOW_HOURS = 2
TEMPLATE_TEXTS = ("description", "deployment_plan", "rollback_plan", "risk_assessment")
TEMPLATE_KEYS = ("change_type", *TEMPLATE_TEXTS, "risk_level", "window_hours", "pre_approved")


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
            timezone=reader.string(cab, "cab", "timezone"),
            agenda_hours_before=reader.integer(cab, "cab", "agenda_hours_before", minimum=1),
            retrospective_due_hours=reader.integer(cab, "cab", "retrospective_due_hours", minimum=1),
        ),
        deploy=DeployPolicy(environments=reader.strings(deploy, "deploy", "environments")),
        slack_channel=reader.string(slack, "slack", "channel"),
        slack_users=reader.string_map(slack, "slack", "users"),
        violation_label=reader.string(labels, "labels", "violation"),
        retro_overdue_label=reader.string(labels, "labels", "retro_overdue"),
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
