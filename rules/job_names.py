"""Name the jobs the rules ask for, and the deterministic ids the router and the sweep share."""

from __future__ import annotations

import enum


class JobName(str, enum.Enum):
    """A job rules/ asks for (it cannot import jobs/), as the dotted path of its function.

    jobs/registry.py maps each name to the function itself.
    """

    ENFORCE_TRANSITION = "jobs.enforce_transition.enforce_transition"
    ENFORCE_EDIT = "jobs.enforce_edit.enforce_edit"
    ANNOUNCE_DEPLOYMENT = "jobs.deployment_notices.announce_deployment"
    REQUEST_EMERGENCY_APPROVAL = "jobs.slack_approvals.request_emergency_approval"


# The webhook router and the reconciliation sweep enqueue the same unique job for the same
# changelog entry, so a sweep and a late webhook never both do the work.


def transition_job_id(namespace: str, issue_key: str, changelog_id: str) -> str:
    """Return the id of the enforcement of one status move (RQ job keys are global: namespaced)."""
    return f"{namespace}-transition-{issue_key}-{changelog_id}"


def edit_job_id(namespace: str, issue_key: str, changelog_id: str) -> str:
    """Return the id of the approval check after one edit."""
    return f"{namespace}-edit-{issue_key}-{changelog_id}"
