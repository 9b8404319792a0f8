"""`changeguard doctor`: check that Jira, Redis, Slack and the deployment gate are set up."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import redis

from rules.policy import FieldRole, FreezeFieldRole, GroupRole, Policy, StatusRole

from .github_client import GitHubClient, GitHubError, GitHubKeyError, github_client_for
from .gitlab_client import GitLabClient, GitLabError
from .jira_client import JiraAuthError, JiraClient, JiraError, JiraNotFound, JiraUnavailable
from .policy_file import load_policy
from .settings import Settings, redact_url
from .slack_client import SlackClient, SlackError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Field role -> (Jira schema type it must have, what an admin creates in Jira's field settings)
FIELD_TYPES: dict[FieldRole, tuple[str, str]] = {
    FieldRole.DESCRIPTION: ("string", "paragraph"),
    FieldRole.CATEGORY: ("option", "single select"),
    FieldRole.CHANGE_TYPE: ("option", "single select"),
    FieldRole.DEPLOYMENT_PLAN: ("string", "paragraph"),
    FieldRole.ROLLBACK_PLAN: ("string", "paragraph"),
    FieldRole.RISK_ASSESSMENT: ("string", "paragraph"),
    FieldRole.RISK_LEVEL: ("option", "single select"),
    FieldRole.STANDARD_TEMPLATE: ("option", "single select"),
    FieldRole.PLANNED_START: ("datetime", "date time picker"),
    FieldRole.PLANNED_END: ("datetime", "date time picker"),
    FieldRole.INCIDENT_COMMANDER: ("user", "user picker (single user)"),
    FieldRole.OUTCOME: ("option", "single select"),
    FieldRole.RETROSPECTIVE: ("string", "paragraph"),
}
GROUP_MEMBERS: dict[GroupRole, str] = {
    GroupRole.TEAM_LEADS: "the team leads",
    GroupRole.CAB: "the CAB members",
    GroupRole.HEAD_OF_ENGINEERING: "the Head of Engineering",
    GroupRole.INCIDENT_COMMANDERS: "the incident commanders",
}


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's report: what was checked and, when it fails, the fix."""

    ok: bool
    what: str
    fix: str = ""

    @property
    def line(self) -> str:
        """Return the report line: `OK  <what>`, `WARN <what>: <fix>` or `FAIL <what>: <fix>`."""
        if not self.ok:
            return f"FAIL {self.what}: {self.fix}"
        return f"WARN {self.what}: {self.fix}" if self.fix else f"OK  {self.what}"


def passed(what: str) -> CheckResult:
    """Return a passing check."""
    return CheckResult(True, what)


def failed(what: str, fix: str) -> CheckResult:
    """Return a failing check with its fix."""
    return CheckResult(False, what, fix)


def warned(what: str, fix: str) -> CheckResult:
    """Return a check that passes (exit code 0) but is worth fixing before production."""
    return CheckResult(True, what, fix)


SLACK_NOT_CONFIGURED = warned(
    "Slack: SLACK_BOT_TOKEN is not set",
    "the policy's Slack notices (deployment notices, alerts, Emergency approval requests) are "
    "not being sent, only logged as warnings; set SLACK_BOT_TOKEN to the Bot User OAuth Token "
    "(xoxb-…) of changeguard's Slack app")

# Each front end of the deployment gate: (variable, Settings field, what to set it to).
GITHUB_VARIABLES = (
    ("GITHUB_APP_ID", "github_app_id", "the App ID on the GitHub App's settings page"),
    ("GITHUB_APP_PRIVATE_KEY", "github_private_key",
     "a private key generated on the App's settings page (the .pem text, or "
     "GITHUB_APP_PRIVATE_KEY_PATH to its file)"),
    ("GITHUB_WEBHOOK_SECRET", "github_webhook_secret", "the App's webhook secret"),
)
GITLAB_VARIABLES = (
    ("GITLAB_TOKEN", "gitlab_token",
     "an access token with the api scope of changeguard's GitLab user"),
    ("GITLAB_WEBHOOK_SECRET", "gitlab_webhook_secret",
     "the secret token of the webhook to changeguard's /webhooks/gitlab"),
)
# What the gate needs of its GitHub App (README "GitHub Actions"), named as its settings name them.
GITHUB_PERMISSIONS = {"actions": ("read", "Actions (read)"),
                      "deployments": ("write", "Deployments (read and write)")}
GITHUB_EVENTS = {"deployment_protection_rule": "Deployment protection rule",
                 "workflow_run": "Workflow run", "deployment_status": "Deployment status"}
PERMISSION_LEVELS = {"read": 1, "write": 2, "admin": 3}


# -- checks: data in, results out ---------------------------------------------------------------

def check_account(myself: Mapping[str, Any], base_url: str) -> CheckResult:
    """Say which account the credentials sign in as."""
    return passed(f"Jira credentials: signed in to {base_url} as "
                  f"{myself.get('displayName', '?')} ({myself.get('accountId', '?')})")


def check_fields(policy: Policy, fields: Iterable[Mapping[str, Any]]) -> list[CheckResult]:
    """Check that every policy field exists once by name, with the type the policy reads."""
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for field in fields:
        by_name.setdefault(field.get("name", ""), []).append(field)
    problems = []
    for role in FieldRole:
        name = policy.field_name(role)
        schema_type, kind = FIELD_TYPES[role]
        found = by_name.get(name, [])
        create = f"{kind} custom field {name!r}{_options(policy, role)}"
        if not found and role is FieldRole.DESCRIPTION:
            problems.append(failed(f"Field {name!r} does not exist",
                                   f"set fields.{role.value} in the policy file to the name of "
                                   "the site's Description field"))
        elif not found:
            problems.append(failed(f"Field {name!r} does not exist",
                                   f"create a {create} and add it to the "
                                   f"{policy.scope_issue_type} screens"))
        elif len(found) > 1:
            ids = ", ".join(f["id"] for f in found)
            problems.append(failed(f"Field {name!r} is ambiguous ({ids})",
                                   f"rename or delete all but one of the fields named {name!r}"))
        elif (found[0].get("schema") or {}).get("type") != schema_type:
            actual = _field_kind(found[0].get("schema") or {})
            problems.append(failed(f"Field {name!r} is a {actual} field, not a {kind}",
                                   f"replace it with a {create} (Jira cannot change a field's "
                                   "type) and add that to the "
                                   f"{policy.scope_issue_type} screens"))
    return problems or [passed(f"Fields: all {len(FieldRole)} policy fields exist with the "
                               "expected types")]


# The Change Freeze issue's own fields: (schema type, kind a person picks when creating one).
FREEZE_FIELD_TYPES: dict[FreezeFieldRole, tuple[str, str]] = {
    FreezeFieldRole.KIND: ("option", "single select"),
    FreezeFieldRole.REASON: ("string", "paragraph"),
}


def check_freezes(policy: Policy, fields: Iterable[Mapping[str, Any]]) -> list[CheckResult]:
    """Say which freezes are in force, and check the fields one-off freezes are declared with."""
    freezes = policy.freezes
    recurring = (", ".join(f"{r.name} ({r.kind.value})" for r in freezes.recurring)
                 or "no recurring freeze")
    if freezes.issue_type is None:
        return [passed(f"Freezes: {recurring}; none are read from Jira (the policy's [freezes] "
                       "table names no issue_type)")]
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for field in fields:
        by_name.setdefault(field.get("name", ""), []).append(field)
    problems = []
    for role, name in freezes.field_names.items():
        schema_type, kind = FREEZE_FIELD_TYPES[role]
        found = by_name.get(name, [])
        options = (" with the options " + _and(list(freezes.kind_values.values()))
                   if role is FreezeFieldRole.KIND else "")
        create = (f"create a {kind} custom field {name!r}{options} and add it to the "
                  f"{freezes.issue_type} screens")
        if len(found) > 1:
            ids = ", ".join(f["id"] for f in found)
            problems.append(failed(f"Freeze field {name!r} is ambiguous ({ids})",
                                   f"rename or delete all but one of the fields named {name!r}"))
        elif not found or (found[0].get("schema") or {}).get("type") != schema_type:
            what = ("does not exist" if not found else
                    f"is a {_field_kind(found[0].get('schema') or {})} field, not a {kind}")
            problems.append(failed(f"Freeze field {name!r} {what}", create))
    return problems or [passed(
        f"Freezes: {recurring}; one-off freezes are {freezes.issue_type!r} issues declared by "
        f"{policy.group_names[GroupRole.HEAD_OF_ENGINEERING]}")]


def check_statuses(policy: Policy, statuses: Iterable[Mapping[str, Any]]) -> list[CheckResult]:
    """Check that every policy status exists once by name."""
    ids = _ids_by_name(statuses)
    problems = []
    for role in StatusRole:
        name = policy.status_names[role]
        found = ids.get(name, [])
        if not found:
            problems.append(failed(f"Status {name!r} does not exist",
                                   f"create the status {name!r} and add it to the "
                                   f"{policy.scope_issue_type} workflow"))
        elif len(found) > 1:
            problems.append(failed(f"Status {name!r} is ambiguous ({', '.join(found)})",
                                   f"rename all but one of the statuses named {name!r}"))
    return problems or [passed(f"Statuses: all {len(StatusRole)} policy statuses exist")]


def check_moves(policy: Policy, statuses: Iterable[Mapping[str, Any]],
                workflows: Iterable[Mapping[str, Any]]) -> list[CheckResult]:
    """Check that each allowed move and way back is a transition of a workflow holding both ends.

    Moves whose statuses are missing or ambiguous are left to check_statuses.
    """
    ids = {name: found[0] for name, found in _ids_by_name(statuses).items() if len(found) == 1}
    status_id = {role: ids.get(name) for role, name in policy.status_names.items()}
    policy_ids = {i for i in status_id.values() if i}
    graphs = sorted((_graph(w) for w in workflows),
                    key=lambda graph: -len(graph[1] & policy_ids))
    problems, used, skipped = [], set(), False
    order = list(StatusRole)
    moves = sorted(policy.allowed_moves | policy.way_back_moves,
                   key=lambda move: (order.index(move[0]), order.index(move[1])))
    for source, target in moves:
        from_id, to_id = status_id[source], status_id[target]
        if not from_id or not to_id:
            skipped = True
            continue
        names = policy.status_names[source], policy.status_names[target]
        arrow = f"{names[0]} → {names[1]}"
        holding = [graph for graph in graphs if {from_id, to_id} <= graph[1]]
        if not holding:
            problems.append(failed(f"No workflow holds both {names[0]!r} and {names[1]!r}",
                                   f"add both statuses and a transition {arrow} to the "
                                   f"{policy.scope_issue_type} workflow"))
        elif not any((from_id, to_id) in graph[2] for graph in holding):
            workflow = holding[0][0]
            if (source, target) in policy.way_back_moves:
                problems.append(failed(f"Way back {arrow} is missing",
                                       f"add a transition {arrow} to the workflow {workflow!r} "
                                       "and let changeguard's account use it"))
            else:
                problems.append(failed(f"Allowed move {arrow} is missing",
                                       f"add a transition {arrow} to the workflow {workflow!r}"))
        else:
            used.update(graph[0] for graph in holding if (from_id, to_id) in graph[2])
    if problems or skipped:
        return problems
    where = ("workflow " if len(used) == 1 else "workflows ") + ", ".join(map(repr, sorted(used)))
    return [passed(f"Transitions: all {len(policy.allowed_moves)} allowed moves and "
                   f"{len(policy.way_back_moves)} ways back exist in {where}")]


def check_groups(policy: Policy,
                 members: Mapping[GroupRole, list[Mapping[str, Any]] | None]) -> list[CheckResult]:
    """Check that every policy group exists (None: not found) and has members."""
    problems = []
    for role in GroupRole:
        name, people = policy.group_names[role], GROUP_MEMBERS[role]
        if members.get(role) is None:
            problems.append(failed(f"Group {name!r} does not exist",
                                   f"create the group {name!r} and add {people}"))
        elif not members[role]:
            problems.append(failed(f"Group {name!r} has no members", f"add {people} to {name!r}"))
    return problems or [passed(f"Groups: all {len(GroupRole)} policy groups exist and have "
                               "members")]


def check_redis(url: str | None, error: str | None) -> CheckResult:
    """Report the Redis PING (``error`` None: it answered)."""
    if not url:
        return failed("Redis: REDIS_URL is not set",
                      "set REDIS_URL to the Redis the web endpoint and worker share, "
                      "e.g. redis://localhost:6379/0")
    if error is not None:
        return failed(f"Redis: no answer to PING at {redact_url(url)} ({error})",
                      "start Redis there or correct REDIS_URL")
    return passed(f"Redis: PING answered at {redact_url(url)}")


def check_redis_persistence(config: Mapping[str, str] | None) -> CheckResult:
    """Report whether Redis keeps what it acknowledged across a restart (``config``: CONFIG GET)."""
    if config is None:
        return warned("Redis persistence: unknown (CONFIG GET is not allowed)",
                      "make sure this Redis keeps an append-only file (appendonly yes)")
    if config.get("appendonly") == "yes":
        fsync = config.get("appendfsync", "everysec")
        if fsync == "always":
            return passed("Redis persistence: every write is on disk before Redis answers "
                          "(appendonly yes, appendfsync always)")
        return passed(f"Redis persistence: append-only file (appendfsync {fsync}); a crash of "
                      "the Redis host can lose its last second of writes")
    kept = "snapshots only" if config.get("save") else "none"
    return warned(f"Redis persistence: {kept} (appendonly no)",
                  "a Redis restart loses queued jobs and their progress; the sweep finds the "
                  "moves again, but a Slack notice may repeat or a comment go missing: set "
                  "appendonly yes")


def check_slack(auth: Mapping[str, Any] | None, error: str | None, api_url: str) -> CheckResult:
    """Report Slack's auth.test (``auth`` None and no error: no token, a warning)."""
    if error is not None:
        return failed(f"Slack: auth.test at {api_url} failed ({error})",
                      "set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…) of changeguard's "
                      "Slack app, and SLACK_API_URL only for a test double")
    if auth is None:
        return SLACK_NOT_CONFIGURED
    return passed(f"Slack: signed in as {auth.get('user', '?')} to workspace "
                  f"{auth.get('team', '?')}")


def check_front_end_settings(settings: Settings, name: str,
                             variables: tuple[tuple[str, str, str], ...]) -> CheckResult | None:
    """Report a front end of the gate set up only in part (None: wholly set up, or not at all)."""
    missing = [(variable, advice) for variable, field, advice in variables
               if not getattr(settings, field)]
    if not missing or len(missing) == len(variables):
        return None
    names = [variable for variable, _ in missing]
    given = [variable for variable, field, _ in variables if getattr(settings, field)]
    return failed(f"{name}: {_and(names)} {'is' if len(names) == 1 else 'are'} not set",
                  f"the deployment gate's {name} front end needs "
                  f"{_and([variable for variable, _, _ in variables])}; set "
                  + "; ".join(f"{variable} to {advice}" for variable, advice in missing)
                  + f" (or unset {_and(given)} to leave it off)")


def check_github_app(app: Mapping[str, Any]) -> CheckResult:
    """Report the App GET /app signed in as: its permissions, events and installations."""
    who = f"GitHub App: {app.get('slug') or app.get('name')} (id {app.get('id')})"
    count = app.get("installations_count")
    if count is not None:
        who += f", installed on {count} account{'' if count == 1 else 's'}"
    permissions, events = app.get("permissions") or {}, app.get("events") or []
    lacking = [label for permission, (level, label) in GITHUB_PERMISSIONS.items()
               if PERMISSION_LEVELS.get(permissions.get(permission, ""), 0)
               < PERMISSION_LEVELS[level]]
    unheard = [label for event, label in GITHUB_EVENTS.items() if event not in events]
    asks = [f"the permission{'s' if len(lacking) > 1 else ''} {', '.join(lacking)}"
            ] if lacking else []
    asks += [f"the event{'s' if len(unheard) > 1 else ''} {', '.join(unheard)}"
             ] if unheard else []
    fixes = []
    if asks:
        fixes.append(f"it lacks {' and '.join(asks)}, which the deployment gate needs: add them "
                     "in the App's settings (Permissions & events), then have each installation "
                     "accept the new permissions")
    if count == 0:
        fixes.append("install it on the accounts whose repositories deploy (the App's page → "
                     "Install App) and enable it as a deployment protection rule on their gated "
                     "environments")
    return warned(who, "; ".join(fixes)) if fixes else passed(who)


def check_github_failure(error: GitHubError, app_id: str, api_url: str) -> CheckResult:
    """Explain why signing in as the App (GET /app) failed, with the fix."""
    if isinstance(error, GitHubKeyError):
        # PyJWT's own words ("Could not parse the provided public key.") would mislead.
        return failed("GitHub App: the private key cannot sign an App JWT (it is not a whole "
                      "RSA private key)",
                      "set GITHUB_APP_PRIVATE_KEY to the whole .pem file GitHub generated for "
                      "the App, line breaks kept (or written as \\n), or "
                      "GITHUB_APP_PRIVATE_KEY_PATH to that file")
    if error.status == 401:
        return failed(f"GitHub App: {api_url} refused App {app_id}'s JWT ({error})",
                      "the private key or App ID is wrong: set GITHUB_APP_ID to the App ID on "
                      "the App's settings page (Settings → Developer settings → GitHub Apps) "
                      "and GITHUB_APP_PRIVATE_KEY to a private key generated there and not "
                      "deleted since")
    return failed(f"GitHub App: GET /app at {api_url} failed ({error})",
                  "check GITHUB_API_URL (https://api.github.com, or https://HOST/api/v3 for "
                  "GitHub Enterprise Server) and the network")


def check_gitlab(user: Mapping[str, Any] | None, error: GitLabError | None,
                 url: str) -> CheckResult:
    """Report who GITLAB_TOKEN signs in as (GET /user), or why it cannot."""
    if error is None:
        return passed(f"GitLab: signed in to {url} as {(user or {}).get('username', '?')}")
    if error.status in (401, 403):
        return failed(f"GitLab: {url} refused GITLAB_TOKEN ({error.status})",
                      "set GITLAB_TOKEN to an access token with the api scope (not expired or "
                      "revoked) of changeguard's GitLab user, the approver of the protected "
                      "environments")
    return failed(f"GitLab: {error}",
                  "check GITLAB_URL (https://gitlab.com, or your GitLab's address) and the "
                  "network")


def check_gate_tokens(settings: Settings) -> CheckResult | None:
    """Name the pipelines with a generic-gate token (None: there are none)."""
    names = [name for name, _ in settings.gate_tokens]
    if not names:
        return None
    return passed(f"Generic gate: {len(names)} pipeline token{'' if len(names) == 1 else 's'} "
                  f"({', '.join(names)})")


def check_deploy_policy(settings: Settings, policy: Policy) -> CheckResult:
    """Say which environments the gate holds; and that it holds none while no front end is set."""
    environments = ", ".join(policy.deploy.environments)
    if any(getattr(settings, field) for _, field, _ in GITHUB_VARIABLES + GITLAB_VARIABLES) \
            or settings.gate_tokens:
        return passed(f"Deployment gate: gates {environments} (policy [deploy] environments)")
    return passed(f"Deployment gate: off, no GitHub App, GitLab token or pipeline token is set "
                  f"(the policy's [deploy] environments would gate {environments})")


# -- the runner: the only part that talks to Jira, Redis, Slack, GitHub and GitLab ---------------

def diagnose(settings: Settings, policy: Policy, *, jira: JiraClient,
             redis_client: redis.Redis | None, slack: SlackClient | None,
             github: GitHubClient | None = None,
             gitlab: GitLabClient | None = None) -> list[CheckResult]:
    """Run every check against the live services and return the results in report order.

    ``github`` and ``gitlab``: the gate's clients, made from the settings when not given.
    """
    results = [passed(f"Policy file: loaded from {settings.policy_path}")]
    try:
        results.append(check_account(jira.get_myself(), jira.base_url))
    except JiraAuthError:
        results.append(failed("Jira credentials refused (401)",
                              "set JIRA_EMAIL to the email of changeguard's Atlassian account and "
                              "JIRA_API_TOKEN to an API token of that account"))
    except JiraUnavailable as exc:
        results.append(failed(f"Jira: cannot reach {jira.base_url} ({exc})",
                              "check JIRA_BASE_URL and the network"))
    except JiraError as exc:
        results.append(failed(f"Jira: GET myself failed ({exc})", "check JIRA_BASE_URL"))
    if results[-1].ok:
        results += _site_checks(policy, jira)
    else:
        results.append(failed("Jira fields, statuses, workflows and groups: not checked",
                              "fix the Jira connection first, then run changeguard doctor again"))
    results.append(check_redis(settings.redis_url, _ping(redis_client)))
    if results[-1].ok and redis_client is not None:
        results.append(check_redis_persistence(redis_persistence(redis_client)))
    if slack is None:
        results.append(check_slack(None, None, settings.slack_api_url))
    else:
        auth, error = _auth_test(slack)
        results.append(check_slack(auth, error, settings.slack_api_url))
    return results + _gate_checks(settings, policy, github, gitlab)


def _gate_checks(settings: Settings, policy: Policy, github: GitHubClient | None,
                 gitlab: GitLabClient | None) -> list[CheckResult]:
    results: list[CheckResult] = []
    partial = check_front_end_settings(settings, "GitHub App", GITHUB_VARIABLES)
    if partial is not None:
        results.append(partial)
    elif settings.github_enabled:
        github = github or github_client_for(settings)
        assert github is not None  # github_enabled says so
        try:
            results.append(check_github_app(github.get_app()))
        except GitHubError as exc:
            results.append(check_github_failure(exc, str(settings.github_app_id),
                                                settings.github_api_url))
    partial = check_front_end_settings(settings, "GitLab", GITLAB_VARIABLES)
    if partial is not None:
        results.append(partial)
    elif settings.gitlab_enabled:
        gitlab = gitlab or GitLabClient(settings.gitlab_url, str(settings.gitlab_token),
                                        max_attempts=2)
        try:
            results.append(check_gitlab(gitlab.whoami(), None, settings.gitlab_url))
        except GitLabError as exc:
            results.append(check_gitlab(None, exc, settings.gitlab_url))
    tokens = check_gate_tokens(settings)
    if tokens is not None:
        results.append(tokens)
    return results + [check_deploy_policy(settings, policy)]


def _site_checks(policy: Policy, jira: JiraClient) -> list[CheckResult]:
    results: list[CheckResult] = []
    fields = _fetch(results, "Fields", jira.get_fields)
    if fields is not None:
        results += check_fields(policy, fields)
        results += check_freezes(policy, fields)
    statuses = _fetch(results, "Statuses", jira.get_statuses)
    if statuses is not None:
        results += check_statuses(policy, statuses)
        workflows = _fetch(results, "Transitions", jira.get_workflows)
        if workflows is not None:
            results += check_moves(policy, statuses, workflows)
    members: dict[GroupRole, list[Mapping[str, Any]] | None] = {}
    for role, name in policy.group_names.items():
        try:
            members[role] = jira.get_group_members(name)
        except JiraNotFound:
            members[role] = None
        except JiraError as exc:
            results.append(failed(f"Groups: cannot read {name!r} ({exc})",
                                  "give changeguard's account the Browse users and groups "
                                  "global permission"))
            return results
    return results + check_groups(policy, members)


def _fetch(results: list[CheckResult], what: str, read: Callable[[], T]) -> T | None:
    try:
        return read()
    except JiraError as exc:
        results.append(failed(f"{what}: cannot read them from Jira ({exc})",
                              "give changeguard's account the Administer Jira global permission "
                              "(admin webhooks need it too)"))
        return None


def _ping(client: redis.Redis | None) -> str | None:
    if client is None:
        return None
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc) or type(exc).__name__
    return None


def redis_persistence(client: redis.Redis) -> dict[str, str] | None:
    """Return Redis's appendonly, appendfsync and save settings; None when CONFIG is refused."""
    try:
        config = client.config_get("append*") | client.config_get("save")
    except redis.RedisError:
        return None
    return {str(k): str(v) for k, v in config.items()}


def _auth_test(slack: SlackClient) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return slack.auth_test(), None
    except SlackError as exc:
        return None, exc.error or str(exc)


def run_doctor(settings: Settings, *, jira: JiraClient | None = None,
               redis_client: redis.Redis | None = None, slack: SlackClient | None = None,
               write: Callable[[str], None] = print) -> int:
    """Check everything, write one line per check, and return 0 if all passed, else 1."""
    policy = load_policy(settings.policy_path)
    if jira is None:
        # Two attempts: a doctor should answer quickly, not ride out a long outage.
        jira = JiraClient(settings.jira_base_url, settings.jira_email, settings.jira_api_token,
                          max_attempts=2)
    if redis_client is None and settings.redis_url:
        redis_client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2,
                                            socket_timeout=2)
    if slack is None and settings.slack_bot_token:
        slack = SlackClient(settings.slack_bot_token, base_url=settings.slack_api_url,
                            max_attempts=2)
    results = diagnose(settings, policy, jira=jira, redis_client=redis_client, slack=slack)
    for result in results:
        write(result.line)
    logger.info("doctor finished", extra={"failed": sum(not r.ok for r in results)})
    return 0 if all(result.ok for result in results) else 1


# -- helpers -------------------------------------------------------------------------------------

def _ids_by_name(items: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for item in items:
        ids.setdefault(item.get("name", ""), []).append(str(item["id"]))
    return ids


def _graph(workflow: Mapping[str, Any]) -> tuple[str, set[str], set[tuple[str, str]]]:
    """Return a workflow's name, status ids and (from, to) pairs its transitions allow.

    Reads GET /rest/api/3/workflows/search, where a status's reference is its id.
    """
    name = workflow.get("name", "?")
    statuses = {str(s["statusReference"]) for s in workflow.get("statuses", [])}
    edges = set()
    for transition in workflow.get("transitions", []):
        target = str(transition.get("toStatusReference"))
        if transition.get("type") == "GLOBAL":
            edges.update((source, target) for source in statuses if source != target)
        elif transition.get("type") != "INITIAL":
            edges.update((str(link.get("fromStatusReference")), target)
                         for link in transition.get("links", []))
    return name, statuses, edges


def _options(policy: Policy, role: FieldRole) -> str:
    values = {
        FieldRole.CATEGORY: tuple(policy.category_values.values()),
        FieldRole.CHANGE_TYPE: policy.change_types,
        FieldRole.RISK_LEVEL: policy.risk_levels,
        FieldRole.STANDARD_TEMPLATE: policy.standard_templates,
        FieldRole.OUTCOME: policy.outcomes,
    }.get(role)
    return f" with the options {', '.join(values)}" if values else ""


def _and(names: list[str]) -> str:
    """Return "A", "A and B" or "A, B and C"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _field_kind(schema: Mapping[str, Any]) -> str:
    custom = schema.get("custom")
    return custom.rsplit(":", 1)[-1] if custom else str(schema.get("type", "unknown"))
