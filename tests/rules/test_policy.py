"""Parsing the policy file: the default loads, and each kind of mistake is named exactly."""

import dataclasses
import re

import pytest

from rules.policy import (Category, FieldRole, PolicyError, StandardTemplate, StatusRole,
                          parse_policy)
from worker.policy_file import load_policy
from worker.settings import DEFAULT_POLICY_PATH

DEFAULT = DEFAULT_POLICY_PATH.read_text()


def test_default_policy_matches_policy_md():
    policy = load_policy()
    assert policy.field_name(FieldRole.ROLLBACK_PLAN) == "Rollback Plan"
    assert policy.status_names[StatusRole.AWAITING_APPROVAL] == "Awaiting Approval"
    assert policy.category_of("Emergency") is Category.EMERGENCY
    assert policy.category_of("Minor") is None
    assert policy.emergency_only_change_types == {"Database"}
    assert policy.cab.epic_key == "CHG-1"
    assert (StatusRole.DRAFT, StatusRole.AWAITING_APPROVAL) in policy.allowed_moves
    assert "tbd" in policy.placeholders and policy.min_text_length == 20
    assert policy.slack_users == {}
    assert policy.scope_project_keys == ("CHG",)
    assert policy.deploy.environments == ("production",)
    assert policy.deploy.gates("production") and policy.deploy.gates(" Production ")
    assert not policy.deploy.gates("staging")
    assert parse_policy(edit("[slack.users]\n", '[slack.users]\nU123 = "712020:dana"\n')
                        ).slack_users == {"U123": "712020:dana"}


def edit(old: str, new: str) -> str:
    assert old in DEFAULT, old
    return DEFAULT.replace(old, new, 1)


ERRORS = [
    ("bad toml", edit("[scope]", "[scope"), r"p\.toml: not valid TOML: .*line 5"),
    ("missing table", edit("[slack]\nchannel", "[slackk]\nchannel").replace("[slack.users]", "[slackk.users]"),
     r"p\.toml: \[slack\]: missing table"),
    ("table is a string", DEFAULT + '\nlabels2 = 1', None),
    ("empty field name", edit('rollback_plan = "Rollback Plan"', 'rollback_plan = ""'),
     r"p\.toml: fields\.rollback_plan: expected a non-empty string"),
    ("field name not a string", edit('rollback_plan = "Rollback Plan"', "rollback_plan = 3"),
     r"p\.toml: fields\.rollback_plan: expected a string, got int"),
    ("missing field role", edit('rollback_plan = "Rollback Plan"\n', ""),
     r"fields\.rollback_plan: expected a non-empty string"),
    ("unknown field role", edit('rollback_plan = "Rollback Plan"', 'rollback_plan = "Rollback Plan"\nrollbak = "X"'),
     r"fields\.rollbak: unknown key \(expected: description, category, .*\)"),
    ("duplicate status names", edit('approved = "Approved"', 'approved = "Draft"'),
     r"statuses\.approved: 'Draft' is also used by statuses\.draft"),
    ("emergency-only type not a type", edit('emergency_only = ["Database"]', 'emergency_only = ["DB"]'),
     r"change_types\.emergency_only: 'DB' is not one of change_types\.values"),
    ("empty list", edit('catalog = ["Copy update", "Dependency patch bump", "Feature flag toggle"]', "catalog = []"),
     r"standard_templates\.catalog: must not be empty"),
    ("list of non-strings", edit('values = ["Low", "Medium", "High"]', "values = [1, 2]"),
     r"risk_levels\.values: expected a list of non-empty strings"),
    ("unknown long text field", edit('long_text_fields = ["description",', 'long_text_fields = ["summary",'),
     r"filled\.long_text_fields: 'summary' is not a field role"),
    ("negative length", edit("min_text_length = 20", "min_text_length = -1"),
     r"filled\.min_text_length: expected a whole number >= 0, got -1"),
    ("boolean is not a number", edit("agenda_hours_before = 24", "agenda_hours_before = true"),
     r"cab\.agenda_hours_before: expected a whole number >= 1, got True"),
    ("workflow not a list", edit('allowed = [\n  ["draft", "awaiting_approval"],', 'allowed = "x"\nallowed_old = [\n  ["draft", "awaiting_approval"],'),
     r"workflow\.allowed: expected a list of \[from, to\] status roles"),
    ("workflow move of three", edit('["draft", "awaiting_approval"],', '["draft", "awaiting_approval", "x"],'),
     r"workflow\.allowed\[0\]: expected \[from, to\], got \['draft', 'awaiting_approval', 'x'\]"),
    ("workflow unknown status", edit('["draft", "awaiting_approval"],', '["draft", "review"],'),
     r"workflow\.allowed\[0\]: \['draft', 'review'\] names an unknown status role"),
    ("rrule without FREQ", edit('meeting_rrule = "FREQ=WEEKLY;', 'meeting_rrule = "'),
     r"cab\.meeting_rrule: .* is not an RFC 5545 RRULE \(no FREQ=\)"),
    ("slack users not strings", edit("[slack.users]\n", "[slack.users]\nU123 = 5\n"),
     r"slack\.users: expected a table of names to non-empty strings"),
    ("table given as value", "labels = 3\n" + edit("[labels]\n", "[labels_old]\n"),
     r"\[labels\]: expected a table"),
    ("deploy not a table", edit("[deploy]\n", "[[deploy]]\n"),
     r"p\.toml: \[deploy\]: expected a table"),
    ("deploy environments a string", edit('environments = ["production"]', 'environments = "production"'),
     r"p\.toml: deploy\.environments: expected a list of non-empty strings"),
    ("deploy environments empty", edit('environments = ["production"]', "environments = []"),
     r"p\.toml: deploy\.environments: must not be empty"),
    ("deploy environment blank", edit('environments = ["production"]', 'environments = ["production", " "]'),
     r"p\.toml: deploy\.environments: expected a list of non-empty strings"),
    ("project keys a string", edit('project_keys = ["CHG"]', 'project_keys = "CHG"'),
     r"p\.toml: scope\.project_keys: expected a list of non-empty strings"),
    ("project key in lower case", edit('project_keys = ["CHG"]', 'project_keys = ["CHG", "ops"]'),
     r"p\.toml: scope\.project_keys: 'ops' is not a Jira project key \(a capital letter, then "
     r"capitals, digits or _\)"),
]


@pytest.mark.parametrize("text, pattern", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_policy_errors_name_file_key_and_reason(text, pattern):
    if pattern is None:  # extra unknown top-level keys are tolerated
        assert parse_policy(text, "p.toml").source == "p.toml"
        return
    with pytest.raises(PolicyError) as error:
        parse_policy(text, source="p.toml")
    assert re.search(pattern, str(error.value)), str(error.value)
    assert str(error.value).startswith("p.toml: ")


def test_single_choice_lists_read_naturally():
    from rules.messages import hint

    policy = parse_policy(edit('values = ["Low", "Medium", "High"]', 'values = ["Low"]'))
    assert hint(FieldRole.RISK_LEVEL, policy) == "choose Low"


def test_unreadable_policy_file(tmp_path):
    with pytest.raises(PolicyError, match=r"cannot read the policy file"):
        load_policy(tmp_path / "missing.toml")


def test_a_policy_written_before_the_deployment_gate_still_loads():
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    older = text.replace('project_keys = ["CHG"]\n', "").replace(
        '[deploy]\n', "[old_deploy]\n")
    policy = parse_policy(older, "p.toml")
    assert (policy.scope_project_keys, policy.deploy.environments) == ((), ("production",))



# The default policy without its template tables; a test adds the tables it needs.
TEMPLATES_START = DEFAULT.index("[standard_templates.templates.")
BARE = DEFAULT[:TEMPLATES_START] + DEFAULT[DEFAULT.index("[filled]"):]
FLAG = """change_type = "Configuration"
description = "Turn the checkout redesign flag on for every production user."
deployment_plan = "The pipeline sets the flag; it takes effect within a minute."
rollback_plan = "Set the flag back off; the old checkout returns within a minute."
risk_assessment = "Low: the new checkout has run for staff for a month."
"""


def with_templates(tables: str, *, root: str = "") -> str:
    """Return the default policy with these template tables (and keys of [standard_templates])."""
    text = BARE.replace("[filled]", tables + "\n[filled]", 1)
    return text.replace("[standard_templates]\n", "[standard_templates]\n" + root, 1)


def flag(extra: str = "", *, name: str = "Feature flag toggle", body: str = FLAG) -> str:
    return f'[standard_templates.templates."{name}"]\n{body}{extra}'


TEMPLATE_ERRORS = [
    ("templates not tables", with_templates("", root='templates = "all"\n'),
     r'p\.toml: standard_templates\.templates: expected tables, one per template: '
     r'\[standard_templates\.templates\."Copy update"\]'),
    ("template not in the catalog", with_templates(flag(name="Major version bump")),
     r'standard_templates\.templates\."Major version bump": \'Major version bump\' is not in '
     r"standard_templates\.catalog \(Copy update, Dependency patch bump, Feature flag toggle\)"),
    ("template not a table", with_templates("", root='templates = {"Copy update" = 1}\n'),
     r'standard_templates\.templates\."Copy update": expected a table'),
    ("misspelt key", with_templates(flag("pre_aproved = true\n")),
     r'standard_templates\.templates\."Feature flag toggle"\.pre_aproved: unknown key '
     r"\(expected: change_type, description, .*, pre_approved\)"),
    ("text missing", with_templates(flag(body=FLAG.replace("description = ", "# "))),
     r'\."Feature flag toggle"\.description: expected a non-empty string'),
    ("text empty", with_templates(flag(body=FLAG.replace('"Set the flag back off; the old '
                                                         'checkout returns within a minute."',
                                                         '""'))),
     r'\."Feature flag toggle"\.rollback_plan: expected a non-empty string'),
    ("change type unknown", with_templates(flag(body=FLAG.replace('"Configuration"',
                                                                  '"Config"'))),
     r'standard_templates\.templates\."Feature flag toggle"\.change_type: \'Config\' is not a '
     r"change type a Standard change may have"),
    ("change type emergency only", with_templates(flag(body=FLAG.replace('"Configuration"',
                                                                         '"Database"'))),
     r'\."Feature flag toggle"\.change_type: \'Database\' is not a change type a Standard'),
    ("risk level unknown", with_templates(flag('risk_level = "Tiny"\n')),
     r'\."Feature flag toggle"\.risk_level: \'Tiny\' is not one of risk_levels\.values'),
    ("pre_approved not a boolean", with_templates(flag('pre_approved = "yes"\n')),
     r'\."Feature flag toggle"\.pre_approved: expected true or false, got \'yes\''),
    ("window of no hours", with_templates(flag("window_hours = 0\n")),
     r'\."Feature flag toggle"\.window_hours: expected a whole number >= 1, got 0'),
]


@pytest.mark.parametrize("text, pattern", [e[1:] for e in TEMPLATE_ERRORS],
                         ids=[e[0] for e in TEMPLATE_ERRORS])
def test_template_errors_name_the_template_and_the_key(text, pattern):
    with pytest.raises(PolicyError) as error:
        parse_policy(text, source="p.toml")
    assert re.search(pattern, str(error.value)), str(error.value)
    assert str(error.value).startswith("p.toml: ")


def test_a_template_gives_its_texts_and_may_leave_out_the_rest():
    spec = parse_policy(with_templates(flag())).template_spec("Feature flag toggle")
    assert spec == StandardTemplate(
        name="Feature flag toggle", change_type="Configuration",
        description="Turn the checkout redesign flag on for every production user.",
        deployment_plan="The pipeline sets the flag; it takes effect within a minute.",
        rollback_plan="Set the flag back off; the old checkout returns within a minute.",
        risk_assessment="Low: the new checkout has run for staff for a month.",
        risk_level=None, window_hours=2, pre_approved=False)
    full = parse_policy(with_templates(flag('risk_level = "Medium"\nwindow_hours = 4\n'
                                            "pre_approved = true\n")))
    assert full.template_spec("Feature flag toggle") == dataclasses.replace(
        spec, risk_level="Medium", window_hours=4, pre_approved=True)


def test_a_policy_without_template_content_still_loads():
    policy = parse_policy(BARE, "p.toml")
    assert policy.template_specs == {} and policy.standard_templates == (
        "Copy update", "Dependency patch bump", "Feature flag toggle")
