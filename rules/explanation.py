"""Explain where a change request stands against every gate, for `changeguard check` (a dry run)."""

from __future__ import annotations

from collections.abc import Iterable

from .approvals import (ROLE_DESCRIPTIONS, has_freeze_exception, is_pre_approved, missing_roles,
                        standing_approvals)
from .awaiting_approval_gate import check_ready_for_approval
from .cab_schedule import CabCalendar, when
from .change_request import ChangeRequest
from .freeze import Freeze, freeze_verdict
from .issue_record import IssueRecord
from .messages import describe_finding
from .policy import FieldRole, GroupRole, Policy, StatusRole
from .post_implementation_review import check_review
from .site_map import SiteMap

NO_WINDOW = "  freezes: none checked, the planned window is not set (or ends before it starts)"
NO_FREEZE = "  freezes: none overlap the planned window"


def explain(change: ChangeRequest, record: IssueRecord, policy: Policy, site: SiteMap, *,
            freezes: Iterable[Freeze] = (), calendar: CabCalendar | None = None) -> list[str]:
    """Return lines saying, gate by gate, what the change meets and what it still lacks.

    With the CAB's ``calendar``, the lines also name the ``freezes`` the planned window runs
    into and what they decide (without it, freezes are not looked at).
    """
    status_role = site.status_role(change.status_id)
    status = policy.status_names[status_role] if status_role else f"status {change.status_id}"
    category_value = change.option(FieldRole.CATEGORY)
    category = policy.category_of(category_value)
    lines = [f"{change.key} “{change.summary}”: {category_value or 'no category'} change, "
             f"in {status}"]

    def gate(title: str, findings) -> None:
        if not findings:
            lines.append(f"  {title}: passes")
            return
        lines.append(f"  {title}: {len(findings)} thing{'s' if len(findings) != 1 else ''} missing")
        for finding in findings:
            lines.append("    - " + "".join(n["text"] for n in describe_finding(finding, policy)))

    names = policy.status_names
    gate(f"into {names[StatusRole.AWAITING_APPROVAL]}", check_ready_for_approval(change, policy))
    standing = standing_approvals(record.approvals, change)
    stale = len(record.approvals.approvals) - len(standing)
    if category is None:
        lines.append(f"  into {names[StatusRole.APPROVED]}: needs a known category first")
    else:
        needed = missing_roles(category, standing, pre_approved=is_pre_approved(change, policy))
        given = ", ".join(f"{a.account_id} as {ROLE_DESCRIPTIONS[a.role]} ({a.at})"
                          for a in standing) or "none"
        lines.append(f"  into {names[StatusRole.APPROVED]}: approvals standing: {given}")
        if stale:
            lines.append(f"    ({stale} earlier approval{'s' if stale != 1 else ''} withdrawn "
                         "by an edit since)")
        if needed:
            still = " and ".join(" or ".join(sorted(ROLE_DESCRIPTIONS[r] for r in need))
                                 for need in needed)
            lines.append(f"    still needs: {still}")
        lines.append(f"  into {names[StatusRole.IMPLEMENTING]}: "
                     + ("allowed from Approved" if not needed
                        else "not until the approvals are complete"))
    if calendar is not None:
        lines.extend(freeze_lines(change, record, policy, freezes, calendar))
    gate(f"into {names[StatusRole.CLOSED]}", check_review(change, policy))
    if status_role is not None:
        targets = sorted(names[to] for frm, to in policy.allowed_moves if frm is status_role)
        lines.append(f"  from {status} people may move it to: {', '.join(targets) or 'nowhere'}")
    if record.audit:
        lines.append("Decisions so far (newest last):")
        for entry in record.audit[-10:]:
            lines.append(f"  {entry.get('at')} {entry.get('decision')} ({entry.get('reason')}): "
                         f"{entry.get('from') or '-'} → {entry.get('to') or '-'} by "
                         f"{entry.get('actor') or 'unknown'}"
                         + (f"; {entry['detail']}" if entry.get("detail") else ""))
    return lines


def freeze_lines(change: ChangeRequest, record: IssueRecord, policy: Policy,
                 freezes: Iterable[Freeze], calendar: CabCalendar) -> list[str]:
    """Return the freezes the change's planned window overlaps, one line each, and the verdict
    (the same as the moves to Approved and Implementing and the deployment gate give)."""
    start = change.datetime_of(FieldRole.PLANNED_START)
    end = change.datetime_of(FieldRole.PLANNED_END)
    if start is None or end is None or end <= start:
        return [NO_WINDOW]
    verdict = freeze_verdict(
        change.key, policy.category_of(change.option(FieldRole.CATEGORY)),
        has_freeze_exception(record.approvals, change), start, end, freezes, calendar=calendar,
        exception_group=policy.group_names[GroupRole.HEAD_OF_ENGINEERING])
    if not verdict.freezes:
        return [NO_FREEZE]
    lines = [f"  freezes the planned window runs into: {len(verdict.freezes)}"]
    lines.extend(f"    - {f.kind.value} freeze {f.title}, {when(f.start, calendar)} to "
                 f"{when(f.end, calendar)} ({calendar.zone_name}): {f.reason}"
                 for f in verdict.freezes)
    lines.append(f"    {'allowed' if verdict.allowed else 'blocked'}: {verdict.text}")
    return lines
