"""Look up which policy groups a person is in, through Jira, cached briefly in Redis."""

from __future__ import annotations

import json

from rules.policy import GroupRole
from worker.runtime import Runtime

CACHE_SECONDS = 60


def groups_of(rt: Runtime, account_id: str | None) -> frozenset[GroupRole]:
    """Return the approval groups ``account_id`` belongs to (cached for a minute)."""
    if not account_id:
        return frozenset()
    key = rt.settings.key("groups", account_id)
    cached = rt.redis.get(key)
    if cached is not None:
        names = set(json.loads(cached))
    else:
        names = set(rt.jira.get_user_groups(account_id))
        rt.redis.set(key, json.dumps(sorted(names)), ex=CACHE_SECONDS)
    return frozenset(role for role, name in rt.policy.group_names.items() if name in names)
