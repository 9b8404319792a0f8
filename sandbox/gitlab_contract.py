"""What GitLab documents of its deployments API and its Deployment, Job and Pipeline Hooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Sources (GitLab Docs, read for this file; GitLab's own source where the docs say nothing):
# - "Deployments API" (doc/api/deployments.md): "Get a specific deployment" and "Approve or
#   reject a blocked deployment" (POST /projects/:id/deployments/:deployment_id/approval).
# - ee/lib/ee/api/deployments.rb (Grape params: deployment_id Integer; status one of
#   Deployments::Approval.statuses; comment, represented_as String; answers 201 with the
#   approval, or render_api_error!(message, 400) with the ApprovalService's message).
# - ee/app/services/deployments/approval_service.rb (the 400 messages below, in its order).
# - "Webhook events: Deployment events" (doc/user/project/integrations/webhook_events.md):
#   header X-Gitlab-Event: Deployment Hook; triggered when a deployment starts, succeeds,
#   fails or is canceled (app/models/deployment.rb runs the hook on -> running and on
#   -> success/failed/canceled only: never on -> blocked).
# - "Webhooks" (doc/user/project/integrations/webhooks.md): X-Gitlab-Token carries the secret
#   as is; Idempotency-Key stays the same across retries of one event (GitLab 17.4+).
# - "Webhook events: Job events": header X-Gitlab-Event: Job Hook, object_kind "build", the
#   documented example's fields below. The docs say "triggered when the status of a job
#   changes", but app/models/ci/build.rb executes job hooks only on create (build_status
#   created; also Ci::ExecutePipelineBuildHooksWorker at pipeline creation), on -> pending, on
#   pending -> running and when it finishes (BuildFinishedWorker): never on created -> manual
#   (`actionize`), which is how a job waiting for deployment approval gets there
#   (EE Ci::Deployable#waiting_for_deployment_approval?: manual? && deployment blocked).
# - lib/api/deployments.rb + app/finders/deployments_finder.rb: the list's Grape params
#   (order_by, sort, updated_*, finished_*, environment, status in Deployment.statuses) and the
#   finder's InefficientQueryError checks, answered as 400 with the finder's message.
# - "Webhook events: Pipeline events": header X-Gitlab-Event: Pipeline Hook, "triggered when
#   the status of a pipeline changes"; the documented example's fields below. The source
#   agrees: app/models/ci/pipeline.rb's state machine runs PipelineHooksWorker after every
#   transition that is not a loopback (so never twice in a row for one status, and never for
#   the initial created), unless the pipeline's user is blocked. Ci::Pipeline#set_status
#   maps the composite status "manual" to the `block` event (any - [:manual] => :manual).
#   lib/gitlab/ci/status/composite.rb: a pipeline is "manual" when no job runs or is pending
#   (nor waits for a resource) and some job is manual without allow_failure (a manual job
#   allowed to fail is "ignored": ::Ci::HasStatus::IGNORED_STATUSES).
#   EE Ci::ProcessBuildService#process: a job deploying to an environment that needs approval
#   gets when: manual and `actionize!` (status manual, its allow_failure untouched: false for
#   a job not written as `when: manual`); its deployment is blocked. So a pipeline whose
#   deploy jobs wait for approval turns "manual" once its other jobs are done, and its Pipeline
#   Hook lists those jobs in `builds` with status "manual" and their environment.
#   lib/gitlab/data_builder/pipeline.rb builds the body: builds[] of the latest jobs with id,
#   status, when, manual, allow_failure, user and environment {name, action, deployment_tier}
#   (null without an environment keyword); commit is Commit#hook_attrs (id, message, title,
#   timestamp, url, author; `title` is in the source, not in the documented example).

APPROVAL_STATUSES = ("approved", "rejected")
# Deployment#status (app/models/deployment.rb); the API's list filter names all but skipped.
DEPLOYMENT_STATUSES = ("created", "running", "success", "failed", "canceled", "skipped",
                       "blocked")
HOOK_STATUSES = ("running", "success", "failed", "canceled")
# The build statuses a Job Hook is ever sent with (see the source notes above).
JOB_HOOK_STATUSES = ("created", "pending", "running", "success", "failed", "canceled")
# Ci::HasStatus::AVAILABLE_STATUSES but "created": a pipeline starts there, hooks follow moves.
PIPELINE_HOOK_STATUSES = ("waiting_for_resource", "preparing", "waiting_for_callback",
                          "pending", "running", "success", "failed", "canceling", "canceled",
                          "skipped", "manual", "scheduled")

# GET /projects/:id/deployments: Grape's allowed values (DeploymentsFinder's constants).
LIST_ORDER_BY = ("id", "iid", "created_at", "updated_at", "finished_at")
LIST_SORT = ("asc", "desc")
LIST_PARAMS = ("order_by", "sort", "updated_after", "updated_before", "finished_after",
               "finished_before", "environment", "status", "page", "per_page")
MAX_PER_PAGE = 100

# POST .../approval: name -> (required, allowed values or None). Every value is a string.
APPROVAL_PARAMS: Mapping[str, tuple[bool, tuple[str, ...] | None]] = {
    "status": (True, APPROVAL_STATUSES),
    "comment": (False, None),
    "represented_as": (False, None),
}

# Error bodies: Grape's validation errors use "error", everything else "message".
UNAUTHORIZED = {"message": "401 Unauthorized"}
PROJECT_NOT_FOUND = {"message": "404 Project Not Found"}
NOT_FOUND = {"message": "404 Not found"}
OWN_DEPLOYMENT = ("You cannot approve your own deployment. This configuration can be adjusted "
                  "in the protected environment settings.")
NOT_WAITING = "This deployment is not waiting for approvals."
NO_SUCH_RULE = ("There are no approval rules for the given `represent_as` parameter. "
                "Use a valid User/Group/Role name instead.")

# The Deployment Hook body: field -> JSON type(s). "null" where the docs say it may be null
# (deployable_* for deployments made by the API or by trigger jobs).
DEPLOYMENT_HOOK_FIELDS: Mapping[str, tuple[str, ...]] = {
    "object_kind": ("string",), "status": ("string",), "status_changed_at": ("string",),
    "deployment_id": ("integer",), "deployable_id": ("integer", "null"),
    "deployable_url": ("string", "null"), "environment": ("string",),
    "environment_tier": ("string",), "environment_slug": ("string",),
    "environment_external_url": ("string", "null"), "project": ("object",),
    "short_sha": ("string",), "user": ("object",), "user_url": ("string",),
    "commit_url": ("string",), "commit_title": ("string",),
}
HOOK_PROJECT_FIELDS = ("id", "name", "description", "web_url", "avatar_url", "git_ssh_url",
                       "git_http_url", "namespace", "visibility_level", "path_with_namespace",
                       "default_branch", "ci_config_path", "homepage", "url", "ssh_url",
                       "http_url")
HOOK_USER_FIELDS = ("id", "name", "username", "avatar_url", "email")

# The Job Hook body (the documented example): field -> JSON type(s).
JOB_HOOK_FIELDS: Mapping[str, tuple[str, ...]] = {
    "object_kind": ("string",), "ref": ("string",), "tag": ("boolean",),
    "before_sha": ("string",), "sha": ("string",), "build_id": ("integer",),
    "build_name": ("string",), "build_stage": ("string",), "build_status": ("string",),
    "build_created_at": ("string",), "build_created_at_iso": ("string",),
    "build_started_at": ("string", "null"), "build_started_at_iso": ("string", "null"),
    "build_finished_at": ("string", "null"), "build_finished_at_iso": ("string", "null"),
    "build_duration": ("number", "null"), "build_queued_duration": ("number", "null"),
    "build_allow_failure": ("boolean",), "build_failure_reason": ("string",),
    "retries_count": ("integer",), "pipeline_id": ("integer",), "project_id": ("integer",),
    "project_name": ("string",), "user": ("object",), "commit": ("object",),
    "repository": ("object",), "project": ("object",), "runner": ("object", "null"),
    "environment": ("object", "null"),
}
JOB_USER_FIELDS = ("id", "name", "email", "avatar_url")
JOB_COMMIT_FIELDS = ("id", "name", "sha", "message", "author_name", "author_email", "status",
                     "duration", "started_at", "started_at_iso", "finished_at",
                     "finished_at_iso")
JOB_PROJECT_FIELDS = ("id", "name", "description", "web_url", "avatar_url", "git_ssh_url",
                      "git_http_url", "namespace", "visibility_level", "path_with_namespace",
                      "default_branch")
JOB_ENVIRONMENT_FIELDS = ("name", "action", "deployment_tier")

# The Pipeline Hook body (the documented example): field -> JSON type(s).
PIPELINE_HOOK_FIELDS: Mapping[str, tuple[str, ...]] = {
    "object_kind": ("string",), "object_attributes": ("object",),
    "merge_request": ("object", "null"), "user": ("object", "null"), "project": ("object",),
    "commit": ("object", "null"), "builds": ("array",),
}
PIPELINE_ATTRIBUTE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "id": ("integer",), "iid": ("integer",), "name": ("string", "null"), "ref": ("string",),
    "tag": ("boolean",), "sha": ("string",), "before_sha": ("string",), "source": ("string",),
    "status": ("string",), "stages": ("array",), "created_at": ("string",),
    "finished_at": ("string", "null"), "duration": ("number", "null"), "variables": ("array",),
    "url": ("string",),
}
PIPELINE_COMMIT_FIELDS = ("id", "message", "timestamp", "url", "author")
PIPELINE_BUILD_FIELDS: Mapping[str, tuple[str, ...]] = {
    "id": ("integer",), "stage": ("string",), "name": ("string",), "status": ("string",),
    "created_at": ("string",), "started_at": ("string", "null"),
    "finished_at": ("string", "null"), "duration": ("number", "null"),
    "queued_duration": ("number", "null"), "failure_reason": ("string", "null"),
    "when": ("string",), "manual": ("boolean",), "allow_failure": ("boolean",),
    "user": ("object", "null"), "runner": ("object", "null"), "artifacts_file": ("object",),
    "environment": ("object", "null"),
}

_JSON_TYPES = {"string": str, "object": dict, "null": type(None), "boolean": bool,
               "array": list}


def approval_errors(body: Mapping[str, Any]) -> list[str]:
    """Return Grape's messages for an approval body GitLab refuses (empty when it accepts)."""
    errors = []
    for name, (required, values) in APPROVAL_PARAMS.items():
        value = body.get(name)
        if value is None:
            if required:
                errors.append(f"{name} is missing")
        elif not isinstance(value, str):
            errors.append(f"{name} is invalid")
        elif values is not None and value not in values:
            errors.append(f"{name} does not have a valid value")
    return errors


def hook_shape_errors(body: Mapping[str, Any]) -> list[str]:
    """Return how a Deployment Hook body departs from the documented one (empty when it fits)."""
    errors = []
    for name, kinds in DEPLOYMENT_HOOK_FIELDS.items():
        if name not in body:
            errors.append(f"{name} is missing")
        elif not any(_is(body[name], kind) for kind in kinds):
            errors.append(f"{name} is not {' or '.join(kinds)}")
    if body.get("object_kind") != "deployment":
        errors.append("object_kind is not 'deployment'")
    if body.get("status") not in HOOK_STATUSES:
        errors.append(f"status {body.get('status')!r} is never sent (GitLab sends "
                      f"{', '.join(HOOK_STATUSES)})")
    for name, fields in (("project", HOOK_PROJECT_FIELDS), ("user", HOOK_USER_FIELDS)):
        if isinstance(body.get(name), dict):
            errors += [f"{name}.{f} is missing" for f in fields if f not in body[name]]
    return errors


def job_hook_shape_errors(body: Mapping[str, Any]) -> list[str]:
    """Return how a Job Hook body departs from the documented one (empty when it fits)."""
    errors = []
    for name, kinds in JOB_HOOK_FIELDS.items():
        if name not in body:
            errors.append(f"{name} is missing")
        elif not any(_is(body[name], kind) for kind in kinds):
            errors.append(f"{name} is not {' or '.join(kinds)}")
    if body.get("object_kind") != "build":
        errors.append("object_kind is not 'build'")
    if body.get("build_status") not in JOB_HOOK_STATUSES:
        errors.append(f"build_status {body.get('build_status')!r} is never sent (GitLab sends "
                      f"{', '.join(JOB_HOOK_STATUSES)})")
    for name, fields in (("user", JOB_USER_FIELDS), ("commit", JOB_COMMIT_FIELDS),
                         ("project", JOB_PROJECT_FIELDS),
                         ("environment", JOB_ENVIRONMENT_FIELDS)):
        if isinstance(body.get(name), dict):
            errors += [f"{name}.{f} is missing" for f in fields if f not in body[name]]
    return errors


def pipeline_hook_shape_errors(body: Mapping[str, Any]) -> list[str]:
    """Return how a Pipeline Hook body departs from the documented one (empty when it fits)."""
    errors = _typed_errors(body, PIPELINE_HOOK_FIELDS, "")
    if body.get("object_kind") != "pipeline":
        errors.append("object_kind is not 'pipeline'")
    attributes = body.get("object_attributes")
    if isinstance(attributes, dict):
        errors += _typed_errors(attributes, PIPELINE_ATTRIBUTE_FIELDS, "object_attributes.")
        if attributes.get("status") not in PIPELINE_HOOK_STATUSES:
            errors.append(f"object_attributes.status {attributes.get('status')!r} is never "
                          f"sent (GitLab sends {', '.join(PIPELINE_HOOK_STATUSES)})")
    for name, fields in (("user", HOOK_USER_FIELDS), ("project", JOB_PROJECT_FIELDS),
                         ("commit", PIPELINE_COMMIT_FIELDS)):
        if isinstance(body.get(name), dict):
            errors += [f"{name}.{f} is missing" for f in fields if f not in body[name]]
    for index, build in enumerate(body.get("builds") or []):
        where = f"builds[{index}]."
        if not isinstance(build, dict):
            errors.append(f"{where[:-1]} is not object")
            continue
        errors += _typed_errors(build, PIPELINE_BUILD_FIELDS, where)
        if isinstance(build.get("environment"), dict):
            errors += [f"{where}environment.{f} is missing" for f in JOB_ENVIRONMENT_FIELDS
                       if f not in build["environment"]]
    return errors


def _typed_errors(body: Mapping[str, Any], fields: Mapping[str, tuple[str, ...]],
                  where: str) -> list[str]:
    errors = []
    for name, kinds in fields.items():
        if name not in body:
            errors.append(f"{where}{name} is missing")
        elif not any(_is(body[name], kind) for kind in kinds):
            errors.append(f"{where}{name} is not {' or '.join(kinds)}")
    return errors


def list_errors(params: Mapping[str, str]) -> dict[str, Any] | None:
    """Return GitLab's 400 body for deployment list parameters it refuses (None: accepted)."""
    grape = [f"{name} does not have a valid value" for name, values in (
        ("order_by", LIST_ORDER_BY), ("sort", LIST_SORT), ("status", DEPLOYMENT_STATUSES))
        if name in params and params[name] not in values]
    grape += [f"{name} is invalid" for name in ("page", "per_page")
              if name in params and not params[name].isdigit()]
    if grape:
        return {"error": ", ".join(grape)}
    order_by = params.get("order_by", "id")
    updated = any(params.get(f"updated_{w}") for w in ("after", "before"))
    finished = any(params.get(f"finished_{w}") for w in ("after", "before"))
    status = params.get("status")
    # DeploymentsFinder#validate!, in its order.
    for refused, message in (
            (updated and finished,
             "Both `updated_at` filter and `finished_at` filter can not be specified"),
            (updated and order_by != "updated_at",
             "`updated_at` filter requires `updated_at` sort"),
            (finished and order_by != "finished_at",
             "`finished_at` filter requires `finished_at` sort."),
            (order_by == "finished_at" and not (finished or status in FINISHED_STATUSES),
             "`finished_at` sort requires `finished_at` filter or a filter with at least one "
             "of the finished statuses."),
            (finished and status != "success",
             "`finished_at` filter must be combined with `success` status filter.")):
        if refused:
            return {"message": f"400 Bad request - {message}"}
    return None


# Deployment::FINISHED_STATUSES
FINISHED_STATUSES = ("success", "failed", "canceled")


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _JSON_TYPES[kind])
