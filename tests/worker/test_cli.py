"""The `changeguard` command: the worker refuses bad configuration; `check` explains an issue."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.jira_server import SandboxJira
from jobs.explain import explain_issue
from worker.runtime import build_runtime
from worker.settings import DEFAULT_POLICY_PATH, Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def jira():
    with SandboxJira() as sandbox:
        sandbox.start()
        yield sandbox


def run_changeguard(*args, env_changes):
    """Run `changeguard ARGS…` in a subprocess with only ``env_changes`` configured."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JIRA_", "CHANGEGUARD_", "SLACK_", "REDIS_"))}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-m", "worker", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def run_worker(env_changes):
    return run_changeguard("worker", "--burst", env_changes=env_changes)


def site_env(jira, redis_url, **extra):
    return {"JIRA_BASE_URL": jira.base_url, "JIRA_EMAIL": jira.bot.email,
            "JIRA_API_TOKEN": jira.bot.api_token, "REDIS_URL": redis_url, **extra}


def test_missing_variable(redis_url):
    result = run_worker({"REDIS_URL": redis_url})
    assert (result.returncode, result.stderr.strip()) == (
        2, "changeguard: JIRA_BASE_URL is not set: the Jira Cloud site, e.g. "
           "https://your-company.atlassian.net")


def test_policy_file_with_a_mistake(jira, redis_url, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text().replace('timezone = "Europe/London"',
                                                              "timezone = 3"))
    result = run_worker(site_env(jira, redis_url, CHANGEGUARD_POLICY=str(policy)))
    assert (result.returncode, result.stderr.strip()) == (
        2, f"changeguard: {policy}: cab.timezone: expected a string, got int")


def test_site_without_a_policy_field(jira, redis_url, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text()
                      .replace('rollback_plan = "Rollback Plan"', 'rollback_plan = "Backout Plan"')
                      .replace('cancelled = "Cancelled"', 'cancelled = "Abandoned"'))
    result = run_worker(site_env(jira, redis_url, CHANGEGUARD_POLICY=str(policy)))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "changeguard: the Jira site does not match the policy:\n"
        "  - field 'Backout Plan' (policy fields.rollback_plan) does not exist on the site\n"
        "  - status 'Abandoned' (policy statuses.cancelled) does not exist on the site")


def test_wrong_api_token(jira, redis_url):
    result = run_worker(site_env(jira, redis_url, JIRA_API_TOKEN="wrong"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(
        "changeguard: Jira refused JIRA_EMAIL/JIRA_API_TOKEN (GET rest/api/3/field -> 401")


def test_check_prints_the_explanation_of_one_issue(jira, redis_url):
    key = jira.create_change_request("alice", "Rotate the TLS certificates",
                                     {"Change Category": "Normal"})
    settings = Settings(jira_base_url=jira.base_url, jira_email=jira.bot.email,
                        jira_api_token=jira.bot.api_token, jira_webhook_secret=None,
                        redis_url=redis_url)
    expected = explain_issue(key, runtime=build_runtime(settings))
    result = run_changeguard("check", key, env_changes=site_env(jira, redis_url))
    assert (result.returncode, result.stdout, result.stderr) == (0, expected + "\n", "")


def test_check_of_an_unknown_issue(jira, redis_url):
    result = run_changeguard("check", "CHG-999", env_changes=site_env(jira, redis_url))
    assert (result.returncode, result.stdout, result.stderr.strip()) == (
        1, "", f"changeguard: {jira.base_url} has no issue CHG-999 that changeguard's account "
               "can see")


def test_agenda_dry_run_prints_and_posting_twice_edits_one_comment(jira, redis_url, namespace):
    env = site_env(jira, redis_url, CHANGEGUARD_NAMESPACE=namespace)
    key = jira.create_change_request("alice", "Rotate the TLS certificates", {
        "Description": "Rotate the TLS certificates on the edge proxies before they expire.",
        "Change Category": "Normal", "Change Type": "Infrastructure",
        "Deployment Plan": "Terraform apply of the new bundle, one proxy pool at a time.",
        "Rollback Plan": "Re-apply the previous bundle from the Terraform state.",
        "Risk Assessment": "Medium: a bad chain would break HTTPS for every client.",
        "Planned Start": "2026-12-01T10:00:00.000+0000",
        "Planned End": "2026-12-01T11:00:00.000+0000"})
    jira.transition(key, "Awaiting Approval", as_user="alice")
    epic = "CHG-1"
    def searches():
        return sum(r.path == "/rest/api/3/search/jql" for r in jira.requests)

    before = searches()
    dry = run_changeguard("agenda", "--dry-run", env_changes=env)
    dry_searches = searches() - before
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("CAB agenda for ")
    assert key in dry.stdout
    assert jira.comments(epic) == []
    before = searches()
    first = run_changeguard("agenda", env_changes=env)
    assert searches() - before == dry_searches  # the agenda is built once, then posted
    second = run_changeguard("agenda", env_changes=env)
    [comment] = jira.comments(epic)
    assert first.stdout.splitlines()[-1] == f"posted comment {comment['id']} on {epic}"
    assert second.stdout.splitlines()[-1] == f"updated comment {comment['id']} on {epic}"
