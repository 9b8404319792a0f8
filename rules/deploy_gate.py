"""Gate deployments: which change a deployment carries out, and whether it may deploy now."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from .adf import adf_to_text, paragraph
from .approvals import (ApprovalRole, ApprovalState, has_freeze_exception, is_pre_approved,
                        missing_roles, standing_approvals)
from .awaiting_approval_gate import check_ready_for_approval
from .cab_schedule import CabCalendar, Meeting, when
from .change_request import ChangeRequest
from .freeze import Freeze, FreezeVerdict, freeze_verdict
from .messages import describe_finding
from .move_comments import missing_text
from .policy import Category, FieldRole, FreezeKind, GroupRole, Policy, StatusRole
from .site_map import SiteMap

# How soon a pipeline waiting for an approval asks again; approvals come at any moment.
APPROVAL_RETRY_SECONDS = 60
WINDOWED = (Category.STANDARD, Category.NORMAL)  # Emergency changes need no window
GATED_STATUSES = (StatusRole.AWAITING_APPROVAL, StatusRole.APPROVED, StatusRole.IMPLEMENTING)

# Every text a pipeline shows: one sentence naming the change and what to do.
NO_KEY = ("No change request is linked to this deployment: put its key (e.g. {example}) in the "
          "pull request title or the branch name, or pass it to the gate explicitly.")
SEVERAL_KEYS = ("This deployment names several change requests ({keys}): keep only the one it "
                "carries out in the pull request titles, branch name and commit message, or "
                "pass that one to the gate explicitly.")
NOT_A_KEY = ("{given} is not a change request key: pass the key of a {projects} issue, "
             "e.g. {example}.")
NOT_GATED = ("{key} may deploy to {environment}: the change policy gates only {gated}, so this "
             "deployment is not checked.")
NOT_GATED_NO_KEY = ("This deployment may go to {environment}: the change policy gates only "
                    "{gated}, so it is not checked.")
STOPPED = {
    StatusRole.DRAFT: ("{key} is still in {status}: fill it in and move it to {awaiting}; it can "
                       "deploy once it is approved."),
    StatusRole.REJECTED: ("{key} was {status}, so it cannot be deployed: raise a new change "
                          "request for this deployment."),
    StatusRole.CANCELLED: ("{key} is {status}, so it cannot be deployed: link this deployment to "
                           "an approved change request instead."),
    StatusRole.IMPLEMENTED: ("{key} is already {status}: a further deployment needs a change "
                             "request of its own."),
    StatusRole.CLOSED: ("{key} is already {status}: a further deployment needs a change request "
                        "of its own."),
}
NOT_FOUND = ("{key} was not found in Jira (or changeguard's account cannot see it): check the "
             "key, and link the deployment to the change request it carries out.")
NOT_A_CHANGE = ("{key} is {issue_type}, not {a_change_type}: link the deployment to the "
                "{change_type} it carries out.")
UNKNOWN_STATUS = ("{key} is in a status the change policy does not name, so it cannot be "
                  "deployed: take it through the change workflow to {approved}.")
BREAKS_POLICY = "{key} cannot deploy: {finding}"
BREAKS_POLICY_MORE = ("{key} cannot deploy until {count} problems are fixed (changeguard check "
                      "{key} lists them), the first: {finding}")
WINDOW_CLOSED = ("{key}'s change window closed {end}, so it cannot be deployed now: set a new "
                 "{start_field} and {end_field} and have it approved again.")
AWAITING = "{key} is not approved yet: waiting for {missing} to approve it{cab}."
NEXT_CAB = ", next CAB meeting {at}"
AWAITING_MOVE = ("{key} has its approvals but is in {awaiting}: waiting for an approver to move "
                 "it to {approved}.")
NOT_STANDING = ("{key} is {status}, but no approval stands for the change as it is now (an edit "
                "after approval withdraws it): move it back to {awaiting} for {missing} to "
                "approve it again.")
BEFORE_WINDOW = ("{key} is approved, and its change window opens {start}: the deployment waits "
                 "until then.")
ALLOWED = ("{key} is {status} with its approvals standing and its change window open until "
           "{end}: deploying to {environment} is allowed.")
ALLOWED_PRE_APPROVED = ("{key} is {status}, a Standard change from the pre-approved template "
                        "“{catalog_template}”, with its change window open until {end}: deploying to "
                        "{environment} is allowed.")
ALLOWED_EMERGENCY = ("{key} is an {emergency} change, {status} with its approvals standing: "
                     "deploying to {environment} is allowed.")
FROZEN_UNTIL = ("{key} is approved, but the {kind} freeze {freeze} holds it until {thaw}: the "
                "deployment waits until then, inside its change window (open until {end}).{sooner}")
SOONER = (" Someone in {group} can let it go sooner: move it back to {awaiting} and approve it "
          "there, which gives it a freeze exception.")
# A deployment denied for a freeze is told so by the freeze's own text (rules/freeze.py); one
# allowed in a freeze (an Emergency, or with a freeze exception) hears why after the allowance.


class GateVerdict(str, enum.Enum):
    """What the gate answers a deployment."""

    ALLOW = "allow"
    WAIT = "wait"
    DENY = "deny"


@dataclasses.dataclass(frozen=True)
class GateDecision:
    """The answer to one deployment: the verdict, one sentence why, and for WAIT until when.

    ``change_key`` is None only when the deployment names no single change. ``until`` is when
    the wait should end (the window opening, or the end of the freeze holding the change; for a
    Normal change awaiting approval, the next CAB meeting); ``retry_after_seconds`` is when a
    polling pipeline should ask again.
    """

    verdict: GateVerdict
    reason: str
    change_key: str | None
    retry_after_seconds: int | None = None
    until: datetime | None = None


@dataclasses.dataclass(frozen=True)
class ChangeResolution:
    """Which change a deployment carries out: its key, or why none could be chosen."""

    key: str | None
    reason: str = ""  # why no key was chosen; empty when one was

    def denial(self) -> GateDecision:
        """Return the DENY answer for a deployment whose change could not be chosen."""
        assert self.key is None, "a resolved change is judged by decide_deploy"
        return GateDecision(GateVerdict.DENY, self.reason, None)


def resolve_change(explicit_key: str | None, texts: tuple[str, ...],
                   project_keys: tuple[str, ...]) -> ChangeResolution:
    """Choose the change a deployment carries out: the explicit key, else the one key in
    ``texts`` (pull request titles, branch name, head commit message, in that order)."""
    example = f"{project_keys[0]}-123"
    if explicit_key is not None and explicit_key.strip():
        # Typed on purpose by the pipeline's author, so its case carries no doubt.
        given = explicit_key.strip().upper()
        if _key_pattern(project_keys).fullmatch(given):
            return ChangeResolution(given)
        return ChangeResolution(None, NOT_A_KEY.format(
            given=explicit_key.strip(), projects=_choices(project_keys), example=example))
    # Keys in free text count only in capitals, as Jira itself links them: its development
    # panel and Bitbucket ignore "chg-123" in a branch name (Atlassian BCLOUD-9615, won't fix;
    # gitlab-org/gitlab#473114). Matching more would link deployments Jira shows unlinked,
    # and lower-case words such as "chg-2" in prose would pick a change by accident.
    found = dict.fromkeys(m.group(0) for t in texts for m in _key_pattern(project_keys).finditer(t))
    if len(found) == 1:
        return ChangeResolution(next(iter(found)))
    if found:
        return ChangeResolution(None, SEVERAL_KEYS.format(keys=_choices(list(found), "and")))
    return ChangeResolution(None, NO_KEY.format(example=example))


def outside_the_gate(environment: str, key: str | None, policy: Policy) -> GateDecision | None:
    """Return the ALLOW answer for an environment the policy does not gate (no change needed:
    nothing is read, recorded or moved), or None for a gated one."""
    if policy.deploy.gates(environment):
        return None
    gated = _choices(policy.deploy.environments, "and")
    if key is None:
        return GateDecision(GateVerdict.ALLOW, NOT_GATED_NO_KEY.format(
            environment=environment, gated=gated), None)
    return _decision(GateVerdict.ALLOW, NOT_GATED, key, environment=environment, gated=gated)


def not_found(key: str) -> GateDecision:
    """Return the DENY answer for a key Jira does not know (or hides from changeguard)."""
    return _decision(GateVerdict.DENY, NOT_FOUND, key)


def not_a_change(key: str, issue_type: str | None, change_type: str) -> GateDecision:
    """Return the DENY answer for a key of an issue that is not a change request (an epic...)."""
    return _decision(GateVerdict.DENY, NOT_A_CHANGE, key,
                     issue_type=_with_article(issue_type or "issue"),
                     a_change_type=_with_article(change_type), change_type=change_type)


def _with_article(noun: str) -> str:
    """Return ``noun`` after "a" or "an", as it is read ("an Epic", "a Story")."""
    return f"{'an' if noun[:1].lower() in ('a', 'e', 'i', 'o', 'u') else 'a'} {noun}"


def decide_deploy(change: ChangeRequest, approvals: ApprovalState, *, environment: str,
                  now: datetime, policy: Policy, site: SiteMap, calendar: CabCalendar,
                  next_cab: Meeting | None, freezes: Iterable[Freeze] = ()) -> GateDecision:
    """Judge a deployment of ``change`` to ``environment`` at ``now`` against the policy.

    ``freezes`` are those the change's planned window may run into (the shell's search); what
    is left of the window from ``now`` is judged against them.
    """
    key = change.key
    names = policy.status_names
    ungated = outside_the_gate(environment, key, policy)
    if ungated is not None:
        return ungated
    role = site.status_role(change.status_id)
    if role is None:
        return _decision(GateVerdict.DENY, UNKNOWN_STATUS, key, approved=names[StatusRole.APPROVED])
    if role not in GATED_STATUSES:
        return _decision(GateVerdict.DENY, STOPPED[role], key, status=names[role],
                         awaiting=names[StatusRole.AWAITING_APPROVAL])
    # The rules an approval needs still hold at deployment (the Database type only as an
    # Emergency, a window that ends after it starts, ...): one broken since is a denial.
    findings = check_ready_for_approval(change, policy)
    if findings:
        finding = adf_to_text(paragraph(*describe_finding(findings[0], policy)))
        template = BREAKS_POLICY if len(findings) == 1 else BREAKS_POLICY_MORE
        return _decision(GateVerdict.DENY, template, key, finding=finding, count=len(findings))
    category = policy.category_of(change.option(FieldRole.CATEGORY))
    assert category is not None  # check_ready_for_approval requires a known category
    window = _window(change) if category in WINDOWED else None
    if window is not None and now >= window[1]:
        return _decision(GateVerdict.DENY, WINDOW_CLOSED, key, end=_at(window[1], calendar),
                         start_field=policy.field_name(FieldRole.PLANNED_START),
                         end_field=policy.field_name(FieldRole.PLANNED_END))
    # Approvals stand exactly as for the move to Implementing (rules/status_move.py).
    pre_approved = is_pre_approved(change, policy)
    missing = missing_roles(category, standing_approvals(approvals, change),
                            pre_approved=pre_approved)
    if role is StatusRole.AWAITING_APPROVAL:
        return _await_approval(key, category, missing, policy, calendar, next_cab)
    if missing:
        return _decision(GateVerdict.DENY, NOT_STANDING, key, status=names[role],
                         awaiting=names[StatusRole.AWAITING_APPROVAL], missing=missing_text(missing))
    in_freeze = _freeze_verdict(change, approvals, category, now, freezes, policy, calendar)
    if window is not None and in_freeze is not None and not in_freeze.allowed:
        return _frozen(key, in_freeze, window[1], now, policy, calendar)
    if window is not None and now < window[0]:
        return _decision(GateVerdict.WAIT, BEFORE_WINDOW, key, start=_at(window[0], calendar),
                         retry_after_seconds=_seconds_until(window[0], now), until=window[0])
    if window is not None:
        decision = _decision(GateVerdict.ALLOW, ALLOWED_PRE_APPROVED if pre_approved else ALLOWED,
                             key, status=names[role], end=_at(window[1], calendar),
                             environment=environment,
                             catalog_template=change.option(FieldRole.STANDARD_TEMPLATE))
    else:
        decision = _decision(GateVerdict.ALLOW, ALLOWED_EMERGENCY, key, status=names[role],
                             environment=environment, emergency=policy.category_values[category])
    if in_freeze is None or not in_freeze.text:
        return decision
    return dataclasses.replace(decision, reason=f"{decision.reason} {in_freeze.text}")


def _freeze_verdict(change: ChangeRequest, approvals: ApprovalState, category: Category,
                    now: datetime, freezes: Iterable[Freeze], policy: Policy,
                    calendar: CabCalendar) -> FreezeVerdict | None:
    """Return what the freezes say of what is left of the change's planned window from ``now``,
    or None when nothing of it is left (or an Emergency change has none)."""
    start = change.datetime_of(FieldRole.PLANNED_START)
    end = change.datetime_of(FieldRole.PLANNED_END)
    if start is None or end is None or end <= max(start, now):
        return None
    return freeze_verdict(change.key, category, has_freeze_exception(approvals, change),
                          max(start, now), end, freezes, calendar=calendar,
                          exception_group=policy.group_names[GroupRole.HEAD_OF_ENGINEERING])


def _frozen(key: str, verdict: FreezeVerdict, end: datetime, now: datetime, policy: Policy,
            calendar: CabCalendar) -> GateDecision:
    """WAIT for the blocking freeze to end when the window goes on after it, else DENY.

    The sweep decides every waiting deployment again (jobs/reconcile.py), so one waiting for a
    freeze is let through at the first sweep after the freeze has ended.
    """
    blocking, until = verdict.blocking, verdict.until
    assert blocking is not None and until is not None  # a blocked verdict names its freeze
    if until >= end:
        return GateDecision(GateVerdict.DENY, verdict.text, key)
    # Only soft freezes: the exception would lift them all.
    soft_only = all(f.kind is FreezeKind.SOFT for f in verdict.freezes)
    sooner = SOONER.format(group=policy.group_names[GroupRole.HEAD_OF_ENGINEERING],
                           awaiting=policy.status_names[StatusRole.AWAITING_APPROVAL])
    return _decision(GateVerdict.WAIT, FROZEN_UNTIL, key, kind=blocking.kind.value,
                     freeze=blocking.title, thaw=_at(until, calendar), end=_at(end, calendar),
                     sooner=sooner if soft_only else "",
                     retry_after_seconds=_seconds_until(until, now), until=until)


def _await_approval(key: str, category: Category, missing: tuple[frozenset[ApprovalRole], ...],
                    policy: Policy, calendar: CabCalendar, next_cab: Meeting | None) -> GateDecision:
    """WAIT for whoever still has to approve; a Normal change is expected at the next CAB."""
    names = policy.status_names
    if not missing:  # approved, then moved back to Awaiting Approval by hand
        return _decision(GateVerdict.WAIT, AWAITING_MOVE, key,
                         awaiting=names[StatusRole.AWAITING_APPROVAL],
                         approved=names[StatusRole.APPROVED],
                         retry_after_seconds=APPROVAL_RETRY_SECONDS)
    at_cab = next_cab if category is Category.NORMAL else None
    cab = NEXT_CAB.format(at=_at(at_cab.at, calendar)) if at_cab is not None else ""
    return _decision(GateVerdict.WAIT, AWAITING, key, missing=missing_text(missing), cab=cab,
                     retry_after_seconds=APPROVAL_RETRY_SECONDS,
                     until=at_cab.at if at_cab is not None else None)


def _window(change: ChangeRequest) -> tuple[datetime, datetime]:
    """Return the change window, Planned Start to Planned End (end excluded)."""
    start = change.datetime_of(FieldRole.PLANNED_START)
    end = change.datetime_of(FieldRole.PLANNED_END)
    assert start is not None and end is not None  # check_ready_for_approval requires both
    return start, end


def _decision(verdict: GateVerdict, template: str, key: str, *,
              retry_after_seconds: int | None = None, until: datetime | None = None,
              **values: object) -> GateDecision:
    return GateDecision(verdict, template.format(key=key, **values), key,
                        retry_after_seconds, until)


def _key_pattern(project_keys: tuple[str, ...]) -> re.Pattern[str]:
    """Return the pattern of an issue key of these projects, standing as a word of its own."""
    projects = "|".join(re.escape(p) for p in sorted(project_keys, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9])(?:{projects})-[1-9][0-9]*(?![A-Za-z0-9])")


def _at(moment: datetime, calendar: CabCalendar) -> str:
    return f"{when(moment, calendar)} ({calendar.zone_name})"


def _seconds_until(moment: datetime, now: datetime) -> int:
    return -((now - moment) // timedelta(seconds=1))  # rounded up: never ask a moment early


def _choices(values, last: str = "or") -> str:
    values = list(values)
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + f" {last} " + values[-1]
