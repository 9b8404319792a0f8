"""Standard changes from templates: the declaration, the change made, and pre-approval."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from rules.adf import document, paragraph, text
from rules.approvals import (ApprovalRole, ApprovalState, ApprovalVerdict, is_pre_approved,
                             judge_approval, missing_roles, required_roles)
from rules.awaiting_approval_gate import check_ready_for_approval
from rules.change_history import HistoryEntry
from rules.deploy_gate import GateDecision, GateVerdict, resolve_change
from rules.deployment import DeployRequest, Vendor
from rules.policy import Category, FieldRole, GroupRole, StandardTemplate, StatusRole
from rules.standard_template import (change_summary, choose_template, declared_template,
                                     deployer_sentence, deployment_label, description,
                                     issue_fields, names_no_change, next_move, reporter_for,
                                     snapshot, template_in)
from worker.policy_file import load_policy

from .builders import BOT, FIELD_IDS, SITE, change, with_status

POLICY = load_policy()
NOW = datetime(2026, 12, 1, 10, 0, 30, 123456, tzinfo=timezone.utc)
BUMP = POLICY.template_spec("Dependency patch bump")
COPY = POLICY.template_spec("Copy update")
CATALOG = "Copy update, Dependency patch bump or Feature flag toggle"


def request(**changes) -> DeployRequest:
    base = DeployRequest(
        vendor=Vendor.GITHUB, deployment_id="github:acme/shop:run:42:production",
        run_id="github:acme/shop:run:42", environment="production",
        sha="1a2b3c4d5e6f7a8b9c0d", ref="main", run_url="https://github.com/acme/shop/actions/runs/42",
        triggered_by="octocat", triggered_by_email="octo@example.com",
        reply=(("installation_id", "7"), ("owner", "acme"), ("repo", "shop"), ("run_id", "42")))
    return dataclasses.replace(base, **changes)


TEMPLATE_LINES = [
    ("plain line", "Bumps lodash.\n\nchangeguard-template: Dependency patch bump\n",
     "Dependency patch bump"),
    ("any case, spaces, backticks", "  Changeguard-Template :  `Copy update`  ", "Copy update"),
    ("markdown list item", "- changeguard-template: \"Feature flag toggle\"", "Feature flag toggle"),
    ("empty first, named later", "changeguard-template:\nchangeguard-template: Copy update",
     "Copy update"),
    ("only empty", "changeguard-template:   ", None),
    ("not at the start of a line", "see changeguard-template: Copy update", None),
    ("none", "Fix the footer", None),
]


@pytest.mark.parametrize("value,expected", [c[1:] for c in TEMPLATE_LINES],
                         ids=[c[0] for c in TEMPLATE_LINES])
def test_a_template_is_declared_on_a_line_of_its_own(value, expected):
    assert template_in(value) == expected


@pytest.mark.parametrize("template,texts,expected", [
    (" Copy update ", ("changeguard-template: Feature flag toggle",), "Copy update"),
    ("  ", ("fix", "changeguard-template: Feature flag toggle"), "Feature flag toggle"),
    (None, ("fix", "main"), None),
], ids=["the front end's parameter first", "else a text", "neither"])
def test_the_declared_template_comes_from_the_front_end_or_the_texts(template, texts, expected):
    assert declared_template(request(template=template, texts=texts)) == expected


NO_CONTENT = dataclasses.replace(POLICY, template_specs={"Copy update": COPY})
BROKEN = dataclasses.replace(POLICY, template_specs={
    "Copy update": dataclasses.replace(COPY, rollback_plan="TBD")})
NO_PROJECT = dataclasses.replace(POLICY, scope_project_keys=())
ONE_ENV = "the change policy gates only production"
CHOICES = [
    ("in the catalog", "Dependency patch bump", "production", POLICY, BUMP),
    ("any case and spacing", " copy   UPDATE", "Production", POLICY, COPY),
    ("not gated", "Copy update", "staging", POLICY, GateDecision(
        GateVerdict.ALLOW, f"Deploying to staging needs no change request: {ONE_ENV}, so none "
        "was made from the template Copy update.", None)),
    ("not in the catalog", "Database hotfix", "production", POLICY, GateDecision(
        GateVerdict.DENY, "This deployment declares the Standard template “Database hotfix”, "
        f"which is not in the change policy's catalog ({CATALOG}): declare one of those, or "
        "link the deployment to a change request, e.g. CHG-123.", None)),
    ("no content in the policy", "Feature flag toggle", "production", NO_CONTENT, GateDecision(
        GateVerdict.DENY, "The change policy gives no content for the Standard template "
        "Feature flag toggle, so changeguard cannot make a change request from it: ask the "
        "policy's owner to fill [standard_templates.templates.\"Feature flag toggle\"], or link "
        "the deployment to a change request, e.g. CHG-123.", None)),
    ("content fails the gate", "Copy update", "production", BROKEN, GateDecision(
        GateVerdict.DENY, "The change policy's Standard template Copy update would not pass the "
        "gate into Awaiting Approval (Rollback Plan only says “TBD”: describe how to undo the "
        "change if it goes wrong, in at least a sentence): ask the policy's owner to fix the template, or link "
        "the deployment to a change request, e.g. CHG-123.", None)),
    ("no project", "Copy update", "production", NO_PROJECT, GateDecision(
        GateVerdict.DENY, "The change policy names no Jira project for change requests ([scope] "
        "project_keys), so changeguard cannot make one from the template Copy update: ask the "
        "policy's owner to add it.", None)),
]


@pytest.mark.parametrize("declared,environment,policy,expected", [c[1:] for c in CHOICES],
                         ids=[c[0] for c in CHOICES])
def test_a_change_is_made_only_from_a_catalog_template_with_content(
        declared, environment, policy, expected):
    assert choose_template(declared, environment, policy, NOW) == expected


@pytest.mark.parametrize("name", POLICY.standard_templates)
def test_every_default_template_makes_a_change_that_passes_the_gate(name):
    spec = POLICY.template_spec(name)
    made = snapshot(spec, POLICY, NOW)
    assert check_ready_for_approval(made, POLICY) == ()
    start, end = made.datetime_of(FieldRole.PLANNED_START), made.datetime_of(FieldRole.PLANNED_END)
    assert (start, end - start) == (NOW.replace(microsecond=0), timedelta(hours=spec.window_hours))
    assert is_pre_approved(made, POLICY) is spec.pre_approved


def test_the_default_policy_pre_approves_only_dependency_patch_bumps():
    assert {n: POLICY.template_spec(n).pre_approved for n in POLICY.standard_templates} == {
        "Copy update": False, "Dependency patch bump": True, "Feature flag toggle": False}


def test_the_label_of_a_deployment_is_stable_and_a_valid_jira_label():
    label = deployment_label("github:acme/shop:run:42:production")
    assert label == deployment_label("github:acme/shop:run:42:production")
    assert label != deployment_label("github:acme/shop:run:43:production")
    assert label.startswith("changeguard-deployment-") and " " not in label and len(label) == 47


SUMMARIES = [
    ("github", {}, "Dependency patch bump: acme/shop@1a2b3c4d (run 42)"),
    ("generic", {"reply": (("answer_key", "x"),), "run_id": "generic:jenkins:d1",
                 "ref": "refs/heads/main"},
     "Dependency patch bump: main@1a2b3c4d (run generic:jenkins:d1)"),
    ("nothing but the environment", {"reply": (), "run_id": "", "ref": "", "sha": ""},
     "Dependency patch bump: production"),
    ("too long", {"reply": (), "ref": "x" * 300, "sha": "", "run_id": ""},
     "Dependency patch bump: " + "x" * 231 + "…"),
]


@pytest.mark.parametrize("changes,expected", [c[1:] for c in SUMMARIES],
                         ids=[c[0] for c in SUMMARIES])
def test_the_summary_names_the_template_the_code_and_the_run(changes, expected):
    summary = change_summary(BUMP, request(**changes))
    assert summary == expected and len(summary) <= 255


@pytest.mark.parametrize("found,expected", [
    ([{"accountId": "712020:alice"}], "712020:alice"),
    ([{"accountId": "712020:alice"}, {"accountId": "712020:alice"}], "712020:alice"),
    ([], None),
    ([{"accountId": "712020:a"}, {"accountId": "712020:b"}], None),
    ([{"displayName": "no id"}], None),
], ids=["one person", "same person twice", "nobody", "two people", "no account id"])
def test_the_deployer_reports_the_change_only_when_one_account_has_their_address(found, expected):
    assert reporter_for(found) == expected


SENTENCES = [
    ("found", {}, "712020:o", "Deployed by octocat (octo@example.com)."),
    ("not found", {}, None,
     "Deployed by octocat (octo@example.com), no Jira account found for that address."),
    ("no email", {"triggered_by_email": None}, None,
     "Deployed by octocat; the pipeline gave no email address to find their Jira account by."),
    ("email only", {"triggered_by": ""}, None,
     "Deployed by octo@example.com (octo@example.com), no Jira account found for that address."),
    ("nobody", {"triggered_by": " ", "triggered_by_email": ""}, None,
     "The pipeline did not say who triggered the deployment."),
]


@pytest.mark.parametrize("changes,reporter,expected", [c[1:] for c in SENTENCES],
                         ids=[c[0] for c in SENTENCES])
def test_the_description_names_who_deployed(changes, reporter, expected):
    assert deployer_sentence(request(**changes), reporter) == expected


@pytest.mark.parametrize("changes,made", [
    ({}, "Made by changeguard from the Standard template Copy update for the deployment of "
         "1a2b3c4d5e6f (main) to production, run https://github.com/acme/shop/actions/runs/42."),
    ({"ref": "", "run_url": ""}, "Made by changeguard from the Standard template Copy update "
                                 "for the deployment of 1a2b3c4d5e6f to production."),
    ({"sha": ""}, "Made by changeguard from the Standard template Copy update for the "
                  "deployment of main to production, run "
                  "https://github.com/acme/shop/actions/runs/42."),
    ({"sha": "", "ref": ""}, "Made by changeguard from the Standard template Copy update for "
                             "the deployment of an unnamed commit to production, run "
                             "https://github.com/acme/shop/actions/runs/42."),
], ids=["commit and branch", "commit only, no run page", "branch only", "neither"])
def test_the_description_says_where_the_change_came_from(changes, made):
    assert description(COPY, request(**changes), None) == document(
        paragraph(text(COPY.description)), paragraph(text(made)),
        paragraph(text("Deployed by octocat (octo@example.com), no Jira account found for that "
                       "address.")))


def test_the_issue_fields_are_the_templates_with_the_window_from_now():
    req = request()
    fields = issue_fields(BUMP, req, policy=POLICY, site=SITE, now=NOW, reporter="712020:octo")
    f = FIELD_IDS
    assert fields == {
        "project": {"key": "CHG"}, "issuetype": {"name": "Change Request"},
        "summary": "Dependency patch bump: acme/shop@1a2b3c4d (run 42)",
        "labels": [deployment_label(req.deployment_id)],
        "description": description(BUMP, req, "712020:octo"),
        f[FieldRole.CATEGORY]: {"value": "Standard"},
        f[FieldRole.STANDARD_TEMPLATE]: {"value": "Dependency patch bump"},
        f[FieldRole.CHANGE_TYPE]: {"value": "Application Code"},
        f[FieldRole.DEPLOYMENT_PLAN]: document(paragraph(text(BUMP.deployment_plan))),
        f[FieldRole.ROLLBACK_PLAN]: document(paragraph(text(BUMP.rollback_plan))),
        f[FieldRole.RISK_ASSESSMENT]: document(paragraph(text(BUMP.risk_assessment))),
        f[FieldRole.RISK_LEVEL]: {"value": "Low"},
        f[FieldRole.PLANNED_START]: "2026-12-01T10:00:30.000+0000",
        f[FieldRole.PLANNED_END]: "2026-12-01T12:00:30.000+0000",
        "reporter": {"accountId": "712020:octo"},
    }
    bare = issue_fields(dataclasses.replace(BUMP, risk_level=None), req, policy=POLICY,
                        site=SITE, now=NOW, reporter=None)
    assert set(fields) - set(bare) == {f[FieldRole.RISK_LEVEL], "reporter"}


def standard(template="Dependency patch bump", *, change_type="Application Code", risk="Low",
             hours: float | None = 2, status=StatusRole.AWAITING_APPROVAL, category="Standard"):
    start = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
    cr = change(category, status=status, change_type=change_type, template=template, start=start,
                end=start + timedelta(hours=hours) if hours is not None else None)
    return dataclasses.replace(cr, options={**cr.options, FieldRole.RISK_LEVEL: risk})


PRE_APPROVAL = [
    ("follows the template", standard(), True),
    ("shorter window", standard(hours=1), True),
    ("no risk level stated", standard(risk=None), False),
    ("no window to compare", standard(hours=None), True),
    ("not Standard", standard(category="Normal"), False),
    ("template not pre-approved", standard("Copy update"), False),
    ("template not in the catalog", standard("Database hotfix"), False),
    ("another change type", standard(change_type="Infrastructure"), False),
    ("higher risk than the template", standard(risk="Medium"), False),
    ("a risk the policy does not know", standard(risk="Extreme"), False),
    ("longer window than the template", standard(hours=3), False),
]


@pytest.mark.parametrize("cr,expected", [c[1:] for c in PRE_APPROVAL],
                         ids=[c[0] for c in PRE_APPROVAL])
def test_a_change_is_pre_approved_only_while_it_follows_a_pre_approved_template(cr, expected):
    assert is_pre_approved(cr, POLICY) is expected


def test_a_template_without_a_risk_level_bounds_no_risk():
    policy = dataclasses.replace(POLICY, template_specs={
        **POLICY.template_specs, "Dependency patch bump": dataclasses.replace(BUMP,
                                                                             risk_level=None)})
    assert is_pre_approved(standard(risk="High"), policy) is True


def test_a_pre_approved_standard_change_needs_no_approval():
    team_lead = frozenset({ApprovalRole.TEAM_LEAD, ApprovalRole.HEAD_OF_ENGINEERING})
    assert required_roles(Category.STANDARD, pre_approved=True) == ()
    assert required_roles(Category.STANDARD) == (team_lead,)
    # Pre-approval is a Standard matter: another category keeps its approvals.
    assert required_roles(Category.NORMAL, pre_approved=True) == required_roles(Category.NORMAL)
    assert missing_roles(Category.STANDARD, (), pre_approved=True) == ()
    assert missing_roles(Category.STANDARD, ()) == (team_lead,)


@pytest.mark.parametrize("category,actor,groups,pre_approved,verdict", [
    ("Standard", "712020:alice", frozenset(), True, ApprovalVerdict.COMPLETE),
    ("Standard", "712020:someone", frozenset(), True, ApprovalVerdict.COMPLETE),
    ("Standard", "712020:alice", frozenset({GroupRole.TEAM_LEADS}), False,
     ApprovalVerdict.SELF_APPROVAL),
    ("Standard", "712020:someone", frozenset(), False, ApprovalVerdict.NOT_AN_APPROVER),
    ("Normal", "712020:someone", frozenset(), True, ApprovalVerdict.NOT_AN_APPROVER),
], ids=["its reporter moves it", "anyone moves it", "not pre-approved: no self-approval",
        "not pre-approved: approvers only", "pre-approval is for Standard changes only"])
def test_anyone_may_move_a_pre_approved_change_to_approved(category, actor, groups,
                                                           pre_approved, verdict):
    cr = standard(category=category)
    outcome = judge_approval(cr, Category(category.lower()), actor, groups, ApprovalState(),
                             at="2026-12-01T10:00:00+00:00", pre_approved=pre_approved)
    assert outcome.verdict is verdict
    assert outcome.state.approvals == ()


def move(changelog_id: int, actor: str, to_status: StatusRole | None) -> HistoryEntry:
    return HistoryEntry(changelog_id, actor, "",
                        None, SITE.status_ids[to_status] if to_status is not None else None)


MADE = (move(1, BOT, StatusRole.DRAFT),)
NEXT_MOVES = [
    ("draft, gate passes", with_status(standard(), StatusRole.DRAFT), MADE,
     StatusRole.AWAITING_APPROVAL),
    ("draft, gate fails", dataclasses.replace(
        with_status(standard(), StatusRole.DRAFT),
        texts={**standard().texts, FieldRole.ROLLBACK_PLAN: "TBD"}), MADE, None),
    ("awaiting, pre-approved", standard(), MADE + (move(2, BOT, StatusRole.AWAITING_APPROVAL),),
     StatusRole.APPROVED),
    ("awaiting, team lead needed", standard("Copy update"), MADE, None),
    ("approved", with_status(standard(), StatusRole.APPROVED), MADE, None),
    ("a person moved it", with_status(standard(), StatusRole.DRAFT),
     MADE + (move(2, BOT, StatusRole.AWAITING_APPROVAL), move(3, "712020:alice", StatusRole.DRAFT)),
     None),
    ("a person edited it only", with_status(standard(), StatusRole.DRAFT),
     MADE + (move(2, "712020:alice", None),), StatusRole.AWAITING_APPROVAL),
]


@pytest.mark.parametrize("cr,history,expected", [c[1:] for c in NEXT_MOVES],
                         ids=[c[0] for c in NEXT_MOVES])
def test_changeguard_takes_its_change_along_the_standard_path_until_a_person_takes_over(
        cr, history, expected):
    assert next_move(cr, history, POLICY, SITE) is expected


def test_the_template_spec_of_no_template_is_none():
    assert POLICY.template_spec(None) is None
    assert isinstance(POLICY.template_spec("Copy update"), StandardTemplate)


@pytest.mark.parametrize("explicit,texts,expected", [
    (None, ("fix the footer", "main"), True),
    ("  ", (), True),
    (None, ("CHG-7 and CHG-8", "main"), False),
    ("FOO-1", (), False),
    (None, ("CHG-7 bump lodash",), False),
], ids=["nothing named", "blank explicit key", "several keys", "not a key", "one key"])
def test_a_change_is_made_only_for_a_deployment_that_names_none(explicit, texts, expected):
    resolution = resolve_change(explicit, texts, POLICY.scope_project_keys)
    assert names_no_change(resolution, POLICY.scope_project_keys) is expected
