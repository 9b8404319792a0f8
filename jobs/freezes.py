"""Find the freezes a window runs into: the policy's recurring ones and those declared in Jira."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from rules.change_request import ChangeRequest, SnapshotError
from rules.freeze import (Freeze, IncompleteFreeze, declared_freezes_jql, freeze_fields_to_fetch,
                          freeze_from_issue, freeze_from_json, freeze_to_json, overlapping,
                          parse_freeze_issue, recurring_freezes)
from rules.policy import FieldRole, GroupRole
from rules.status_move import planned_window
from worker.runtime import Runtime

from .approver_groups import groups_of

logger = logging.getLogger(__name__)

# Freezes are declared rarely and read on every move forward: one search a minute at most, and
# the freeze job forgets the list as soon as a freeze is declared, changed or cancelled.
CACHE_SECONDS = 60
PAGE_SIZE = 100


def freezes_between(rt: Runtime, start: datetime, end: datetime) -> tuple[Freeze, ...]:
    """Return every freeze overlapping [start, end), recurring and declared, ordered by start."""
    found = recurring_freezes(rt.freeze_rules, start, end) + overlapping(
        start, end, declared_freezes(rt))
    return tuple(sorted(found, key=lambda f: (f.start, f.end, f.name)))


def freezes_for_change(rt: Runtime, change: ChangeRequest) -> tuple[Freeze, ...]:
    """Return the freezes the change's planned window overlaps (none without a whole window)."""
    window = planned_window(change)
    return freezes_between(rt, *window) if window is not None else ()


def declared_freezes(rt: Runtime) -> tuple[Freeze, ...]:
    """Return the freezes declared in Jira that are in force (cached for a minute)."""
    key = _cache_key(rt)
    cached = rt.redis.get(key)
    if cached is not None:
        return tuple(freeze_from_json(value) for value in json.loads(cached))
    freezes = tuple(_search(rt))
    rt.redis.set(key, json.dumps([freeze_to_json(f) for f in freezes]), ex=CACHE_SECONDS)
    return freezes


def forget_declared_freezes(rt: Runtime) -> None:
    """Drop the cached list, so the next look sees a freeze just declared, changed or cancelled."""
    rt.redis.delete(_cache_key(rt))


def _cache_key(rt: Runtime) -> str:
    return rt.settings.key("freezes", "declared")


def _search(rt: Runtime):
    """Yield the declared freezes in force: complete, and declared by the Head of Engineering."""
    jql = declared_freezes_jql(rt.policy, rt.site)
    if jql is None:
        return
    names = rt.policy.field_names
    for issue in rt.jira.search_issues(jql, fields=freeze_fields_to_fetch(rt.site),
                                       page_size=PAGE_SIZE):
        try:
            declared = parse_freeze_issue(issue, rt.site)
        except SnapshotError as exc:
            logger.warning("freeze issue unreadable", extra={"error": str(exc)})
            continue
        freeze = freeze_from_issue(declared, rt.policy.freezes,
                                   start_field=names[FieldRole.PLANNED_START],
                                   end_field=names[FieldRole.PLANNED_END])
        if isinstance(freeze, IncompleteFreeze):
            continue
        # Only the Head of Engineering may declare a freeze (the reporter declares it).
        if GroupRole.HEAD_OF_ENGINEERING not in groups_of(rt, declared.reporter_account_id):
            continue
        yield freeze
