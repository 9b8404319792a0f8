"""Keep the deployments waiting at the gate in Redis, by change, until Jira decides them."""

from __future__ import annotations

import json

from rules.deployment import DeployRequest
from worker.runtime import Runtime

INDEX = "gate-waiting"  # the set of change keys with waiting deployments


def remember_waiting(rt: Runtime, change_key: str, request: DeployRequest, reason: str) -> None:
    """Keep ``request`` waiting for ``change_key``, with the reason it waits."""
    pipe = rt.redis.pipeline()
    pipe.hset(rt.settings.key("gate-waiting", change_key), request.deployment_id,
              json.dumps({"request": request.to_json(), "reason": reason}))
    pipe.sadd(rt.settings.key(INDEX), change_key)
    pipe.execute()


def waiting_reason(rt: Runtime, change_key: str, deployment_id: str) -> str | None:
    """Return the reason ``deployment_id`` was last kept waiting for ``change_key``, if it
    waits (a pipeline is told each new reason once)."""
    stored = rt.redis.hget(rt.settings.key("gate-waiting", change_key), deployment_id)
    return json.loads(stored).get("reason") if stored is not None else None


# Atomic: a deployment remembered between the HDEL and the SREM would leave its change out of
# the index the sweep reads.
_FORGET = """
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
"""


def forget_waiting(rt: Runtime, change_key: str, deployment_id: str) -> None:
    """Stop keeping ``deployment_id`` waiting for ``change_key`` (it was answered)."""
    rt.redis.eval(_FORGET, 2, rt.settings.key("gate-waiting", change_key),
                  rt.settings.key(INDEX), deployment_id, change_key)


def waiting_for(rt: Runtime, change_key: str) -> list[DeployRequest]:
    """Return the deployments waiting for ``change_key``, oldest request first."""
    values = rt.redis.hvals(rt.settings.key("gate-waiting", change_key))
    requests = [DeployRequest.from_json(json.loads(v)["request"]) for v in values]
    return sorted(requests, key=lambda r: (r.requested_at, r.deployment_id))


def has_waiting(rt: Runtime, change_key: str) -> bool:
    """Tell whether any deployment waits for ``change_key`` (one Redis call)."""
    return bool(rt.redis.exists(rt.settings.key("gate-waiting", change_key)))


# How long a run's change is remembered, for the run's end (and a deployment's template change).
RUN_TTL_SECONDS = 90 * 24 * 3600


def run_key(rt: Runtime, run_id: str) -> str:
    """Return the Redis key naming the change a run's deployment was allowed for (set by the
    gate before the pipeline hears "go"; read when the run starts and ends)."""
    return rt.settings.key("gate-run", run_id)


def changes_with_waiting(rt: Runtime) -> list[str]:
    """Return the keys of the changes that deployments wait for."""
    return sorted(k.decode() for k in rt.redis.smembers(rt.settings.key(INDEX)))
