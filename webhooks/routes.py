"""Choose the job for each Jira event changeguard acts on: a status change enqueues enforcement."""

from __future__ import annotations

from jobs.deployment_notices import update_outcome
from jobs.enforce_edit import enforce_edit
from jobs.enforce_transition import enforce_transition
from rules.approvals import MATERIAL_FIELDS
from rules.job_names import edit_job_id, transition_job_id
from rules.policy import FieldRole

from .events import JiraEvent
from .router import Context, JobRequest, Router

router = Router()

# Deliveries an admin webhook may still send; none of them can change a change request's status.
router.ignore(
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
    "issuelink_created",
    "issuelink_deleted",
    "worklog_created",
    "worklog_updated",
    "worklog_deleted",
    "attachment_created",
    "attachment_deleted",
    "issue_property_set",
    "issue_property_deleted",
)


@router.register("jira:issue_created")
@router.register("jira:issue_updated")
def enforce_change(event: JiraEvent, context: Context) -> tuple[JobRequest, ...]:
    """Enqueue the policy check of a status change, and the approval check of a material edit."""
    if event.issue_key is None or event.changelog_id is None:
        return ()
    jobs = []
    # What every enforcement job is told about the event; it re-reads the issue for the rest.
    common = {"issue_key": event.issue_key, "event_id": context.event_id,
              "timestamp": event.timestamp, "changelog_id": event.changelog_id,
              "actor_account_id": event.actor_account_id}
    change = event.status_change
    if change is not None:
        jobs.append(JobRequest(
            func=enforce_transition,
            job_id=transition_job_id(context.namespace, event.issue_key, event.changelog_id),
            kwargs={**common, "from_status_id": change.from_id, "to_status_id": change.to_id},
        ))
    material = {context.policy.field_name(role) for role in MATERIAL_FIELDS}
    if event.webhook_event == "jira:issue_updated" and material & set(event.changed_field_names):
        jobs.append(JobRequest(
            func=enforce_edit,
            job_id=edit_job_id(context.namespace, event.issue_key, event.changelog_id),
            kwargs=common,
        ))
    if (event.webhook_event == "jira:issue_updated"
            and context.policy.field_name(FieldRole.OUTCOME) in event.changed_field_names):
        jobs.append(JobRequest(
            func=update_outcome,
            job_id=f"{context.namespace}-outcome-{event.issue_key}-{event.changelog_id}",
            kwargs={"issue_key": event.issue_key},
        ))
    return tuple(jobs)
