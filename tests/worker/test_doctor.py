"""`changeguard doctor` against the sandbox Jira, GitHub and GitLab, a real Redis and Slack."""

from __future__ import annotations

import dataclasses
import re
import socket

import pytest
import redis

from rules.policy import NO_FREEZES, FieldRole, parse_policy
from sandbox.github_server import SandboxGitHub
from sandbox.slack_server import SandboxSlack
from worker.doctor import (
    FIELD_TYPES,
    CheckResult,
    check_fields,
    check_freezes,
    check_github_app,
    check_moves,
    check_redis_persistence,
    check_statuses,
    redis_persistence,
    run_doctor,
)
from worker.jira_client import JiraClient
from worker.policy_file import load_policy
from worker.settings import DEFAULT_POLICY_PATH, Settings, hash_gate_token

from ..builders import free_port, run_changeguard, site_env, with_example_freezes
from ..github_fixtures import github_settings

POLICY = load_policy()
WORKFLOW = "'Change Request workflow'"
FIELDS_OK = "OK  Fields: all 13 policy fields exist with the expected types"
STATUSES_OK = "OK  Statuses: all 8 policy statuses exist"
MOVES_OK = f"OK  Transitions: all 12 allowed moves and 5 ways back exist in workflow {WORKFLOW}"
GROUPS_OK = "OK  Groups: all 4 policy groups exist and have members"
FREEZES_OK = ("OK  Freezes: no recurring freeze; one-off freezes are 'Change Freeze' issues "
              "declared by head-of-engineering")
SLACK_OFF = ("WARN Slack: SLACK_BOT_TOKEN is not set: the policy's Slack notices (deployment "
             "notices, alerts, Emergency approval requests) are not being sent, only logged as "
             "warnings; set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…) of "
             "changeguard's Slack app")
GATE_OFF = ("OK  Deployment gate: off, no GitHub App, GitLab token or pipeline token is set "
            "(the policy's [deploy] environments would gate production)")
GATE_ON = "OK  Deployment gate: gates production (policy [deploy] environments)"


def settings_for(jira, redis_url, **changes):
    settings = Settings(jira_base_url=jira.base_url, jira_email=jira.bot.email,
                        jira_api_token=jira.bot.api_token, jira_webhook_secret=None,
                        redis_url=redis_url)
    return dataclasses.replace(settings, **changes)


def doctor(settings):
    """Run the doctor in-process with a quick Jira client; return (exit code, lines)."""
    lines = []
    jira = JiraClient(settings.jira_base_url, settings.jira_email, settings.jira_api_token,
                      max_attempts=1)
    return run_doctor(settings, jira=jira, write=lines.append), lines


def report(jira, redis_url, *middle, slack=SLACK_OFF, gate=(GATE_OFF,), freezes=(FREEZES_OK,)):
    """The doctor's lines: ``middle`` from the fields line on, the freeze lines after it."""
    return [f"OK  Policy file: loaded from {DEFAULT_POLICY_PATH}",
            f"OK  Jira credentials: signed in to {jira.base_url} as changeguard "
            f"({jira.bot.account_id})",
            *middle[:1], *freezes, *middle[1:],
            f"OK  Redis: PING answered at {redis_url}",
            persistence_line(redis_url),
            slack,
            *gate]


def persistence_line(redis_url):
    """The persistence line for the test Redis, whose settings the table below covers."""
    return check_redis_persistence(redis_persistence(redis.Redis.from_url(redis_url))).line


def test_default_sandbox_passes_every_check(jira, redis_url):
    result = run_changeguard("doctor", env_changes=site_env(jira, redis_url))
    # No SLACK_BOT_TOKEN: a WARN line (the last), which leaves the exit code at 0.
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == report(jira, redis_url, FIELDS_OK, STATUSES_OK,
                                                MOVES_OK, GROUPS_OK)


def test_broken_site_gets_one_fail_line_per_fault_with_its_fix(jira, redis_url):
    jira.remove_field("Rollback Plan")
    jira.remove_group("cab")
    jira.remove_transition("Awaiting Approval", "Draft")
    result = run_changeguard("doctor", env_changes=site_env(jira, redis_url))
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout.splitlines() == report(
        jira, redis_url,
        "FAIL Field 'Rollback Plan' does not exist: create a paragraph custom field "
        "'Rollback Plan' and add it to the Change Request screens",
        STATUSES_OK,
        "FAIL Way back Awaiting Approval → Draft is missing: add a transition Awaiting Approval "
        f"→ Draft to the workflow {WORKFLOW} and let changeguard's account use it",
        "FAIL Group 'cab' does not exist: create the group 'cab' and add the CAB members")


def remove_transitions(*moves):
    return lambda jira: [jira.remove_transition(source, target) for source, target in moves]


@pytest.mark.parametrize(("breaks", "expected"), [
    (lambda jira: jira.remove_field("Change Category"),
     ["FAIL Field 'Change Category' does not exist: create a single select custom field "
      "'Change Category' with the options Standard, Normal, Emergency and add it to the "
      "Change Request screens", STATUSES_OK, MOVES_OK, GROUPS_OK]),
    (lambda jira: jira.remove_field("Incident Commander"),
     ["FAIL Field 'Incident Commander' does not exist: create a user picker (single user) "
      "custom field 'Incident Commander' and add it to the Change Request screens",
      STATUSES_OK, MOVES_OK, GROUPS_OK]),
    (lambda jira: jira.remove_group("incident-commanders"),
     [FIELDS_OK, STATUSES_OK, MOVES_OK,
      "FAIL Group 'incident-commanders' does not exist: create the group 'incident-commanders' "
      "and add the incident commanders"]),
    (remove_transitions(("Closed", "Implemented")),
     [FIELDS_OK, STATUSES_OK,
      "FAIL Way back Closed → Implemented is missing: add a transition Closed → Implemented "
      f"to the workflow {WORKFLOW} and let changeguard's account use it", GROUPS_OK]),
    (remove_transitions(("Draft", "Awaiting Approval"), ("Implementing", "Implemented")),
     [FIELDS_OK, STATUSES_OK,
      "FAIL Allowed move Draft → Awaiting Approval is missing: add a transition Draft → "
      f"Awaiting Approval to the workflow {WORKFLOW}",
      "FAIL Allowed move Implementing → Implemented is missing: add a transition Implementing "
      f"→ Implemented to the workflow {WORKFLOW}", GROUPS_OK]),
    # The global "Start implementation now" still leads from Approved to Implementing.
    (remove_transitions(("Approved", "Implementing")),
     [FIELDS_OK, STATUSES_OK, MOVES_OK, GROUPS_OK]),
], ids=["select-field", "user-field", "group", "way-back-only", "forward-moves",
        "covered-by-global-transition"])
def test_each_fault_is_named_with_its_fix(jira, redis_url, breaks, expected):
    breaks(jira)
    code, lines = doctor(settings_for(jira, redis_url))
    assert lines == report(jira, redis_url, *expected)
    assert code == (1 if any(line.startswith("FAIL") for line in lines) else 0)


def test_redis_down(jira):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, lines = doctor(settings_for(jira, f"redis://127.0.0.1:{port}/0"))
    assert code == 1
    assert [line for line in lines if line.startswith("FAIL")] == [lines[-3]]
    assert re.fullmatch(rf"FAIL Redis: no answer to PING at redis://127\.0\.0\.1:{port}/0 "
                        r"\(.+\): start Redis there or correct REDIS_URL", lines[-3])


def test_redis_not_configured(jira):
    code, lines = doctor(settings_for(jira, None))
    assert (code, lines[-3]) == (1, "FAIL Redis: REDIS_URL is not set: set REDIS_URL to the Redis "
                                    "the web endpoint and worker share, e.g. "
                                    "redis://localhost:6379/0")


def test_wrong_api_token_stops_the_jira_checks(jira, redis_url):
    code, lines = doctor(settings_for(jira, redis_url, jira_api_token="wrong"))
    assert (code, lines[1:3]) == (1, [
        "FAIL Jira credentials refused (401): set JIRA_EMAIL to the email of changeguard's "
        "Atlassian account and JIRA_API_TOKEN to an API token of that account",
        "FAIL Jira fields, statuses, workflows and groups: not checked: fix the Jira connection "
        "first, then run changeguard doctor again"])
    assert lines[3:] == [f"OK  Redis: PING answered at {redis_url}", persistence_line(redis_url),
                         SLACK_OFF, GATE_OFF]


@pytest.mark.parametrize(("token", "expected"), [
    ("xoxb-sandbox", "OK  Slack: signed in as changeguard to workspace Changeguard Sandbox"),
    ("xoxb-revoked", "FAIL Slack: auth.test at {url} failed (invalid_auth): set SLACK_BOT_TOKEN "
                     "to the Bot User OAuth Token (xoxb-…) of changeguard's Slack app, and "
                     "SLACK_API_URL only for a test double"),
], ids=["token-accepted", "token-refused"])
def test_slack_auth_test(jira, redis_url, token, expected):
    with SandboxSlack() as slack:
        settings = settings_for(jira, redis_url, slack_bot_token=token, slack_api_url=slack.api_url)
        code, lines = doctor(settings)
    assert lines[-2:] == [expected.format(url=slack.api_url), GATE_OFF]
    assert code == (0 if expected.startswith("OK") else 1)


# The checks are functions of what Jira returned: the cases the sandbox cannot show.

def field(name, field_id, schema_type, custom="select"):
    return {"id": field_id, "name": name, "schema": {
        "type": schema_type,
        "custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{custom}"}}


def site_fields(**overrides):
    """Return a field list holding every policy field with the right type, with ``overrides``."""
    kinds = {"option": "select", "string": "textarea", "datetime": "datetime",
             "user": "userpicker"}
    fields = {role: [field(POLICY.field_name(role), f"customfield_{10050 + n}", schema_type,
                           kinds[schema_type])]
              for n, (role, (schema_type, _)) in enumerate(FIELD_TYPES.items())}
    fields.update(overrides)
    return [f for listed in fields.values() for f in listed]


@pytest.mark.parametrize(("fields", "expected"), [
    (site_fields(), [CheckResult(True, FIELDS_OK[4:])]),
    (site_fields(**{FieldRole.CATEGORY: [field("Change Category", "customfield_1", "string",
                                                 "textarea")]}),
     [CheckResult(False, "Field 'Change Category' is a textarea field, not a single select",
                  "replace it with a single select custom field 'Change Category' with the "
                  "options Standard, Normal, Emergency (Jira cannot change a field's type) and "
                  "add that to the Change Request screens")]),
    (site_fields(**{FieldRole.OUTCOME: [
        field("Outcome", "customfield_1", "array", "multiselect"),
        field("Outcome", "customfield_2", "option")]}),
     [CheckResult(False, "Field 'Outcome' is ambiguous (customfield_1, customfield_2)",
                  "rename or delete all but one of the fields named 'Outcome'")]),
    (site_fields(**{FieldRole.DESCRIPTION: []}),
     [CheckResult(False, "Field 'Description' does not exist",
                  "set fields.description in the policy file to the name of the site's "
                  "Description field")]),
], ids=["all-present", "select-that-is-a-paragraph", "ambiguous", "no-description"])
def test_check_fields(fields, expected):
    assert check_fields(POLICY, fields) == expected


STATUSES = [{"id": str(10001 + n), "name": name} for n, name in
            enumerate(POLICY.status_names.values())]


def test_check_statuses_missing_and_ambiguous():
    statuses = [s for s in STATUSES if s["name"] != "Rejected"] + [{"id": "3", "name": "Closed"}]
    assert check_statuses(POLICY, statuses) == [
        CheckResult(False, "Status 'Closed' is ambiguous (10006, 3)",
                    "rename all but one of the statuses named 'Closed'"),
        CheckResult(False, "Status 'Rejected' does not exist",
                    "create the status 'Rejected' and add it to the Change Request workflow")]


def test_check_moves_when_no_workflow_holds_both_statuses():
    others = [{"statusReference": s["id"]} for s in STATUSES if s["name"] != "Cancelled"]
    workflows = [{"name": "Main", "statuses": others, "transitions": []},
                 {"name": "Side", "statuses": [{"statusReference": STATUSES[-1]["id"]}],
                  "transitions": []}]
    draft_cancelled = [r for r in check_moves(POLICY, STATUSES, workflows)
                       if "Cancelled" in r.what]
    assert draft_cancelled[0] == CheckResult(
        False, "No workflow holds both 'Draft' and 'Cancelled'",
        "add both statuses and a transition Draft → Cancelled to the Change Request workflow")


@pytest.mark.parametrize(("config", "line"), [
    ({"appendonly": "yes", "appendfsync": "always", "save": ""},
     "OK  Redis persistence: every write is on disk before Redis answers (appendonly yes, "
     "appendfsync always)"),
    ({"appendonly": "yes", "appendfsync": "everysec", "save": "3600 1"},
     "OK  Redis persistence: append-only file (appendfsync everysec); a crash of the Redis host "
     "can lose its last second of writes"),
    ({"appendonly": "no", "appendfsync": "everysec", "save": ""},
     "WARN Redis persistence: none (appendonly no): a Redis restart loses queued jobs and their "
     "progress; the sweep finds the moves again, but a Slack notice may repeat or a comment go "
     "missing: set appendonly yes"),
    ({"appendonly": "no", "appendfsync": "everysec", "save": "3600 1 300 100"},
     "WARN Redis persistence: snapshots only (appendonly no): a Redis restart loses queued jobs "
     "and their progress; the sweep finds the moves again, but a Slack notice may repeat or a "
     "comment go missing: set appendonly yes"),
    (None, "WARN Redis persistence: unknown (CONFIG GET is not allowed): make sure this Redis "
           "keeps an append-only file (appendonly yes)"),
])
def test_redis_persistence_is_reported_and_never_fails_the_doctor(config, line):
    result = check_redis_persistence(config)
    assert (result.ok, result.line) == (True, line)


# The deployment gate's lines, after Slack's: each front end set up is signed in to, for real.

GITHUB_OK = "OK  GitHub App: changeguard-acme (id 424242), installed on {installs}"
GITHUB_REFUSED = (
    "FAIL GitHub App: {{github_url}} refused App {app_id}'s JWT (401 {message}): the private key "
    "or App ID is wrong: set GITHUB_APP_ID to the App ID on the App's settings page (Settings → "
    "Developer settings → GitHub Apps) and GITHUB_APP_PRIVATE_KEY to a private key generated "
    "there and not deleted since")
GITLAB_OK = "OK  GitLab: signed in to {gitlab_url} as changeguard-bot"


def other_key():
    """Return a private key GitHub never saw: another sandbox App's."""
    return SandboxGitHub().private_key_pem


def broken_key(pem):
    """Return ``pem`` with most of its body lost (a bad copy and paste)."""
    lines = pem.strip().splitlines()
    return "\n".join(lines[:5] + lines[-1:])


def narrow_app(github):
    github.app_permissions = {"actions": "read", "deployments": "read", "metadata": "read"}
    github.app_events = ["deployment_protection_rule"]
    return github_settings(github)


def two_more_installations(github):
    github.add_installation("globex")
    github.add_installation("initech")
    return github_settings(github)


GITLAB = {"gitlab_token": "glpat-sandbox-changeguard", "gitlab_webhook_secret": "hook-secret"}
TOKENS = (("jenkins", hash_gate_token("t1")), ("argo", hash_gate_token("t2")))


@pytest.mark.parametrize(("configure", "expected", "github_refused", "gitlab_refused"), [
    (lambda github, gitlab: {}, [GATE_OFF], [], []),
    (lambda github, gitlab: {**two_more_installations(github), **GITLAB,
                             "gitlab_url": gitlab.url, "gate_tokens": TOKENS},
     [GITHUB_OK.format(installs="3 accounts"), GITLAB_OK,
      "OK  Generic gate: 2 pipeline tokens (jenkins, argo)", GATE_ON], [], []),
    (lambda github, gitlab: github_settings(github),
     [GITHUB_OK.format(installs="1 account"), GATE_ON], [], []),
    (lambda github, gitlab: {**github_settings(github), "github_private_key": other_key()},
     [GITHUB_REFUSED.format(message="A JSON web token could not be decoded",
                            app_id="424242"), GATE_ON],
     [("GET", "/app", 401)], []),
    (lambda github, gitlab: {**github_settings(github), "github_app_id": "424243"},
     [GITHUB_REFUSED.format(message="'Issuer' claim ('iss') must be the App ID of this GitHub "
                                    "App", app_id="424243"), GATE_ON],
     [("GET", "/app", 401)], []),
    (lambda github, gitlab: {**github_settings(github),
                             "github_private_key": broken_key(github.private_key_pem)},
     ["FAIL GitHub App: the private key cannot sign an App JWT (it is not a whole RSA private "
      "key): set GITHUB_APP_PRIVATE_KEY to the whole .pem file GitHub generated for the App, "
      "line breaks kept (or written as \\n), or GITHUB_APP_PRIVATE_KEY_PATH to that file",
      GATE_ON], [], []),
    (lambda github, gitlab: {**github_settings(github), "github_api_url": "{dead_url}"},
     ["FAIL GitHub App: GET /app at {dead_url} failed (no answer (ConnectError('[Errno 111] "
      "Connection refused'))): check GITHUB_API_URL (https://api.github.com, or "
      "https://HOST/api/v3 for GitHub Enterprise Server) and the network", GATE_ON], [], []),
    (lambda github, gitlab: narrow_app(github),
     ["WARN GitHub App: changeguard-acme (id 424242), installed on 1 account: it lacks the "
      "permission Deployments (read and write) and the events Workflow run, Deployment "
      "status, which the deployment gate needs: add them in the App's settings (Permissions & "
      "events), then have each installation accept the new permissions", GATE_ON], [], []),
    (lambda github, gitlab: {"github_app_id": github.app_id},
     ["FAIL GitHub App: GITHUB_APP_PRIVATE_KEY and GITHUB_WEBHOOK_SECRET are not set: the "
      "deployment gate's GitHub App front end needs GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and "
      "GITHUB_WEBHOOK_SECRET; set GITHUB_APP_PRIVATE_KEY to a private key generated on the App's "
      "settings page (the "
      ".pem text, or GITHUB_APP_PRIVATE_KEY_PATH to its file); GITHUB_WEBHOOK_SECRET to the "
      "App's webhook secret (or unset GITHUB_APP_ID to leave it off)", GATE_ON], [], []),
    (lambda github, gitlab: {**GITLAB, "gitlab_url": gitlab.url},
     [GITLAB_OK, GATE_ON], [], []),
    (lambda github, gitlab: {**GITLAB, "gitlab_url": gitlab.url, "gitlab_token": "glpat-revoked"},
     ["FAIL GitLab: {gitlab_url} refused GITLAB_TOKEN (401): set GITLAB_TOKEN to an access "
      "token with the api scope (not expired or revoked) of changeguard's GitLab user, the "
      "approver of the protected environments", GATE_ON], [], [("GET", "/api/v4/user", 401)]),
    (lambda github, gitlab: {"gitlab_webhook_secret": "hook-secret", "gitlab_url": gitlab.url},
     ["FAIL GitLab: GITLAB_TOKEN is not set: the deployment gate's GitLab front end needs "
      "GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET; set GITLAB_TOKEN to an access token with the api "
      "scope of changeguard's GitLab user (or unset GITLAB_WEBHOOK_SECRET to leave it off)",
      GATE_ON], [], []),
    (lambda github, gitlab: {"gate_tokens": TOKENS[:1]},
     ["OK  Generic gate: 1 pipeline token (jenkins)", GATE_ON], [], []),
], ids=["unconfigured", "everything-configured", "github-app", "github-wrong-key",
        "github-wrong-app-id", "github-broken-key", "github-unreachable",
        "github-app-lacks-permission-and-events", "github-partly-set-up", "gitlab",
        "gitlab-wrong-token", "gitlab-partly-set-up", "one-pipeline-token"])
def test_deployment_gate_lines(jira, redis_url, github, gitlab_sandbox, configure, expected,
                               github_refused, gitlab_refused):
    dead_url = f"http://127.0.0.1:{free_port()}"
    changes = {name: value.format(dead_url=dead_url) if isinstance(value, str) else value
               for name, value in configure(github, gitlab_sandbox).items()}
    code, lines = doctor(settings_for(jira, redis_url, **changes))
    urls = {"github_url": github.api_url, "gitlab_url": gitlab_sandbox.url, "dead_url": dead_url}
    assert lines == report(jira, redis_url, FIELDS_OK, STATUSES_OK, MOVES_OK, GROUPS_OK,
                           gate=[line.format(**urls) for line in expected])
    assert code == (1 if any(line.startswith("FAIL") for line in expected) else 0)
    assert [(r.method, r.path, r.status) for r in github.take_rejections()] == github_refused
    assert [(r.method, r.path, r.status)
            for r in gitlab_sandbox.take_rejections()] == gitlab_refused


def test_cli_reads_the_gate_from_its_environment(jira, redis_url, github, gitlab_sandbox):
    env = site_env(jira, redis_url, GITHUB_APP_ID=github.app_id,
                   GITHUB_APP_PRIVATE_KEY=github.private_key_pem.replace("\n", "\\n"),
                   GITHUB_WEBHOOK_SECRET=github.webhook_secret, GITHUB_API_URL=github.api_url,
                   GITLAB_URL=gitlab_sandbox.url, GITLAB_TOKEN="glpat-sandbox-changeguard",
                   GITLAB_WEBHOOK_SECRET="hook-secret",
                   CHANGEGUARD_GATE_TOKENS=f"jenkins:{hash_gate_token('t1')}")
    result = run_changeguard("doctor", env_changes=env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-4:] == [
        GITHUB_OK.format(installs="1 account"), GITLAB_OK.format(gitlab_url=gitlab_sandbox.url),
        "OK  Generic gate: 1 pipeline token (jenkins)", GATE_ON]


@pytest.mark.parametrize(("app", "line"), [
    ({"id": 7, "slug": "cg", "name": "CG", "installations_count": 0,
      "permissions": {"actions": "write", "deployments": "admin"},
      "events": ["deployment_protection_rule", "workflow_run", "deployment_status"]},
     "WARN GitHub App: cg (id 7), installed on 0 accounts: install it on the accounts whose "
     "repositories deploy (the App's page → Install App) and enable it as a deployment "
     "protection rule on their gated environments"),
    ({"id": 7, "slug": "", "name": "CG", "installations_count": None, "permissions": {},
      "events": ["workflow_run", "deployment_status"]},
     "WARN GitHub App: CG (id 7): it lacks the permissions Actions (read), Deployments (read "
     "and write) and the event Deployment protection rule, which the deployment gate needs: add "
     "them in the App's settings (Permissions & events), then have each installation accept "
     "the new permissions"),
], ids=["no-installation", "no-slug-or-count-and-no-permissions"])
def test_check_github_app_when_github_shows_less(app, line):
    assert check_github_app(app).line == line


@pytest.mark.parametrize(("breaks", "freezes"), [
    (lambda jira: jira.remove_field("Freeze Kind"),
     ["FAIL Freeze field 'Freeze Kind' does not exist: create a single select custom field "
      "'Freeze Kind' with the options Hard and Soft and add it to the Change Freeze screens"]),
    (lambda jira: [jira.remove_field("Freeze Reason"), jira.remove_field("Freeze Kind")],
     ["FAIL Freeze field 'Freeze Kind' does not exist: create a single select custom field "
      "'Freeze Kind' with the options Hard and Soft and add it to the Change Freeze screens",
      "FAIL Freeze field 'Freeze Reason' does not exist: create a paragraph custom field "
      "'Freeze Reason' and add it to the Change Freeze screens"]),
], ids=["kind", "kind-and-reason"])
def test_freeze_fields_are_checked(jira, redis_url, breaks, freezes):
    breaks(jira)
    code, lines = doctor(settings_for(jira, redis_url))
    assert code == 1
    assert lines == report(jira, redis_url, FIELDS_OK, STATUSES_OK, MOVES_OK, GROUPS_OK,
                           freezes=freezes)


FREEZE_FIELDS = [field("Freeze Kind", "customfield_10090", "option"),
                 field("Freeze Reason", "customfield_10091", "string", "textarea")]


@pytest.mark.parametrize(("policy", "fields", "expected"), [
    (dataclasses.replace(POLICY, freezes=NO_FREEZES), [],
     [CheckResult(True, "Freezes: no recurring freeze; none are read from Jira (the policy's "
                        "[freezes] table names no issue_type)")]),
    (parse_policy(with_example_freezes(DEFAULT_POLICY_PATH.read_text())), FREEZE_FIELDS,
     [CheckResult(True, "Freezes: Weekend (soft), Year end (hard); one-off freezes are "
                        "'Change Freeze' issues declared by head-of-engineering")]),
    (POLICY, [FREEZE_FIELDS[0], field("Freeze Reason", "customfield_1", "option"),
              field("Freeze Kind", "customfield_2", "option")],
     [CheckResult(False, "Freeze field 'Freeze Kind' is ambiguous (customfield_10090, "
                         "customfield_2)",
                  "rename or delete all but one of the fields named 'Freeze Kind'"),
      CheckResult(False, "Freeze field 'Freeze Reason' is a select field, not a paragraph",
                  "create a paragraph custom field 'Freeze Reason' and add it to the Change "
                  "Freeze screens")]),
], ids=["not-read-from-jira", "recurring-named", "ambiguous-and-wrong-type"])
def test_check_freezes(policy, fields, expected):
    assert check_freezes(policy, fields) == expected
