"""Make (once) the Standard change a deployment declares a template for, and move it on its path."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from rules.change_history import parse_history
from rules.change_request import fields_to_fetch, parse_change_request
from rules.deploy_gate import GateDecision
from rules.deployment import DeploymentEntry, DeployRequest, DeployState, remote_link
from rules.policy import StandardTemplate
from rules.standard_template import (choose_template, declared_template, deployment_label,
                                     issue_fields, next_move, reporter_for)
from worker.runtime import Runtime

from .issue_session import find_transition
from .waiting_deployments import RUN_TTL_SECONDS

logger = logging.getLogger(__name__)

LOCK_SECONDS = 60


def change_for_template(rt: Runtime, req: DeployRequest) -> str | GateDecision:
    """Return the key of the change made from the template ``req`` declares (made now if this
    deployment has none yet, and moved on the Standard path), or the answer when none may be.

    Asked again for the same deployment (a redelivery, a polling pipeline), it returns the
    same change: its key is kept in Redis, and found again in Jira by its label if Redis lost it.
    """
    declared = declared_template(req)
    assert declared is not None, "only a deployment that declares a template has one made"
    now = datetime.now(timezone.utc)
    chosen = choose_template(declared, req.environment, rt.policy, now)
    if isinstance(chosen, GateDecision):
        logger.info("no change made from template", extra={
            "deployment_id": req.deployment_id, "template": declared,
            "verdict": chosen.verdict.value})
        return chosen
    label = deployment_label(req.deployment_id)
    remembered = rt.settings.key("template-change", req.deployment_id)
    # Two tries of one deployment at once (a redelivery beside a poll) must not make two changes.
    with rt.redis.lock(rt.settings.key("lock", "template", req.deployment_id),
                       timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS):
        key = _known_change(rt, remembered, label)
        if key is None:
            key = _make_change(rt, req, chosen, now)
        # Kept as long as a run's change; past that, or if Redis loses it, the label finds it.
        rt.redis.set(remembered, key, ex=RUN_TTL_SECONDS)
        _move_on(rt, key)
    return key


def _known_change(rt: Runtime, remembered: str, label: str) -> str | None:
    """Return the change already made for the deployment: kept in Redis, else found by label."""
    stored = rt.redis.get(remembered)
    if stored is not None:
        return stored.decode()
    # Jira's search index lags a created issue by seconds; Redis covers that window.
    jql = rt.policy.scoped_jql(f'labels = "{label}"', order_by="created ASC")
    found = next(iter(rt.jira.search_issues(jql, fields=["status"], page_size=1)), None)
    return found["key"] if found is not None else None


def _make_change(rt: Runtime, req: DeployRequest, spec: StandardTemplate, now: datetime) -> str:
    """Create the change request from the template, reported by the deployer where found."""
    email = (req.triggered_by_email or "").strip()
    reporter = reporter_for(rt.jira.find_users_by_email(email)) if email else None
    fields = issue_fields(spec, req, policy=rt.policy, site=rt.site, now=now, reporter=reporter)
    key = rt.jira.create_issue(fields)["key"]
    logger.info("change made from template", extra={
        "issue_key": key, "deployment_id": req.deployment_id, "template": spec.name,
        "reporter": reporter or "changeguard"})
    link = remote_link(DeploymentEntry(
        deployment_id=req.deployment_id, run_id=req.run_id, vendor=req.vendor.value,
        environment=req.environment, state=DeployState.WAITING, reason="",
        at=now.isoformat(timespec="seconds"), sha=req.sha, ref=req.ref, run_url=req.run_url,
        triggered_by=req.triggered_by))
    if link is not None:  # the gate's answer updates it in place (same global id)
        rt.jira.upsert_remote_link(key, link)
    return key


def _move_on(rt: Runtime, key: str) -> None:
    """Move the change along the Standard path as far as changeguard may take it."""
    while True:
        issue = rt.jira.get_issue(key, fields=fields_to_fetch(rt.site), expand=["changelog"])
        change = parse_change_request(issue, rt.site)
        to_role = next_move(change, parse_history(issue, rt.site), rt.policy, rt.site)
        if to_role is None:
            return
        to_status = rt.site.status_ids[to_role]
        transition = find_transition(rt, key, to_status)
        if transition is None:
            logger.warning("no transition on the Standard path", extra={
                "issue_key": key, "to_status_id": to_status})
            return
        rt.jira.transition_issue(key, transition)
        logger.info("change made from template moved", extra={
            "issue_key": key, "to_status_id": to_status})
