"""Seed the sandbox site from the policy TOML: fields, statuses, workflow, groups and people."""

from __future__ import annotations

import hashlib
import logging
import tomllib
import uuid
from pathlib import Path
from typing import Any

from sandbox.adf import text_to_adf
from sandbox.jira_state import (
    FieldDef,
    Group,
    IssueType,
    JiraSite,
    LinkType,
    Option,
    Project,
    SandboxUser,
    Status,
    Transition,
)

logger = logging.getLogger(__name__)

DEFAULT_POLICY_PATH = Path(__file__).resolve().parents[1] / "worker" / "default_policy.toml"
PROJECT = Project(id="10000", key="CHG", name="Change Management")
CHANGE_REQUEST = IssueType("10100", "Change Request", "A request to change production.")
EPIC = IssueType("10000", "Epic", "A big user story that needs to be broken down.", 1)
CHANGE_FREEZE_ID = "10101"
FREEZE_DEFAULTS = {"issue_type": "Change Freeze", "kind_field": "Freeze Kind",
                   "reason_field": "Freeze Reason"}
FREEZE_KINDS = {"hard": "Hard", "soft": "Soft"}
# Jira Cloud's default link types, and Causes: an Emergency change "is caused by" the change
# whose deployment failed.
LINK_TYPES = (
    LinkType("10000", "Blocks", "is blocked by", "blocks"),
    LinkType("10001", "Cloners", "is cloned by", "clones"),
    LinkType("10002", "Duplicate", "is duplicated by", "duplicates"),
    LinkType("10003", "Relates", "relates to", "relates to"),
    LinkType("10004", "Causes", "is caused by", "causes"),
)
FIRST_CUSTOM_FIELD = 10050
# Freeze fields have ids of their own, so adding them leaves the change fields' ids as they were.
FIRST_FREEZE_FIELD = 10090
FIRST_FREEZE_OPTION_ID = 10300
FIRST_STATUS_ID = 10001
FIRST_OPTION_ID = 10200
GLOBAL_TRANSITION_ID = "901"
GLOBAL_TRANSITION_NAME = "Start implementation now"
_NAMESPACE = uuid.UUID("6f1c1a53-9c55-4c3e-9d0c-6a1f0e2b7c11")

# (short name, display name, group roles from [groups])
PEOPLE = (
    ("changeguard", "changeguard", ()),
    ("alice", "Alice Adams", ()),
    ("bob", "Bob Baker", ("team_leads",)),
    ("carol", "Carol Chen", ("cab",)),
    ("dana", "Dana Diaz", ("head_of_engineering", "cab")),
    ("erin", "Erin Evans", ("incident_commanders",)),
    ("frank", "Frank Foster", ("incident_commanders",)),
)
BOT_NAME = "changeguard"

TRANSITION_NAMES = {
    ("draft", "awaiting_approval"): "Submit for approval",
    ("awaiting_approval", "approved"): "Approve",
    ("approved", "implementing"): "Start implementation",
    ("implementing", "implemented"): "Mark implemented",
    ("implemented", "closed"): "Close",
    ("awaiting_approval", "draft"): "Return to draft",
    ("approved", "awaiting_approval"): "Withdraw approval",
    ("implementing", "approved"): "Stop implementation",
    ("implemented", "implementing"): "Reopen implementation",
    ("closed", "implemented"): "Reopen",
    ("awaiting_approval", "rejected"): "Reject",
}
# The transitions with a screen, and the field roles it shows: the fields a transition may set.
TRANSITION_SCREENS = {("implementing", "implemented"): ("outcome",)}
STATUS_CATEGORIES = {"draft": "new", "closed": "done", "rejected": "done", "cancelled": "done"}

# Field roles -> (kind, where the allowed option values live in the policy)
FIELD_KINDS = {
    "category": ("option", ("categories", None)),
    "change_type": ("option", ("change_types", "values")),
    "risk_level": ("option", ("risk_levels", "values")),
    "standard_template": ("option", ("standard_templates", "catalog")),
    "outcome": ("option", ("outcomes", "values")),
    "deployment_plan": ("textarea", None),
    "rollback_plan": ("textarea", None),
    "risk_assessment": ("textarea", None),
    "retrospective": ("textarea", None),
    "planned_start": ("datetime", None),
    "planned_end": ("datetime", None),
    "incident_commander": ("user", None),
}
SYSTEM_FIELDS = (
    ("summary", "Summary"),
    ("description", "Description"),
    ("status", "Status"),
    ("issuetype", "Issue Type"),
    ("project", "Project"),
    ("reporter", "Reporter"),
    ("assignee", "Assignee"),
    ("labels", "Labels"),
    ("attachment", "Attachment"),
    ("created", "Created"),
    ("updated", "Updated"),
)


def load_policy(policy_path: Path | None = None) -> dict[str, Any]:
    """Read the policy TOML (the project's default when no path is given)."""
    with (policy_path or DEFAULT_POLICY_PATH).open("rb") as handle:
        return tomllib.load(handle)


def _stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def make_user(name: str, display_name: str, groups: tuple[str, ...]) -> SandboxUser:
    """Return a person with a Jira-like accountId and deterministic credentials."""
    digest = hashlib.sha256(f"sandbox-token/{name}".encode()).hexdigest()[:24]
    return SandboxUser(
        name=name,
        account_id=f"712020:{_stable_id('user', name)}",
        email=f"{name}@example.com",
        api_token=f"ATATT3x-sandbox-{name}-{digest}",
        display_name=display_name,
        groups=groups,
    )


def freeze_names(policy: dict[str, Any]) -> dict[str, Any]:
    """Return the freeze issue type's and fields' names, and the Freeze Kind option values.

    They come from the policy's [freezes] table where it names them (issue_type, kind_field,
    reason_field, kind_values), else from the defaults; kind_values maps hard and soft to the
    kind field's option values. The site has the reason field even where the policy names none.
    """
    table = policy.get("freezes", {})
    names = {key: table.get(key, default) for key, default in FREEZE_DEFAULTS.items()}
    kinds = table.get("kind_values", FREEZE_KINDS)
    names["kinds"] = list(kinds.values()) if isinstance(kinds, dict) else list(kinds)
    return names


def _freeze_fields(policy: dict[str, Any]) -> list[FieldDef]:
    """Return the Change Freeze's own fields: the Freeze Kind select and the Freeze Reason."""
    names = freeze_names(policy)
    options = tuple(Option(str(FIRST_FREEZE_OPTION_ID + index), value)
                    for index, value in enumerate(names["kinds"]))
    return [
        FieldDef(f"customfield_{FIRST_FREEZE_FIELD}", names["kind_field"], "option",
                 custom=True, options=options),
        FieldDef(f"customfield_{FIRST_FREEZE_FIELD + 1}", names["reason_field"], "textarea",
                 custom=True),
    ]


def _fields(policy: dict[str, Any]) -> list[FieldDef]:
    fields: list[FieldDef] = []
    next_option = FIRST_OPTION_ID
    freeze_fields = _freeze_fields(policy)
    # A freeze field the policy also lists under [fields] is made once, as a freeze field.
    taken = {fdef.name for fdef in freeze_fields}
    custom_roles = [(r, n) for r, n in policy["fields"].items()
                    if r != "description" and n not in taken]
    for offset, (role, name) in enumerate(custom_roles):
        kind, source = FIELD_KINDS.get(role, ("textarea", None))
        options: list[Option] = []
        if source:
            table, key = source
            values = policy[table][key] if key else list(policy[table].values())
            for value in values:
                options.append(Option(str(next_option), value))
                next_option += 1
        field_id = f"customfield_{FIRST_CUSTOM_FIELD + offset}"
        fields.append(FieldDef(field_id, name, kind, custom=True, options=tuple(options)))
    fields += freeze_fields
    description_name = policy["fields"].get("description", "Description")
    for field_id, name in SYSTEM_FIELDS:
        name = description_name if field_id == "description" else name
        fields.append(FieldDef(field_id, name, field_id))
    return fields


def _screen(policy: dict[str, Any], fields: list[FieldDef],
            move: tuple[str, str]) -> tuple[str, ...]:
    """Return the ids of the fields on a transition's screen (roles the policy lacks left out)."""
    ids = {fdef.name: fdef.id for fdef in fields}
    names = [policy["fields"].get(role) for role in TRANSITION_SCREENS.get(move, ())]
    return tuple(ids[name] for name in names if name in ids)


def _workflow(policy: dict[str, Any],
              fields: list[FieldDef]) -> tuple[list[Status], list[Transition]]:
    roles = list(policy["statuses"])
    ids = {role: str(FIRST_STATUS_ID + index) for index, role in enumerate(roles)}
    statuses = [
        Status(ids[role], policy["statuses"][role], STATUS_CATEGORIES.get(role, "indeterminate"))
        for role in roles
    ]
    transitions = []
    # The site's workflow has every move people may make and every way back changeguard uses.
    moves = list(policy["workflow"]["allowed"])
    moves += [move for move in policy["workflow"].get("way_back", []) if move not in moves]
    for index, (source, target) in enumerate(moves):
        name = TRANSITION_NAMES.get((source, target))
        if name is None:
            name = "Cancel" if target == "cancelled" else f"Move to {policy['statuses'][target]}"
        transitions.append(Transition(str(11 + 10 * index), name, ids[target],
                                      frozenset({ids[source]}),
                                      _screen(policy, fields, (source, target))))
    transitions.append(
        Transition(GLOBAL_TRANSITION_ID, GLOBAL_TRANSITION_NAME, ids["implementing"], None)
    )
    return statuses, transitions


def build_site(policy_path: Path | None = None) -> JiraSite:
    """Return a fresh site seeded from the policy, with the CAB epic already created."""
    policy = load_policy(policy_path)
    group_names = policy["groups"]
    groups = [Group(name, _stable_id("group", name)) for name in group_names.values()]
    users = [
        make_user(name, display, tuple(group_names[role] for role in roles))
        for name, display, roles in PEOPLE
    ]
    fields = _fields(policy)
    statuses, transitions = _workflow(policy, fields)
    change_freeze = IssueType(CHANGE_FREEZE_ID, freeze_names(policy)["issue_type"],
                              "A period in which changes to production are held back.")
    site = JiraSite(
        project=PROJECT,
        issue_types=[EPIC, CHANGE_REQUEST, change_freeze],
        statuses=statuses,
        initial_status=statuses[0].id,
        fields=fields,
        transitions=transitions,
        groups=groups,
        users=users,
        link_types=LINK_TYPES,
    )
    chair = site.users["dana"]
    epic_values = {
        "summary": "Change Advisory Board",
        "description": text_to_adf("Weekly Change Advisory Board: agendas and retrospectives."),
    }
    epic = site.add_issue(EPIC.id, chair.account_id, epic_values)
    expected = policy.get("cab", {}).get("epic_key", epic.key)
    if epic.key != expected:
        logger.warning("cab epic key differs", extra={"expected": expected, "actual": epic.key})
    return site
