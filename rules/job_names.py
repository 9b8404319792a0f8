"""Name the enforcement jobs once: their functions and deterministic ids, for router and sweep."""

from __future__ import annotations

# The webhook router and the reconciliation sweep enqueue the same unique job for the same
# changelog entry, so a sweep and a late webhook never both do the work.
ENFORCE_TRANSITION = "jobs.enforce_transition.enforce_transition"
ENFORCE_EDIT = "jobs.enforce_edit.enforce_edit"


def transition_job_id(namespace: str, issue_key: str, changelog_id: str) -> str:
    """Return the id of the enforcement of one status move (RQ job keys are global: namespaced)."""
    return f"{namespace}-transition-{issue_key}-{changelog_id}"


def edit_job_id(namespace: str, issue_key: str, changelog_id: str) -> str:
    """Return the id of the approval check after one edit."""
    return f"{namespace}-edit-{issue_key}-{changelog_id}"
