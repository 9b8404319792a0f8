"""Keep the deployments waiting at the gate in Redis, by change, until Jira decides them."""

from __future__ import annotations

import json

from rules.deployment import DeployRequest
from worker.runtime import Runtime

INDEX = "gate-waiting"  # the set of change keys with waiting deployments


def remember_waiting(rt: Runtime, change_key: str, request: DeployRequest, reason: str) -> bool:
    """Keep ``request`` waiting for ``change_key``; return whether ``reason`` is new for it (a
    deployment's page shows each new reason once)."""
    key = rt.settings.key("gate-waiting", change_key)
    old = rt.redis.hget(key, request.deployment_id)
    pipe = rt.redis.pipeline()
    pipe.hset(key, request.deployment_id,
              json.dumps({"request": request.to_json(), "reason": reason}))
    pipe.sadd(rt.settings.key(INDEX), change_key)
    pipe.execute()
    return old is None or json.loads(old).get("reason") != reason


def forget_waiting(rt: Runtime, change_key: str, deployment_id: str) -> None:
    """Stop keeping ``deployment_id`` waiting for ``change_key`` (it was answered)."""
    key = rt.settings.key("gate-waiting", change_key)
    rt.redis.hdel(key, deployment_id)
    if not rt.redis.exists(key):
        rt.redis.srem(rt.settings.key(INDEX), change_key)


def waiting_for(rt: Runtime, change_key: str) -> list[DeployRequest]:
    """Return the deployments waiting for ``change_key``, oldest request first."""
    values = rt.redis.hvals(rt.settings.key("gate-waiting", change_key))
    requests = [DeployRequest.from_json(json.loads(v)["request"]) for v in values]
    return sorted(requests, key=lambda r: (r.requested_at, r.deployment_id))


def has_waiting(rt: Runtime, change_key: str) -> bool:
    """Tell whether any deployment waits for ``change_key`` (one Redis call)."""
    return bool(rt.redis.exists(rt.settings.key("gate-waiting", change_key)))


def run_key(rt: Runtime, run_id: str) -> str:
    """Return the Redis key naming the change a run's deployment was allowed for (set by the
    gate before the pipeline hears "go"; read when the run starts and ends)."""
    return rt.settings.key("gate-run", run_id)


def changes_with_waiting(rt: Runtime) -> list[str]:
    """Return the keys of the changes that deployments wait for."""
    return sorted(k.decode() for k in rt.redis.smembers(rt.settings.key(INDEX)))
