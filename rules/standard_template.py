"""Make a Standard change from a catalog template for a deployment that declares one."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from .adf import adf_to_text, document, paragraph, text
from .approvals import is_pre_approved
from .awaiting_approval_gate import check_ready_for_approval
from .change_history import HistoryEntry
from .change_request import ChangeRequest
from .deploy_gate import ChangeResolution, GateDecision, GateVerdict, resolve_change
from .deployment import DeployRequest
from .messages import describe_finding
from .policy import Category, FieldRole, Policy, StandardTemplate, StatusRole
from .site_map import SiteMap

# `changeguard-template: Dependency patch bump` on a line of its own (a pull request body,
# a commit message); the name may stand in backticks or quotes, as Markdown invites.
TEMPLATE_LINE = re.compile(r"^[ \t>*-]*changeguard-template[ \t]*:[ \t]*(?P<name>.*?)[ \t]*$",
                           re.IGNORECASE | re.MULTILINE)
LABEL_PREFIX = "changeguard-deployment-"  # + a digest of the deployment id: found again by JQL
MAX_SUMMARY = 255  # Jira's limit
JIRA_TIME = "%Y-%m-%dT%H:%M:%S.000%z"

UNKNOWN_TEMPLATE = ("This deployment declares the Standard template “{given}”, which is not in "
                    "the change policy's catalog ({catalog}): declare one of those, or link the "
                    "deployment to a change request, e.g. {example}.")
NO_CONTENT = ("The change policy gives no content for the Standard template {template}, so "
              "changeguard cannot make a change request from it: ask the policy's owner to "
              "fill [standard_templates.templates.\"{template}\"], or link the deployment to a "
              "change request, e.g. {example}.")
TEMPLATE_FAILS_GATE = ("The change policy's Standard template {template} would not pass the gate "
                       "into {awaiting} ({finding}): ask the policy's owner to fix the template, "
                       "or link the deployment to a change request, e.g. {example}.")
NO_PROJECT = ("The change policy names no Jira project for change requests ([scope] "
              "project_keys), so changeguard cannot make one from the template {template}: ask "
              "the policy's owner to add it.")
NOT_GATED = ("Deploying to {environment} needs no change request: the change policy gates only "
             "{gated}, so none was made from the template {template}.")
MADE_FOR = ("Made by changeguard from the Standard template {template} for the deployment of "
            "{what} to {environment}{run}.")
DEPLOYED_BY = "Deployed by {who} ({email})."
NO_ACCOUNT = "Deployed by {who} ({email}), no Jira account found for that address."
NO_EMAIL = ("Deployed by {who}; the pipeline gave no email address to find their Jira "
            "account by.")
NOBODY = "The pipeline did not say who triggered the deployment."


def template_in(value: str) -> str | None:
    """Return the template a text declares on a `changeguard-template: NAME` line, if any."""
    for found in TEMPLATE_LINE.finditer(value):
        name = found.group("name").strip("`'\"“” \t")
        if name:
            return name
    return None


def declared_template(req: DeployRequest) -> str | None:
    """Return the template a deployment declares: the front end's, else one in its texts."""
    if req.template and req.template.strip():
        return req.template.strip()
    return next((name for name in map(template_in, req.texts) if name), None)


def names_no_change(resolution: ChangeResolution, project_keys: tuple[str, ...]) -> bool:
    """Tell whether a deployment names no change at all: only then is one made from a template
    (several keys, or a key that is not one, name a change and are denied as they are)."""
    return resolution.key is None and resolution == resolve_change(None, (), project_keys)


def choose_template(declared: str, environment: str, policy: Policy,
                    now: datetime) -> StandardTemplate | GateDecision:
    """Return the catalog template a change is made from, or the answer when none may be."""
    if not policy.deploy.gates(environment):
        return GateDecision(GateVerdict.ALLOW, NOT_GATED.format(
            environment=environment, gated=_choices(policy.deploy.environments, "and"),
            template=declared), None)
    if not policy.scope_project_keys:
        return _deny(NO_PROJECT, template=declared)
    example = f"{policy.scope_project_keys[0]}-123"
    wanted = " ".join(declared.split()).casefold()
    name = next((n for n in policy.standard_templates if n.casefold() == wanted), None)
    if name is None:
        return _deny(UNKNOWN_TEMPLATE, given=declared, example=example,
                     catalog=_choices(policy.standard_templates))
    spec = policy.template_spec(name)
    if spec is None:
        return _deny(NO_CONTENT, template=name, example=example)
    findings = check_ready_for_approval(snapshot(spec, policy, now), policy)
    if findings:
        finding = adf_to_text(paragraph(*describe_finding(findings[0], policy))) or ""
        return _deny(TEMPLATE_FAILS_GATE, template=name, example=example,
                     awaiting=policy.status_names[StatusRole.AWAITING_APPROVAL],
                     finding=finding.rstrip("."))
    return spec


def snapshot(spec: StandardTemplate, policy: Policy, now: datetime) -> ChangeRequest:
    """Return the change a template makes at ``now``, as the gate rules see a change request."""
    return ChangeRequest(
        key="", summary=spec.name, status_id="", reporter_account_id=None, labels=(),
        texts={FieldRole.DESCRIPTION: spec.description,
               FieldRole.DEPLOYMENT_PLAN: spec.deployment_plan,
               FieldRole.ROLLBACK_PLAN: spec.rollback_plan,
               FieldRole.RISK_ASSESSMENT: spec.risk_assessment},
        options={FieldRole.CATEGORY: policy.category_values[Category.STANDARD],
                 FieldRole.STANDARD_TEMPLATE: spec.name,
                 FieldRole.CHANGE_TYPE: spec.change_type, FieldRole.RISK_LEVEL: spec.risk_level},
        times=dict(zip((FieldRole.PLANNED_START, FieldRole.PLANNED_END), window(spec, now))),
        users={},
    )


def window(spec: StandardTemplate, now: datetime) -> tuple[datetime, datetime]:
    """Return the change window of a change made now: from now, for the template's hours."""
    start = now.replace(microsecond=0)
    return start, start + timedelta(hours=spec.window_hours)


def deployment_label(deployment_id: str) -> str:
    """Return the label marking the change made for one deployment (found again by JQL)."""
    return LABEL_PREFIX + hashlib.sha256(deployment_id.encode()).hexdigest()[:24]


def change_summary(spec: StandardTemplate, req: DeployRequest) -> str:
    """Return the summary, e.g. "Dependency patch bump: acme/shop@1a2b3c4d (run 42)"."""
    reply = dict(req.reply)
    repo = f"{reply['owner']}/{reply['repo']}" if "owner" in reply and "repo" in reply else ""
    where = repo or req.ref.removeprefix("refs/heads/") or req.environment
    commit = f"@{req.sha[:8]}" if req.sha else ""
    run = reply.get("run_id") or req.run_id
    summary = f"{spec.name}: {where}{commit}" + (f" (run {run})" if run else "")
    return summary if len(summary) <= MAX_SUMMARY else summary[:MAX_SUMMARY - 1] + "…"


def reporter_for(found: list[Mapping[str, Any]]) -> str | None:
    """Return the account of the one Jira person found by the deployer's email (None: none,
    or several, so changeguard reports the change itself)."""
    ids = {user.get("accountId") for user in found if isinstance(user.get("accountId"), str)}
    return ids.pop() if len(ids) == 1 else None


def deployer_sentence(req: DeployRequest, reporter: str | None) -> str:
    """Say who triggered the deployment, and why they are not the reporter when they are not."""
    who, email = req.triggered_by.strip(), (req.triggered_by_email or "").strip()
    if not who and not email:
        return NOBODY
    who = who or email
    if not email:
        return NO_EMAIL.format(who=who)
    return (DEPLOYED_BY if reporter is not None else NO_ACCOUNT).format(who=who, email=email)


def description(spec: StandardTemplate, req: DeployRequest, reporter: str | None
                ) -> dict[str, Any]:
    """Return the ADF description: the template's text, where it came from, who deployed."""
    what = req.sha[:12] or req.ref or "an unnamed commit"
    if req.sha and req.ref:
        what = f"{req.sha[:12]} ({req.ref})"
    run = f", run {req.run_url}" if req.run_url else ""
    made = MADE_FOR.format(template=spec.name, what=what, environment=req.environment, run=run)
    return document(paragraph(text(spec.description)), paragraph(text(made)),
                    paragraph(text(deployer_sentence(req, reporter))))


def issue_fields(spec: StandardTemplate, req: DeployRequest, *, policy: Policy, site: SiteMap,
                 now: datetime, reporter: str | None) -> dict[str, Any]:
    """Return the fields of `POST /rest/api/3/issue` for the change made from the template."""
    start, end = window(spec, now)

    def field(role: FieldRole) -> str:
        return site.field_id(role)

    fields: dict[str, Any] = {
        "project": {"key": policy.scope_project_keys[0]},
        "issuetype": {"name": policy.scope_issue_type},
        "summary": change_summary(spec, req),
        "labels": [deployment_label(req.deployment_id)],
        field(FieldRole.DESCRIPTION): description(spec, req, reporter),
        field(FieldRole.CATEGORY): {"value": policy.category_values[Category.STANDARD]},
        field(FieldRole.STANDARD_TEMPLATE): {"value": spec.name},
        field(FieldRole.CHANGE_TYPE): {"value": spec.change_type},
        field(FieldRole.DEPLOYMENT_PLAN): document(paragraph(text(spec.deployment_plan))),
        field(FieldRole.ROLLBACK_PLAN): document(paragraph(text(spec.rollback_plan))),
        field(FieldRole.RISK_ASSESSMENT): document(paragraph(text(spec.risk_assessment))),
        field(FieldRole.PLANNED_START): start.strftime(JIRA_TIME),
        field(FieldRole.PLANNED_END): end.strftime(JIRA_TIME),
    }
    if spec.risk_level is not None:
        fields[field(FieldRole.RISK_LEVEL)] = {"value": spec.risk_level}
    if reporter is not None:  # else Jira makes changeguard, the caller, the reporter
        fields["reporter"] = {"accountId": reporter}
    return fields


def next_move(change: ChangeRequest, history: tuple[HistoryEntry, ...], policy: Policy,
              site: SiteMap) -> StatusRole | None:
    """Return where changeguard moves a change it made next on the Standard path, if anywhere.

    Draft → Awaiting Approval when the gate passes; Awaiting Approval → Approved only for a
    pre-approved template; never once a person has moved the change (they took it over).
    """
    if any(entry.to_status_id is not None and entry.actor != site.bot_account_id
           for entry in history):
        return None
    role = site.status_role(change.status_id)
    if role is StatusRole.DRAFT and not check_ready_for_approval(change, policy):
        return StatusRole.AWAITING_APPROVAL
    if role is StatusRole.AWAITING_APPROVAL and is_pre_approved(change, policy):
        return StatusRole.APPROVED
    return None


def _deny(sentence: str, **values: str) -> GateDecision:
    return GateDecision(GateVerdict.DENY, sentence.format(**values), None)


def _choices(values, last: str = "or") -> str:
    values = list(values)
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + f" {last} " + values[-1]

