"""Declaring a change freeze: whether it holds, which approved changes it catches, and the record."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .adf import document, paragraph, text
from .cab_schedule import CabCalendar, when
from .freeze import (Freeze, FreezeIssue, FreezeVerdict, IncompleteFreeze, freeze_from_json,
                     freeze_to_json, freeze_verdict, overlapping)
from .issue_record import MAX_AUDIT_ENTRIES, AuditEntry
from .job_names import JobName
from .plan import AddComment, FollowUp, Plan, SlackAlert, Step, WriteRecord
from .policy import Category, FreezeKind, GroupRole, Policy, StatusRole
from .site_map import SiteMap

# The record on a freeze issue lives in the same issue property as a change's ("changeguard"),
# under this key beside the decision log.
RECORD_KEY = "freeze"
MAX_NOTICES = 10

NOT_HEAD = ("{key} is not enforced as a change freeze: only someone in {group} may declare one, "
            "and its reporter is not in {group}. Ask someone in {group} to declare it (they "
            "create the {issue_type} themselves, or are made its reporter); it is enforced from "
            "then on.")
DECLARED_ALERT = ("{icon} <{url}|{key}> “{name}”: {kind} freeze {verb}, {start} to {end} "
                  "({zone}). {reason}")
WITHDRAWN_LINE = "• <{url}|{key}> “{summary}”, planned {start} to {end}"
NONE_WITHDRAWN = "No approved change is in it."
SOME_WITHDRAWN = ("Approval withdrawn from {count} approved change{s} in it, moved back to "
                  "Awaiting Approval; each has a comment saying how to proceed:")
CANCELLED_ALERT = ("{icon} <{url}|{key}> “{name}”: the {kind} freeze ({start} to {end}, {zone}) "
                   "is {how}. {held}")
NONE_HELD = "It had held no approved change."
SOME_HELD = ("It had held these changes; nothing is released by itself: submit them for "
             "approval again if they should go ahead in their windows:")


class Action(str, enum.Enum):
    """What a freeze issue, as it is now, asks of changeguard."""

    NOTHING = "nothing"  # as enforced already, or said already why it is not
    NOT_ENFORCED = "not_enforced"  # not the Head of Engineering's, or incomplete: say why, once
    ENFORCE = "enforce"  # new, or covers more than before: withdraw the approvals it catches
    NARROWED = "narrowed"  # covers less than before: recorded, nothing released
    CANCEL = "cancel"  # cancelled or deleted: say in Slack which changes it had held


@dataclasses.dataclass(frozen=True)
class FreezeRecord:
    """What changeguard keeps on a freeze issue: the freeze as last enforced, the changes it
    withdrew, the notices it commented, how many checks it ran, and the decision log."""

    enforced: Freeze | None = None
    held: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()
    checks: int = 0
    audit: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the issue property's value."""
        return {RECORD_KEY: {"enforced": freeze_to_json(self.enforced) if self.enforced else None,
                             "held": list(self.held), "notices": list(self.notices),
                             "checks": self.checks},
                "audit": list(self.audit)}

    def with_entry(self, entry: AuditEntry, **changes: Any) -> FreezeRecord:
        """Return the record with ``entry`` logged and ``changes`` made."""
        audit = (*self.audit, entry.to_json())[-MAX_AUDIT_ENTRIES:]
        return dataclasses.replace(self, audit=audit, **changes)


def parse_freeze_record(value: Any) -> FreezeRecord:
    """Read the record from the issue property; anything unreadable reads as an empty record."""
    if not isinstance(value, Mapping):
        return FreezeRecord()
    audit = value.get("audit")
    audit = tuple(e for e in audit if isinstance(e, Mapping)) if isinstance(audit, list) else ()
    state = value.get(RECORD_KEY)
    if not isinstance(state, Mapping):
        return FreezeRecord(audit=audit)
    try:
        enforced = freeze_from_json(state["enforced"]) if state.get("enforced") else None
    except (KeyError, TypeError, ValueError):
        enforced = None
    checks = state.get("checks")
    return FreezeRecord(enforced=enforced, held=_strings(state.get("held")),
                        notices=_strings(state.get("notices")),
                        checks=checks if type(checks) is int and checks >= 0 else 0, audit=audit)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


@dataclasses.dataclass(frozen=True)
class Declaration:
    """The decision on a freeze issue: the action, the freeze now, what was enforced before,
    and (NOT_ENFORCED) the comment to make, or "" when it was made already."""

    action: Action
    freeze: Freeze | None = None
    previous: Freeze | None = None
    notice: str = ""


def is_gone(issue: FreezeIssue | None, site: SiteMap) -> bool:
    """Tell whether the freeze is withdrawn: deleted (None), cancelled or rejected."""
    return issue is None or site.status_role(issue.status_id) in (StatusRole.CANCELLED,
                                                                  StatusRole.REJECTED)


def judge_declaration(issue: FreezeIssue | None, declared: Freeze | IncompleteFreeze | None,
                      declarer_is_head: bool, record: FreezeRecord, *, site: SiteMap,
                      policy: Policy) -> Declaration:
    """Decide what the freeze issue as it is now asks for, given what was enforced before.

    ``issue`` None: the issue was deleted. ``declared`` is what rules.freeze reads from it
    (None when deleted). Only a freeze declared by someone in head-of-engineering is enforced.
    """
    if is_gone(issue, site):
        return Declaration(Action.CANCEL if record.enforced else Action.NOTHING,
                           previous=record.enforced)
    assert issue is not None and declared is not None
    if not declarer_is_head:
        group = policy.group_names[GroupRole.HEAD_OF_ENGINEERING]
        notice = NOT_HEAD.format(key=issue.key, group=group, issue_type=policy.freezes.issue_type)
        return _not_enforced(notice, record)
    if isinstance(declared, IncompleteFreeze):
        return _not_enforced(declared.text, record)
    before = record.enforced
    if before is None or not covers(before, declared):
        return Declaration(Action.ENFORCE, declared, before)
    if _same(before, declared):
        return Declaration(Action.NOTHING, declared, before)
    return Declaration(Action.NARROWED, declared, before)


def _not_enforced(notice: str, record: FreezeRecord) -> Declaration:
    said = notice in record.notices
    if said and record.enforced is None:
        return Declaration(Action.NOTHING)
    return Declaration(Action.NOT_ENFORCED, previous=record.enforced,
                       notice="" if said else notice)


def covers(before: Freeze, now: Freeze) -> bool:
    """Tell whether the freeze enforced ``before`` holds every change the freeze ``now`` holds:
    its period contains the new one, and it was hard or the new one is soft too."""
    return (before.start <= now.start and now.end <= before.end
            and (before.kind is FreezeKind.HARD or now.kind is FreezeKind.SOFT))


def _same(before: Freeze, now: Freeze) -> bool:
    return (before.start, before.end, before.kind) == (now.start, now.end, now.kind)


@dataclasses.dataclass(frozen=True)
class ApprovedChange:
    """An Approved change as the freeze check sees it: its planned window, whether it is an
    Emergency one, and whether a freeze exception stands on it."""

    key: str
    summary: str
    category: Category | None
    has_freeze_exception: bool
    window: tuple[datetime, datetime] | None


@dataclasses.dataclass(frozen=True)
class Caught:
    """An approved change the freeze stops, and the freeze's verdict on it."""

    change: ApprovedChange
    verdict: FreezeVerdict


def caught_changes(declaration: Declaration, changes: Iterable[ApprovedChange], *,
                   calendar: CabCalendar, exception_group: str) -> tuple[Caught, ...]:
    """Return the approved changes the new or widened freeze stops, in the order given.

    On widening only the changes the freeze now holds that it did not hold before: those whose
    window overlaps it now but did not overlap it as enforced, or all overlapping ones when a
    soft freeze became hard. Emergency changes, and soft-freeze ones with an exception, stay.
    """
    freeze, before = declaration.freeze, declaration.previous
    assert declaration.action is Action.ENFORCE and freeze is not None
    hardened = (before is not None and before.kind is FreezeKind.SOFT
                and freeze.kind is FreezeKind.HARD)
    caught = []
    for change in changes:
        if change.window is None or not overlapping(*change.window, (freeze,)):
            continue
        if before is not None and not hardened and overlapping(*change.window, (before,)):
            continue  # held already when the freeze was enforced before
        verdict = freeze_verdict(change.key, change.category, change.has_freeze_exception,
                                 *change.window, (freeze,), calendar=calendar,
                                 exception_group=exception_group)
        if not verdict.allowed:
            caught.append(Caught(change, verdict))
    return tuple(caught)


@dataclasses.dataclass(frozen=True)
class DeclarationFacts:
    """What the freeze's plan needs besides the decision, as the shell found it."""

    key: str
    actor: str | None  # who declared, changed, cancelled or deleted it (the event's user)
    at: str  # when, ISO 8601
    browse_url: str  # the site's /browse, for links
    deleted: bool = False


def declaration_plan(declaration: Declaration, caught: tuple[Caught, ...],
                     record: FreezeRecord, facts: DeclarationFacts, *, policy: Policy,
                     calendar: CabCalendar) -> Plan:
    """Return the freeze's steps: follow-ups withdrawing each caught approval, then the record
    on the freeze issue, then one Slack message; or the notice; or the cancellation's message.

    The record is written before the Slack message, so a later check finds it enforced and
    says nothing again; the follow-ups come first and have ids of this check, so a retried
    check enqueues none twice.
    """
    summary = {"action": declaration.action.value, "freeze": facts.key}
    action = declaration.action
    if action is Action.NOT_ENFORCED:
        reason = "not_enforced"
        entry = _entry(facts, "not enforced", reason, declaration.notice or "said before")
        updated = record.with_entry(entry, enforced=None, notices=(
            record.notices + ((declaration.notice,) if declaration.notice else ()))[-MAX_NOTICES:])
        comment = ((AddComment(document(paragraph(text(declaration.notice)))),)
                   if declaration.notice else ())
        return Plan(summary, (*comment, WriteRecord(updated.to_json())))
    if action is Action.CANCEL:
        before = declaration.previous
        assert before is not None
        how = "deleted" if facts.deleted else "cancelled"
        updated = record.with_entry(_entry(facts, how, "freeze", _span(before)),
                                    enforced=None, held=())
        alert = SlackAlert(policy.slack_channel, cancelled_alert(
            before, record.held, how, facts.browse_url, calendar))
        steps: tuple[Step, ...] = (alert,) if facts.deleted else (WriteRecord(updated.to_json()),
                                                                  alert)
        return Plan({**summary, "held": list(record.held)}, steps)
    freeze = declaration.freeze
    assert freeze is not None
    if action is Action.NARROWED:
        updated = record.with_entry(_entry(facts, "narrowed", "freeze", _span(freeze)),
                                    enforced=freeze)
        return Plan(summary, (WriteRecord(updated.to_json()),))
    assert action is Action.ENFORCE
    check = record.checks + 1
    verb = "declared" if declaration.previous is None else "widened"
    keys = tuple(c.change.key for c in caught)
    updated = record.with_entry(
        _entry(facts, verb, "freeze", f"{_span(freeze)}; withdrawn: {', '.join(keys) or 'none'}"),
        enforced=freeze, checks=check,
        held=record.held + tuple(k for k in keys if k not in record.held))
    follow_ups = tuple(
        FollowUp(JobName.WITHDRAW_FOR_FREEZE, f"freeze-withdraw-{facts.key}-{check}-{key}",
                 {"issue_key": key, "freeze": freeze_to_json(freeze), "check": check,
                  "actor_account_id": facts.actor, "at": facts.at})
        for key in keys)
    alert = SlackAlert(policy.slack_channel, declared_alert(freeze, verb, caught,
                                                            facts.browse_url, calendar))
    return Plan({**summary, "withdrawn": list(keys)},
                (*follow_ups, WriteRecord(updated.to_json()), alert))


def _entry(facts: DeclarationFacts, decision: str, reason: str, detail: str) -> AuditEntry:
    return AuditEntry(at=facts.at, decision=decision, reason=reason, actor=facts.actor,
                      from_status=None, to_status=None, changelog_id=None, detail=detail)


def _span(freeze: Freeze) -> str:
    return f"{freeze.kind.value} {freeze.start.isoformat()} to {freeze.end.isoformat()}"


def declared_alert(freeze: Freeze, verb: str, caught: tuple[Caught, ...], browse_url: str,
                   calendar: CabCalendar) -> str:
    """Return the one Slack message of a freeze declared or widened, listing the changes whose
    approval it withdrew."""
    head = DECLARED_ALERT.format(
        icon=":snowflake:", url=f"{browse_url}/{freeze.source}", key=freeze.source,
        name=freeze.name, kind=freeze.kind.value, verb=verb, start=when(freeze.start, calendar),
        end=when(freeze.end, calendar), zone=calendar.zone_name,
        reason=_sentence(freeze.reason))
    if not caught:
        return f"{head}\n{NONE_WITHDRAWN}"
    lines = [WITHDRAWN_LINE.format(url=f"{browse_url}/{c.change.key}", key=c.change.key,
                                   summary=c.change.summary,
                                   start=when(c.change.window[0], calendar),
                                   end=when(c.change.window[1], calendar))
             for c in caught]
    intro = SOME_WITHDRAWN.format(count=len(caught), s="" if len(caught) == 1 else "s")
    return "\n".join((head, intro, *lines))


def cancelled_alert(freeze: Freeze, held: tuple[str, ...], how: str, browse_url: str,
                    calendar: CabCalendar) -> str:
    """Return the one Slack message of a freeze cancelled or deleted, naming the changes it had
    held (their approval was withdrawn; nothing is given back by itself)."""
    head = CANCELLED_ALERT.format(
        icon=":sunny:", url=f"{browse_url}/{freeze.source}", key=freeze.source, name=freeze.name,
        kind=freeze.kind.value, start=when(freeze.start, calendar),
        end=when(freeze.end, calendar), zone=calendar.zone_name, how=how,
        held=SOME_HELD if held else NONE_HELD)
    return "\n".join((head, *(f"• <{browse_url}/{key}|{key}>" for key in held)))


def _sentence(reason: str) -> str:
    reason = reason.strip()
    return f"Reason: {reason}" + ("" if reason.endswith((".", "!", "?")) else ".")
