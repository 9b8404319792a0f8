"""Parsing the policy file: the default loads, and each kind of mistake is named exactly."""

import dataclasses
import re
from datetime import timedelta

import pytest

from rules.policy import (NO_FREEZES, Category, FieldRole, FreezeFieldRole, FreezeKind,
                          PolicyError, RecurringFreeze, StandardTemplate, StatusRole, parse_policy)
from tests.builders import with_example_freezes
from worker.policy_file import load_policy
from worker.settings import DEFAULT_POLICY_PATH

# With the example recurring freezes on (the file ships them commented out).
DEFAULT = with_example_freezes(DEFAULT_POLICY_PATH.read_text())


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


# [freezes]: the default policy's table, and a bare one a test fills with what it needs.
FREEZES = DEFAULT[DEFAULT.index("[freezes]"):DEFAULT.index("[slack]")]
FIRST_ENTRY = FREEZES.index("[[freezes.recurring]]")
WEEKEND_FREEZE = FREEZES[FIRST_ENTRY:FREEZES.index("[[freezes.recurring]]", FIRST_ENTRY + 1)]


def with_freezes(table: str) -> str:
    """Return the default policy with this text in place of its [freezes] table."""
    return DEFAULT.replace(FREEZES, table + "\n", 1)


def weekend_with(old: str, new: str) -> str:
    """Return a policy whose only freeze is the default Weekend one, edited."""
    assert old in WEEKEND_FREEZE, old
    return with_freezes("[freezes]\n" + WEEKEND_FREEZE.replace(old, new, 1))


FREEZE_ERRORS = [
    ("freezes not a table", "freezes = 3\n" + with_freezes(""), r"p\.toml: \[freezes\]: expected a table"),
    ("unknown key", with_freezes('[freezes]\nissue_typ = "Change Freeze"'),
     r"p\.toml: freezes\.issue_typ: unknown key \(expected: issue_type, kind_field, "
     r"reason_field, kind_values, recurring\)"),
    ("issue type without kind field", with_freezes('[freezes]\nissue_type = "Change Freeze"'),
     r"p\.toml: freezes\.kind_field: expected a non-empty string"),
    ("kind field without issue type", with_freezes('[freezes]\nkind_field = "Freeze Kind"'),
     r"p\.toml: freezes\.kind_field: set freezes\.issue_type too: the kind field belongs to "
     r"the issue type of one-off freezes"),
    ("reason field without issue type", with_freezes('[freezes]\nreason_field = "Why"'),
     r"p\.toml: freezes\.reason_field: set freezes\.issue_type too"),
    ("blank reason field", with_freezes('[freezes]\nissue_type = "F"\nkind_field = "K"\n'
                                        'reason_field = " "'),
     r"p\.toml: freezes\.reason_field: expected a non-empty string"),
    ("kind values not a table", with_freezes('[freezes]\nkind_values = ["Hard", "Soft"]'),
     r'p\.toml: freezes\.kind_values: expected a table: \{ hard = "Hard", soft = "Soft" \}'),
    ("kind value missing", with_freezes('[freezes]\nkind_values = { hard = "Hard" }'),
     r"p\.toml: freezes\.kind_values\.soft: expected a non-empty string"),
    ("kind value unknown", with_freezes('[freezes]\nkind_values = { hard = "H", soft = "S", '
                                        'frozen = "F" }'),
     r"p\.toml: freezes\.kind_values\.frozen: unknown key \(expected: hard, soft\)"),
    ("kind values the same", with_freezes('[freezes]\nkind_values = { hard = "X", soft = "X" }'),
     r"p\.toml: freezes\.kind_values\.soft: 'X' is also used by freezes\.kind_values\.hard"),
    ("recurring not tables", with_freezes('[freezes]\nrecurring = ["Weekend"]'),
     r"p\.toml: freezes\.recurring: expected \[\[freezes\.recurring\]\] tables, one per "
     r"recurring freeze"),
    ("recurring a table", with_freezes('[freezes.recurring]\nname = "Weekend"'),
     r"p\.toml: freezes\.recurring: expected \[\[freezes\.recurring\]\] tables"),
    ("entry without name", weekend_with('name = "Weekend"\n', ""),
     r"p\.toml: freezes\.recurring\[0\]\.name: expected a non-empty string"),
    ("entry with unknown key", weekend_with('kind = "soft"', 'kind = "soft"\nuntil = 2027'),
     r"p\.toml: freezes\.recurring\[0\]\.until: unknown key \(expected: name, rrule, duration, "
     r"timezone, kind, reason\)"),
    ("bad rrule names the entry", weekend_with("BYDAY=FR", "BYDAY=FRI"),
     r'p\.toml: freezes\.recurring\[0\] \("Weekend"\)\.rrule: '
     r"'FREQ=WEEKLY;BYDAY=FRI;BYHOUR=15;BYMINUTE=0;BYSECOND=0' is not a usable RFC 5545 "
     r"RRULE: BYDAY=FRI is not a valid value"),
    ("hourly rrule", weekend_with("FREQ=WEEKLY", "FREQ=HOURLY"),
     r'freezes\.recurring\[0\] \("Weekend"\)\.rrule: .* FREQ must be one of DAILY, WEEKLY, '
     r"MONTHLY, YEARLY \(a freeze recurs at most daily\)"),
    ("rrule missing", weekend_with('rrule = "FREQ=WEEKLY;BYDAY=FR;BYHOUR=15;BYMINUTE=0;'
                                   'BYSECOND=0"\n', ""),
     r'freezes\.recurring\[0\] \("Weekend"\)\.rrule: expected a non-empty string'),
    ("kind unknown", weekend_with('kind = "soft"', 'kind = "Soft"'),
     r'freezes\.recurring\[0\] \("Weekend"\)\.kind: expected "hard" or "soft", got \'Soft\''),
    ("reason missing", weekend_with("reason = ", "# reason = "),
     r'freezes\.recurring\[0\] \("Weekend"\)\.reason: expected a non-empty string'),
    ("duration missing", weekend_with('duration = "PT65H"', "# no duration"),
     r'freezes\.recurring\[0\] \("Weekend"\)\.duration: expected whole hours or an ISO 8601 '
     r'duration such as "PT65H" or "P9D" \(no months or years\), got None'),
    ("duration in months", weekend_with('"PT65H"', '"P1M"'),
     r'\.duration: expected whole hours or an ISO 8601 duration .* got \'P1M\''),
    ("duration P alone", weekend_with('"PT65H"', '"P"'), r"\.duration: expected whole hours"),
    ("duration without time after T", weekend_with('"PT65H"', '"P1DT"'),
     r"\.duration: expected whole hours"),
    ("duration a float", weekend_with('"PT65H"', "65.5"), r"\.duration: expected whole hours"),
    ("duration a boolean", weekend_with('"PT65H"', "true"), r"\.duration: expected whole hours"),
    ("duration of nothing", weekend_with('"PT65H"', '"PT0H"'),
     r'freezes\.recurring\[0\] \("Weekend"\)\.duration: must be longer than nothing, got '
     r"'PT0H'"),
    ("negative hours", weekend_with('"PT65H"', "-3"),
     r"\.duration: must be longer than nothing, got -3"),
    ("two freezes of one name", with_freezes("[freezes]\n" + WEEKEND_FREEZE + WEEKEND_FREEZE),
     r"p\.toml: freezes\.recurring\[1\]\.name: 'Weekend' names another recurring freeze too"),
]


@pytest.mark.parametrize("text, pattern", [e[1:] for e in FREEZE_ERRORS],
                         ids=[e[0] for e in FREEZE_ERRORS])
def test_freeze_errors_name_the_entry_and_the_key(text, pattern):
    with pytest.raises(PolicyError) as error:
        parse_policy(text, source="p.toml")
    assert re.search(pattern, str(error.value)), str(error.value)
    assert str(error.value).startswith("p.toml: ")


DURATIONS = [
    ('"PT65H"', timedelta(hours=65)), ('"pt65h"', timedelta(hours=65)),
    ('"P9D"', timedelta(days=9)), ('"P2DT17H"', timedelta(days=2, hours=17)),
    ('"P1W"', timedelta(weeks=1)), ('"PT90M"', timedelta(minutes=90)),
    ('"PT30S"', timedelta(seconds=30)), ("65", timedelta(hours=65)),
]


@pytest.mark.parametrize("written, length", DURATIONS, ids=[d[0] for d in DURATIONS])
def test_freeze_durations(written, length):
    policy = parse_policy(weekend_with('"PT65H"', written))
    assert policy.freezes.recurring[0].duration == length


def test_freezes_in_the_default_policy():
    freezes = parse_policy(DEFAULT).freezes
    assert (freezes.issue_type, freezes.field_names, freezes.kind_values) == (
        "Change Freeze", {FreezeFieldRole.KIND: "Freeze Kind",
                                   FreezeFieldRole.REASON: "Freeze Reason"},
        {FreezeKind.HARD: "Hard", FreezeKind.SOFT: "Soft"})
    assert freezes.recurring == (
        RecurringFreeze(
            name="Weekend", rrule="FREQ=WEEKLY;BYDAY=FR;BYHOUR=15;BYMINUTE=0;BYSECOND=0",
            duration=timedelta(hours=65), timezone="Europe/London", kind=FreezeKind.SOFT,
            reason="Fewer people are at work to watch a change and roll it back over the "
                   "weekend."),
        RecurringFreeze(
            name="Year end", rrule="FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24;BYHOUR=0;BYMINUTE=0;"
                                   "BYSECOND=0",
            duration=timedelta(days=9), timezone="Europe/London", kind=FreezeKind.HARD,
            reason="Holidays: most of the company is away and year-end trading must not be "
                   "disturbed."),
    )


def test_a_freeze_without_a_zone_is_in_the_cabs_and_names_read_back():
    policy = parse_policy(with_freezes(
        '[freezes]\nissue_type = "Freeze"\nkind_field = "Severity"\nreason_field = "Why"\n'
        'kind_values = { hard = "Total", soft = "Partial" }\n'
        + WEEKEND_FREEZE.replace('timezone = "Europe/London"\n', "")).replace(
            'timezone = "Europe/London"', 'timezone = "America/New_York"'))
    freezes = policy.freezes
    assert freezes.recurring[0].timezone == "America/New_York" == policy.cab.timezone
    assert freezes.field_names == {FreezeFieldRole.KIND: "Severity",
                                   FreezeFieldRole.REASON: "Why"}
    assert (freezes.kind_of("Partial"), freezes.kind_of("Soft"), freezes.kind_of(None)) == (
        FreezeKind.SOFT, None, None)


def test_a_policy_written_before_freezes_still_loads():
    policy = parse_policy(with_freezes(""), "p.toml")
    assert policy.freezes == NO_FREEZES
    assert (policy.freezes.issue_type, policy.freezes.field_names, policy.freezes.recurring) == (
        None, {}, ())


def test_recurring_freezes_only():
    policy = parse_policy(with_freezes("[freezes]\n" + WEEKEND_FREEZE))
    assert (policy.freezes.issue_type, policy.freezes.field_names) == (None, {})
    assert [f.name for f in policy.freezes.recurring] == ["Weekend"]
