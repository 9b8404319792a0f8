"""The one way a job acts on an issue: under its lock, by a stored plan, then marked handled."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from redis.lock import Lock
from rq import Queue

from rules.change_request import ChangeRequest, fields_to_fetch, parse_change_request
from rules.issue_record import PROPERTY_KEY, IssueRecord, parse_record
from rules.plan import (AddComment, AddLabel, FollowUp, Plan, Revert, SlackAlert, Step,
                        UnreadablePlan, WriteRecord, plan_from_json)
from worker.jira_client import JiraRejected
from worker.runtime import Runtime

from .enqueue import enqueue_once

logger = logging.getLogger(__name__)

# Longer than any one step may take: the Jira and Slack clients give up on a call well within it
# (their retry budgets), and the lock is renewed before each step.
LOCK_SECONDS = 60
MARKER_TTL_SECONDS = 30 * 24 * 3600
_STEP_EVENTS = {Revert: "transition reverted", AddLabel: "label added",
                AddComment: "comment added", WriteRecord: "issue record updated",
                SlackAlert: "slack alert posted", FollowUp: "follow-up enqueued"}


def iso_from_ms(timestamp_ms: int) -> str:
    """Return a webhook timestamp (epoch ms) as an ISO 8601 UTC string."""
    return datetime.fromtimestamp(timestamp_ms / 1000, timezone.utc).isoformat(timespec="seconds")



def read_change(rt: Runtime, issue_key: str) -> tuple[dict[str, Any], ChangeRequest, IssueRecord]:
    """Read a change with our record and the transitions out of its status (one GET); return
    the issue as read, the change and the record."""
    issue = rt.jira.get_issue(issue_key, fields=fields_to_fetch(rt.site),
                              properties=[PROPERTY_KEY], expand=["transitions"])
    record = parse_record((issue.get("properties") or {}).get(PROPERTY_KEY))
    return issue, parse_change_request(issue, rt.site), record


class IssueSession:
    """An issue's lock, held: read and write its handled marker, carry out plans on it."""

    def __init__(self, rt: Runtime, issue_key: str, lock: Lock):
        self.rt = rt
        self.issue_key = issue_key
        self._lock = lock
        self._handled_key = rt.settings.key("handled", issue_key)

    def last_handled(self) -> int | None:
        """Return the id of the latest change log entry handled on this issue, if any."""
        value = self.rt.redis.get(self._handled_key)
        return int(value) if value else None

    def mark_handled(self, changelog_id: int) -> None:
        """Note that the move or edit ``changelog_id`` is done with (only ever moves forward)."""
        last = self.last_handled()
        if last is None or last < changelog_id:
            self.rt.redis.set(self._handled_key, changelog_id, ex=MARKER_TTL_SECONDS)

    def stored_plan(self, plan_id: str) -> Plan | None:
        """Return the plan a previous try of this job left unfinished, if any."""
        raw = self.rt.redis.get(self._plan_key(plan_id))
        if not raw:
            return None
        try:
            return plan_from_json(json.loads(raw))
        except (UnreadablePlan, ValueError) as exc:
            # Jira is the record: judging afresh redoes nothing that shows there.
            logger.warning("stored plan discarded", extra={"issue_key": self.issue_key,
                                                            "plan": plan_id, "error": str(exc)})
            return None

    def carry_out(self, plan_id: str, plan: Plan, context: Mapping[str, Any], *,
                  handled: int | None = None) -> Plan:
        """Take each step not taken yet, storing progress after each; then mark ``handled``.

        The plan is stored before the first step, so a retry after a crash resumes where this
        try stopped; the lock is renewed before each step, so a job whose lock lapsed stops
        (LockNotOwnedError) instead of acting beside the worker that took it.
        """
        key = self._plan_key(plan_id)
        self._store(key, plan)
        while (step := plan.next_step) is not None:
            self._lock.reacquire()
            try:
                self._take(step)
            except JiraRejected as exc:
                if not isinstance(step, Revert):
                    raise
                if self._already_back(step):
                    # A worker died after Jira moved the issue back, before noting it here.
                    logger.info("revert found done", extra={**context, "error": str(exc)})
                elif plan.fallback:
                    # Jira refused the way back: flag the issue instead.
                    logger.warning("revert refused", extra={**context, "error": str(exc)})
                    plan = plan.falling_back()
                    self._store(key, plan)
                    continue
                else:
                    raise
            plan = plan.step_taken()
            self._store(key, plan)
            logger.info(_STEP_EVENTS[type(step)], extra={**context, "step": step.kind})
        if handled is not None:
            self.mark_handled(handled)
        self.rt.redis.delete(key)
        return plan

    def _plan_key(self, plan_id: str) -> str:
        return self.rt.settings.key("plan", self.issue_key, plan_id)

    def _store(self, key: str, plan: Plan) -> None:
        self.rt.redis.set(key, json.dumps(plan.to_json()), ex=MARKER_TTL_SECONDS)

    def _take(self, step: Step) -> None:
        rt, key = self.rt, self.issue_key
        if isinstance(step, Revert):
            rt.jira.transition_issue(key, step.transition_id,
                                     properties={PROPERTY_KEY: step.record})
        elif isinstance(step, AddLabel):
            rt.jira.add_label(key, step.label)
        elif isinstance(step, AddComment):
            rt.jira.add_comment(key, step.body)
        elif isinstance(step, WriteRecord):
            rt.jira.set_issue_property(key, PROPERTY_KEY, step.value)
        elif isinstance(step, SlackAlert):
            rt.slack.post_message(step.channel, step.text)
        else:
            enqueue_once(Queue(rt.settings.queue_name, connection=rt.redis), step.func,
                         f"{rt.settings.namespace}-{step.job_id}", step.kwargs)

    def _already_back(self, step: Revert) -> bool:
        """Tell whether the issue already is where the refused revert would move it.

        If so, our record is made sure of (it rode on the move back, unless someone else moved it).
        """
        issue = self.rt.jira.get_issue(self.issue_key, fields=("status",),
                                       properties=[PROPERTY_KEY])
        if ((issue.get("fields") or {}).get("status") or {}).get("id") != step.to_status_id:
            return False
        if (issue.get("properties") or {}).get(PROPERTY_KEY) != step.record:
            self.rt.jira.set_issue_property(self.issue_key, PROPERTY_KEY, step.record)
        return True


@contextlib.contextmanager
def issue_session(rt: Runtime, issue_key: str, *, lane: str | None = None
                  ) -> Iterator[IssueSession]:
    """Hold the issue's lock, so two workers never act on the same issue at once.

    A ``lane`` is a lock of its own: work in it (Slack notices) waits for other work in the same
    lane of the issue, not for enforcement.
    """
    name = rt.settings.key("lock", issue_key) if lane is None else rt.settings.key(
        "lock", lane, issue_key)
    with rt.redis.lock(name, timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS) as lock:
        yield IssueSession(rt, issue_key, lock)


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
