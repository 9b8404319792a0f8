"""Carry out a decision on an issue as a recorded plan, so a retried job resumes, never repeats."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from rules.issue_record import PROPERTY_KEY
from worker.jira_client import JiraRejected
from worker.runtime import Runtime

logger = logging.getLogger(__name__)

# A job takes well under a second; a lock left by a crashed job lapses within a minute.
LOCK_SECONDS = 60
MARKER_TTL_SECONDS = 30 * 24 * 3600
_STEP_EVENTS = {"revert": "transition reverted", "label": "violation labelled",
                "comment": "comment added", "record": "issue record updated",
                "alert": "violation alerted"}


@contextlib.contextmanager
def issue_lock(rt: Runtime, issue_key: str) -> Iterator[None]:
    """Hold the issue's lock, so two workers never judge the same issue at once."""
    with rt.redis.lock(rt.settings.key("lock", issue_key), timeout=LOCK_SECONDS,
                       blocking_timeout=LOCK_SECONDS):
        yield


def iso_from_ms(timestamp_ms: int) -> str:
    """Return a webhook timestamp (epoch ms) as an ISO 8601 UTC string."""
    return datetime.fromtimestamp(timestamp_ms / 1000, timezone.utc).isoformat(timespec="seconds")


def find_transition(rt: Runtime, issue_key: str, to_status_id: str | None,
                    issue: Mapping[str, Any] | None = None) -> str | None:
    """Return the id of a transition from the current status to ``to_status_id``, if Jira has one.

    An ``issue`` read with expand=transitions already lists them; otherwise ask Jira.
    """
    if to_status_id is None:
        return None
    transitions = issue.get("transitions") if issue is not None else None
    if transitions is None:
        transitions = rt.jira.get_transitions(issue_key)
    for transition in transitions:
        if transition.get("to", {}).get("id") == to_status_id:
            return transition["id"]
    return None


def revert_step(transition_id: str, to_status_id: str, record: dict) -> dict:
    """Return the plan step that moves the issue back and writes our record with that move."""
    return {"kind": "revert", "transition_id": transition_id, "to_status_id": to_status_id,
            "record": record}


def load_plan(rt: Runtime, plan_key: str) -> dict | None:
    """Return the unfinished plan stored under ``plan_key``, if any."""
    raw = rt.redis.get(plan_key)
    return json.loads(raw) if raw else None


def carry_out(rt: Runtime, issue_key: str, plan_key: str, plan: dict, context: dict) -> None:
    """Take each step of the plan not yet done, recording progress after each one."""
    rt.redis.set(plan_key, json.dumps(plan), ex=MARKER_TTL_SECONDS)
    index = 0
    while index < len(plan["steps"]):
        step = plan["steps"][index]
        if index not in plan["done"]:
            try:
                _take(rt, issue_key, step)
            except JiraRejected as exc:
                if step["kind"] != "revert":
                    raise
                if _already_back(rt, issue_key, step):
                    # A worker died after Jira moved the issue back, before noting it here.
                    logger.info("revert found done", extra={**context, "error": str(exc)})
                elif plan.get("fallback"):
                    # Jira refused the way back: switch to the plan's fallback (flag the issue).
                    logger.warning("revert refused", extra={**context, "error": str(exc)})
                    plan["steps"] = plan["steps"][:index] + plan.pop("fallback")
                    plan["summary"]["reverted"] = False
                    rt.redis.set(plan_key, json.dumps(plan), ex=MARKER_TTL_SECONDS)
                    continue
                else:
                    raise
            plan["done"].append(index)
            rt.redis.set(plan_key, json.dumps(plan), ex=MARKER_TTL_SECONDS)
            logger.info(_STEP_EVENTS[step["kind"]], extra={**context, "step": step["kind"]})
        index += 1
    rt.redis.delete(plan_key)


def _already_back(rt: Runtime, issue_key: str, step: dict[str, Any]) -> bool:
    """Tell whether the issue already is where the refused revert step would move it.

    If so, our record is made sure of (it rode on the move back, unless someone else moved it).
    """
    if "to_status_id" not in step:  # a plan stored by an older version
        return False
    issue = rt.jira.get_issue(issue_key, fields=("status",), properties=[PROPERTY_KEY])
    if ((issue.get("fields") or {}).get("status") or {}).get("id") != step["to_status_id"]:
        return False
    if (issue.get("properties") or {}).get(PROPERTY_KEY) != step["record"]:
        rt.jira.set_issue_property(issue_key, PROPERTY_KEY, step["record"])
    return True


def _take(rt: Runtime, issue_key: str, step: dict[str, Any]) -> None:
    kind = step["kind"]
    if kind == "revert":
        # One call: our record rides on the move back (a plan stored before it did has none).
        record = {PROPERTY_KEY: step["record"]} if "record" in step else None
        rt.jira.transition_issue(issue_key, step["transition_id"], properties=record)
    elif kind == "label":
        rt.jira.add_label(issue_key, step["label"])
    elif kind == "comment":
        rt.jira.add_comment(issue_key, step["body"])
    elif kind == "record":
        rt.jira.set_issue_property(issue_key, PROPERTY_KEY, step["value"])
    elif kind == "alert":
        rt.slack.post_message(step["channel"], step["text"])
    else:  # pragma: no cover - plans are written by this module's callers only
        raise ValueError(f"unknown step {kind!r}")
