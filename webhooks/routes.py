"""Choose the job for each Jira event changeguard acts on: enforcement, or a freeze's re-check."""

from __future__ import annotations

from jobs.deployment_notices import update_outcome
from jobs.enforce_edit import enforce_edit
from jobs.enforce_transition import enforce_transition
from jobs.freeze_declared import recheck_freeze
from rules.approvals import MATERIAL_FIELDS
from rules.job_names import edit_job_id, freeze_job_id, transition_job_id
from rules.policy import FieldRole, FreezeFieldRole

from .events import JiraEvent
from .router import Context, JobRequest, Router

router = Router()

# Deliveries an admin webhook may still send; none of them can change a change request's status.
router.ignore(
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
    if event.issue_key is None or event.changelog_id is None or _is_freeze(event, context):
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


@router.register("jira:issue_created")
@router.register("jira:issue_updated")
@router.register("jira:issue_deleted")
def check_freeze(event: JiraEvent, context: Context) -> tuple[JobRequest, ...]:
    """Enqueue the re-check of a freeze declared, edited in what it holds, moved or deleted."""
    if event.issue_key is None or not _is_freeze(event, context):
        return ()
    if event.webhook_event == "jira:issue_updated":
        # What decides which changes it holds, and who declared it; a status move may cancel it.
        policy = context.policy
        watched = {policy.field_name(FieldRole.PLANNED_START),
                   policy.field_name(FieldRole.PLANNED_END), "reporter",
                   policy.freezes.field_names[FreezeFieldRole.KIND]}
        changed = {name.lower() for name in event.changed_field_names}
        if event.status_change is None and not {n.lower() for n in watched} & changed:
            return ()
    if event.webhook_event == "jira:issue_deleted":
        occurrence = "deleted"  # once: a key is never given to another issue
    elif event.changelog_id is not None:
        occurrence = event.changelog_id
    else:
        occurrence = f"at{event.timestamp}"  # Jira may create an issue without a changelog
    return (JobRequest(
        func=recheck_freeze,
        job_id=freeze_job_id(context.namespace, event.issue_key, occurrence),
        kwargs={"issue_key": event.issue_key, "event_id": context.event_id,
                "timestamp": event.timestamp, "webhook_event": event.webhook_event,
                "actor_account_id": event.actor_account_id},
    ),)


def _is_freeze(event: JiraEvent, context: Context) -> bool:
    freeze_type = context.policy.freezes.issue_type
    return freeze_type is not None and event.issue_type_name == freeze_type
