"""Enforce one status move: re-read the issue, judge the move, revert and explain if it breaks policy."""

from __future__ import annotations

import json
import logging
from typing import Any

from rules.change_request import fields_to_fetch, parse_change_request
from rules.messages import blocked_move_comment
from rules.policy import Policy
from rules.site_map import SiteMap
from rules.status_move import MoveDecision, StatusMove, Verdict, judge_move, screen_move
from worker import runtime as runtime_module
from worker.runtime import Runtime

logger = logging.getLogger(__name__)

LOCK_SECONDS = 120
MARKER_TTL_SECONDS = 30 * 24 * 3600
_STEP_EVENTS = {"revert": "transition reverted", "label": "violation labelled",
                "comment": "comment added"}


def enforce_transition(
    issue_key: str,
    event_id: str,
    timestamp: int,
    changelog_id: str,
    from_status_id: str | None,
    to_status_id: str,
    actor_account_id: str | None,
    *,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """Judge the move recorded as ``changelog_id`` and act on it exactly once."""
    rt = runtime or runtime_module.current()
    move = StatusMove(int(changelog_id), from_status_id, to_status_id, actor_account_id)
    context = {"issue_key": issue_key, "event_id": event_id, "changelog_id": move.changelog_id}
    handled_key = rt.settings.key("handled", issue_key)
    plan_key = rt.settings.key("plan", issue_key, str(move.changelog_id))

    # One job per issue at a time, so two workers never judge the same issue at once.
    with rt.redis.lock(rt.settings.key("lock", issue_key), timeout=LOCK_SECONDS,
                       blocking_timeout=LOCK_SECONDS):
        plan = _load_plan(rt, plan_key)
        if plan is None:
            last = rt.redis.get(handled_key)
            decision = screen_move(move, rt.site,
                                   last_handled_changelog_id=int(last) if last else None)
            if decision is None:
                issue = rt.jira.get_issue(issue_key, fields=fields_to_fetch(rt.site))
                change = parse_change_request(issue, rt.site)
                decision = judge_move(move, change, rt.policy, rt.site)
            logger.info("move judged", extra={**context, "verdict": decision.verdict.value,
                                             "reason": decision.reason.value,
                                             "findings": [f.field.value for f in decision.findings]})
            if decision.verdict is not Verdict.REVERT:
                _mark_handled(rt, handled_key, move.changelog_id)
                return {"verdict": decision.verdict.value, "reason": decision.reason.value}
            plan = _make_plan(rt, issue_key, move, decision)
            rt.redis.set(plan_key, json.dumps(plan), ex=MARKER_TTL_SECONDS)
        _carry_out(rt, issue_key, plan_key, plan, context)
        _mark_handled(rt, handled_key, move.changelog_id)
        rt.redis.delete(plan_key)  # finished: a repeat of this event is now "already handled"
        return {"verdict": Verdict.REVERT.value, "reason": plan["reason"],
                "reverted": plan["transition_id"] is not None}


def _make_plan(rt: Runtime, issue_key: str, move: StatusMove, decision: MoveDecision) -> dict:
    """Decide the concrete steps (which transition, which comment) before taking any of them."""
    transition_id = None
    if decision.revert_to_status_id is not None:
        for transition in rt.jira.get_transitions(issue_key):
            if transition.get("to", {}).get("id") == decision.revert_to_status_id:
                transition_id = transition["id"]
                break
    comment = blocked_move_comment(
        actor_account_id=move.actor_account_id,
        findings=decision.findings,
        policy=rt.policy,
        from_status=_status_name(rt.policy, rt.site, move.from_status_id, "its previous status"),
        to_status=_status_name(rt.policy, rt.site, move.to_status_id, "this status"),
        reverted=transition_id is not None,
    )
    return {"reason": decision.reason.value, "transition_id": transition_id, "comment": comment,
            "done": []}


def _carry_out(rt: Runtime, issue_key: str, plan_key: str, plan: dict, context: dict) -> None:
    """Take the plan's steps, recording each, so a retried job resumes instead of repeating."""
    steps = []
    if plan["transition_id"] is not None:
        steps.append(("revert", lambda: rt.jira.transition_issue(issue_key, plan["transition_id"])))
    else:
        steps.append(("label", lambda: rt.jira.add_label(issue_key, rt.policy.violation_label)))
    steps.append(("comment", lambda: rt.jira.add_comment(issue_key, plan["comment"])))
    for name, step in steps:
        if name in plan["done"]:
            continue
        step()
        plan["done"].append(name)
        rt.redis.set(plan_key, json.dumps(plan), ex=MARKER_TTL_SECONDS)
        logger.info(_STEP_EVENTS[name], extra={**context, "step": name})


def _load_plan(rt: Runtime, plan_key: str) -> dict | None:
    raw = rt.redis.get(plan_key)
    return json.loads(raw) if raw else None


def _mark_handled(rt: Runtime, handled_key: str, changelog_id: int) -> None:
    last = rt.redis.get(handled_key)
    if last is None or int(last) < changelog_id:
        rt.redis.set(handled_key, changelog_id, ex=MARKER_TTL_SECONDS)


def _status_name(policy: Policy, site: SiteMap, status_id: str | None, fallback: str) -> str:
    role = site.status_role(status_id)
    return policy.status_names[role] if role is not None else fallback
