"""Approvals by category: who may approve, which approvals a change needs, and when they stand."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from .change_request import ChangeRequest
from .policy import Category, FieldRole, GroupRole, Policy


class ApprovalRole(str, enum.Enum):
    """The capacity in which someone approved a change."""

    TEAM_LEAD = "team_lead"
    CAB = "cab"
    HEAD_OF_ENGINEERING = "head_of_engineering"
    INCIDENT_COMMANDER = "incident_commander"
    # Not one of a category's approvals: the Head of Engineering letting a change go ahead
    # during a soft freeze. Recorded with the others, and withdrawn with them on material edit.
    FREEZE_EXCEPTION = "freeze_exception"


# Editing any of these after approval withdraws the approval (policy: category, type, plans,
# risk, window).
MATERIAL_FIELDS = (
    FieldRole.CATEGORY, FieldRole.CHANGE_TYPE, FieldRole.DEPLOYMENT_PLAN,
    FieldRole.ROLLBACK_PLAN, FieldRole.RISK_ASSESSMENT, FieldRole.RISK_LEVEL,
    FieldRole.PLANNED_START, FieldRole.PLANNED_END,
)
_SHOWN_CHARACTERS = 200
ROLE_DESCRIPTIONS = {
    ApprovalRole.TEAM_LEAD: "a team lead",
    ApprovalRole.CAB: "a CAB member",
    ApprovalRole.HEAD_OF_ENGINEERING: "the Head of Engineering",
    ApprovalRole.INCIDENT_COMMANDER: "the Incident Commander named on the change",
    ApprovalRole.FREEZE_EXCEPTION: "a freeze exception from the Head of Engineering",
}


@dataclasses.dataclass(frozen=True)
class Approval:
    """One person's approval of one revision of a change."""

    account_id: str
    role: ApprovalRole
    at: str
    # The other roles the approver could fill when they approved: room to re-assign roles
    # when a later approval can only fill this one's role.
    also: frozenset[ApprovalRole] = frozenset()

    @property
    def eligible(self) -> frozenset[ApprovalRole]:
        """Return every role the approver could fill when they approved."""
        return self.also | {self.role}

    def in_role(self, role: ApprovalRole) -> Approval:
        """Return the same approval recorded in another role it is eligible for."""
        return dataclasses.replace(self, role=role, also=self.eligible - {role})

    def to_json(self) -> dict[str, Any]:
        """Return the issue-property form; ``roles`` only when the approver could fill several."""
        value: dict[str, Any] = {"accountId": self.account_id, "role": self.role.value,
                                 "at": self.at}
        if self.also:
            value["roles"] = [role.value for role in ApprovalRole if role in self.eligible]
        return value


@dataclasses.dataclass(frozen=True)
class ApprovalState:
    """The approvals recorded on an issue, with the revision (and its values) they approved."""

    revision: str | None = None
    values: Mapping[str, str] = dataclasses.field(default_factory=dict)
    approvals: tuple[Approval, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the issue-property form of the state."""
        return {"revision": self.revision, "values": dict(self.values),
                "approvals": [approval.to_json() for approval in self.approvals]}


def parse_approval_state(value: Any) -> ApprovalState:
    """Read the approvals issue property; anything unreadable counts as no approvals."""
    if not isinstance(value, Mapping) or not isinstance(value.get("approvals"), list):
        return ApprovalState()
    approvals = []
    for item in value["approvals"]:
        try:
            role = ApprovalRole(item["role"])
            account_id, at = str(item["accountId"]), str(item["at"])
        except (KeyError, TypeError, ValueError):
            continue
        roles = item.get("roles")  # absent from records written before roles were re-assignable
        also = frozenset(r for r in ApprovalRole if isinstance(roles, list) and r.value in roles)
        approvals.append(Approval(account_id, role, at, also - {role}))
    revision = value.get("revision")
    values = value.get("values")
    return ApprovalState(
        revision=revision if isinstance(revision, str) else None,
        values={k: v for k, v in values.items() if isinstance(v, str)}
        if isinstance(values, Mapping) else {},
        approvals=tuple(approvals),
    )


def material_values(change: ChangeRequest) -> dict[str, str]:
    """Return the material fields as short display strings, to show what changed later."""
    values = {}
    for role in MATERIAL_FIELDS:
        value: Any = change.option(role) or change.text(role) or change.datetime_of(role)
        text = value.isoformat() if hasattr(value, "isoformat") else (value or "")
        flat = " ".join(str(text).split())
        values[role.value] = flat if len(flat) <= _SHOWN_CHARACTERS else flat[:199] + "…"
    return values


def revision_of(change: ChangeRequest) -> str:
    """Return a fingerprint of the material fields: it changes whenever one of them does."""
    full = {}
    for role in MATERIAL_FIELDS:
        value: Any = change.option(role) or change.text(role) or change.datetime_of(role)
        full[role.value] = value.isoformat() if hasattr(value, "isoformat") else value
    digest = hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()
    return digest[:16]


def standing_approvals(state: ApprovalState, change: ChangeRequest) -> tuple[Approval, ...]:
    """Return the approvals that still stand: those given to the change as it is now."""
    return state.approvals if state.revision == revision_of(change) else ()


def has_freeze_exception(state: ApprovalState, change: ChangeRequest) -> bool:
    """Tell whether a freeze exception stands: given to the change as it is now."""
    return any(approval.role is ApprovalRole.FREEZE_EXCEPTION
               for approval in standing_approvals(state, change))


def with_freeze_exception(state: ApprovalState, change: ChangeRequest, actor: str,
                          at: str) -> ApprovalState:
    """Return ``state`` with ``actor``'s freeze exception for the change as it is now.

    ``state`` must be the approvals of the change as it is now (as ``judge_approval`` returns
    them); an exception already standing is kept, not given twice.
    """
    if has_freeze_exception(state, change):
        return state
    return dataclasses.replace(state, approvals=state.approvals + (
        Approval(actor, ApprovalRole.FREEZE_EXCEPTION, at),))


def is_pre_approved(change: ChangeRequest, policy: Policy) -> bool:
    """Tell whether the change is a Standard change that follows a template the policy marks
    ``pre_approved``: its Change Type, at most its Risk Level and at most its window.

    Such a change needs no approval: the policy approved the template once for all of them.
    """
    if policy.category_of(change.option(FieldRole.CATEGORY)) is not Category.STANDARD:
        return False
    spec = policy.template_spec(change.option(FieldRole.STANDARD_TEMPLATE))
    if (spec is None or not spec.pre_approved
            or change.option(FieldRole.CHANGE_TYPE) != spec.change_type):
        return False
    risk, levels = change.option(FieldRole.RISK_LEVEL), policy.risk_levels
    # A change that states no risk level cannot show it stays within the template's.
    if spec.risk_level is not None and (
            risk not in levels or levels.index(risk) > levels.index(spec.risk_level)):
        return False
    start = change.datetime_of(FieldRole.PLANNED_START)
    end = change.datetime_of(FieldRole.PLANNED_END)
    return start is None or end is None or end - start <= timedelta(hours=spec.window_hours)


def required_roles(category: Category, *, pre_approved: bool = False
                   ) -> tuple[frozenset[ApprovalRole], ...]:
    """Return the approvals a category needs: one role from each set, each by another person.

    A Standard change from a pre-approved template (``is_pre_approved``) needs none.
    """
    if category is Category.STANDARD:
        if pre_approved:
            return ()
        return (frozenset({ApprovalRole.TEAM_LEAD, ApprovalRole.HEAD_OF_ENGINEERING}),)
    if category is Category.NORMAL:
        return (frozenset({ApprovalRole.CAB, ApprovalRole.HEAD_OF_ENGINEERING}),)
    return (frozenset({ApprovalRole.HEAD_OF_ENGINEERING}),
            frozenset({ApprovalRole.INCIDENT_COMMANDER}))


def roles_of(account_id: str, groups: frozenset[GroupRole], change: ChangeRequest,
             category: Category) -> tuple[ApprovalRole, ...]:
    """Return the roles in which this person may approve this change."""
    roles = []
    if category is Category.STANDARD and GroupRole.TEAM_LEADS in groups:
        roles.append(ApprovalRole.TEAM_LEAD)
    if category is Category.NORMAL and GroupRole.CAB in groups:
        roles.append(ApprovalRole.CAB)
    if GroupRole.HEAD_OF_ENGINEERING in groups:
        roles.append(ApprovalRole.HEAD_OF_ENGINEERING)
    if (category is Category.EMERGENCY and GroupRole.INCIDENT_COMMANDERS in groups
            and change.user(FieldRole.INCIDENT_COMMANDER) == account_id):
        roles.append(ApprovalRole.INCIDENT_COMMANDER)
    return tuple(roles)


def missing_roles(category: Category, approvals: tuple[Approval, ...], *,
                  pre_approved: bool = False) -> tuple[frozenset[ApprovalRole], ...]:
    """Return the role sets of ``category`` that no approval fills yet (``pre_approved``: a
    Standard change from a pre-approved template, which needs none)."""
    filled = {approval.role for approval in approvals}
    return tuple(need for need in required_roles(category, pre_approved=pre_approved)
                 if not need & filled)


# Roles that only the one person named on the change can fill: an approval that could fill
# such a role or another takes the named one, leaving the other open to anyone else.
_NAMED_ROLES = frozenset({ApprovalRole.INCIDENT_COMMANDER})


def assign_roles(category: Category, approvals: tuple[Approval, ...],
                 change: ChangeRequest) -> dict[int, ApprovalRole]:
    """Match approvals to the category's role sets, each set filled by another person.

    Approvals are placed in order, each into an open role it can fill, else by moving earlier
    approvals to other roles they can fill (an augmenting path). So the matching fills as many
    roles as any could, a placed approval stays placed (earlier approvals win), and the same
    approvals in the same order always get the same roles. Returns placed index -> role.
    """
    needs = sorted(required_roles(category), key=lambda need: not need <= _NAMED_ROLES)
    can_fill = [_can_fill(approval, change) for approval in approvals]
    holder: dict[int, int] = {}  # index in needs -> index in approvals

    def place(i: int, moved: set[int]) -> bool:
        fits = [n for n, need in enumerate(needs) if need & can_fill[i]]
        open_ = [n for n in fits if n not in holder]
        if open_:
            holder[open_[0]] = i
            return True
        for n in fits:
            if n not in moved:
                moved.add(n)
                if place(holder[n], moved):
                    holder[n] = i
                    return True
        return False

    for i in range(len(approvals)):
        place(i, set())
    return {i: next(role for role in ApprovalRole if role in needs[n] & can_fill[i])
            for n, i in holder.items()}


def _can_fill(approval: Approval, change: ChangeRequest) -> frozenset[ApprovalRole]:
    """Return the roles an approval may fill now: the Incident Commander's only while named."""
    if change.user(FieldRole.INCIDENT_COMMANDER) == approval.account_id:
        return approval.eligible
    return approval.eligible - {ApprovalRole.INCIDENT_COMMANDER} | {approval.role}


class ApprovalVerdict(str, enum.Enum):
    """What an approval gesture amounts to."""

    COMPLETE = "complete"          # the category's approvals are now all there
    RECORDED = "recorded"          # recorded, but another person's approval is still needed
    SELF_APPROVAL = "self_approval"
    NOT_AN_APPROVER = "not_an_approver"
    NOT_THE_NAMED_IC = "not_the_named_ic"
    SAME_PERSON = "same_person"    # Emergency: one person cannot give both approvals
    ROLE_ALREADY_FILLED = "role_already_filled"  # someone already approved in that capacity


@dataclasses.dataclass(frozen=True)
class ApprovalOutcome:
    """The result of judging one approval gesture, with the approvals to record."""

    verdict: ApprovalVerdict
    state: ApprovalState
    missing: tuple[frozenset[ApprovalRole], ...] = ()


def judge_approval(
    change: ChangeRequest, category: Category, actor: str, groups: frozenset[GroupRole],
    recorded: ApprovalState, *, at: str, pre_approved: bool = False,
) -> ApprovalOutcome:
    """Judge a move to Approved by ``actor`` as an approval of the change as it stands now.

    ``pre_approved`` (a Standard change from a pre-approved template): anyone may move it to
    Approved, its reporter too, since the policy approved the template itself.
    """
    everything = standing_approvals(recorded, change)
    # A freeze exception is kept as it is, and is not one of the category's approvals.
    exceptions = tuple(a for a in everything if a.role is ApprovalRole.FREEZE_EXCEPTION)
    standing = tuple(a for a in everything if a.role is not ApprovalRole.FREEZE_EXCEPTION)
    revision = revision_of(change)
    kept = ApprovalState(revision, material_values(change), everything)
    if pre_approved and category is Category.STANDARD:
        return ApprovalOutcome(ApprovalVerdict.COMPLETE, kept)
    if actor == change.reporter_account_id:
        return ApprovalOutcome(ApprovalVerdict.SELF_APPROVAL, kept, missing_roles(category, standing))
    roles = roles_of(actor, groups, change, category)
    if not roles:
        verdict = (ApprovalVerdict.NOT_THE_NAMED_IC
                   if category is Category.EMERGENCY and GroupRole.INCIDENT_COMMANDERS in groups
                   else ApprovalVerdict.NOT_AN_APPROVER)
        return ApprovalOutcome(verdict, kept, missing_roles(category, standing))
    needed = missing_roles(category, standing)
    if any(approval.account_id == actor for approval in standing):
        verdict = ApprovalVerdict.SAME_PERSON if needed else ApprovalVerdict.COMPLETE
        return ApprovalOutcome(verdict, kept, needed)
    # Roles are re-matched over every standing approval and this one: an earlier approver may
    # move to another role they can fill when that lets this one fill a role too.
    approvals = standing + (Approval(actor, roles[0], at, frozenset(roles[1:])),)
    assigned = assign_roles(category, approvals, change)
    if len(standing) not in assigned:  # no matching of roles can use this approval
        verdict = ApprovalVerdict.ROLE_ALREADY_FILLED if needed else ApprovalVerdict.COMPLETE
        return ApprovalOutcome(verdict, kept, needed)
    approvals = tuple(approval.in_role(assigned.get(i, approval.role))
                      for i, approval in enumerate(approvals))
    state = ApprovalState(revision, material_values(change), approvals + exceptions)
    needed = missing_roles(category, approvals)
    verdict = ApprovalVerdict.RECORDED if needed else ApprovalVerdict.COMPLETE
    return ApprovalOutcome(verdict, state, needed)
