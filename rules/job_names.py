"""Name the jobs the rules ask for, and the deterministic ids the router and the sweep share."""

from __future__ import annotations

import enum
import hashlib
import re


class JobName(str, enum.Enum):
    """A job rules/ asks for (it cannot import jobs/), as the dotted path of its function.

    jobs/registry.py maps each name to the function itself.
    """

    ENFORCE_TRANSITION = "jobs.enforce_transition.enforce_transition"
    ENFORCE_EDIT = "jobs.enforce_edit.enforce_edit"
    ANNOUNCE_DEPLOYMENT = "jobs.deployment_notices.announce_deployment"
    REQUEST_EMERGENCY_APPROVAL = "jobs.slack_approvals.request_emergency_approval"
    JUDGE_DEPLOYMENT = "jobs.deploy_gate.judge_deployment"
    FINISH_DEPLOYMENT = "jobs.deploy_outcome.finish_deployment"
    RELEASE_WAITING = "jobs.deploy_gate.release_waiting"
    FLAG_UNGATED = "jobs.deploy_outcome.flag_ungated"
    RECHECK_FREEZE = "jobs.freeze_declared.recheck_freeze"
    WITHDRAW_FOR_FREEZE = "jobs.freeze_declared.withdraw_for_freeze"


# The webhook router and the reconciliation sweep enqueue the same unique job for the same
# changelog entry, so a sweep and a late webhook never both do the work.


def transition_job_id(namespace: str, issue_key: str, changelog_id: str) -> str:
    """Return the id of the enforcement of one status move (RQ job keys are global: namespaced)."""
    return f"{namespace}-transition-{issue_key}-{changelog_id}"


def edit_job_id(namespace: str, issue_key: str, changelog_id: str) -> str:
    """Return the id of the approval check after one edit."""
    return f"{namespace}-edit-{issue_key}-{changelog_id}"


def freeze_job_id(namespace: str, issue_key: str, occurrence: str) -> str:
    """Return the id of the check of a freeze issue after one event: its changelog id, or what
    tells the event apart without one (its creation time, its deletion)."""
    return f"{namespace}-freeze-{issue_key}-{_safe(occurrence)}"


def gate_job_id(namespace: str, deployment_id: str, asked: str) -> str:
    """Return the id of one judgement of a deployment; ``asked`` tells redeliveries (the
    delivery id: same job) from new questions (a poll's own id: a new job)."""
    return f"{namespace}-gate-{_safe(deployment_id)}-{_safe(asked)}"


def finish_job_id(namespace: str, run_id: str, asked: str) -> str:
    """Return the id of the job recording how one pipeline run ended."""
    return f"{namespace}-finish-{_safe(run_id)}-{_safe(asked)}"


def _safe(part: str) -> str:
    """Return ``part`` fit for an RQ job id (ASCII letters, digits, '-', '_'), still unique.

    Only letters and digits are kept as they are: '-' then only ever separates parts, and a
    part kept as it is (no '_') never reads like another one made safe.
    """
    if re.fullmatch(r"[A-Za-z0-9]*", part):
        return part
    safe = re.sub(r"[^A-Za-z0-9]", "_", part)
    return f"{safe}_{hashlib.sha256(part.encode()).hexdigest()[:10]}"
