"""`changeguard worker` refuses to start on bad configuration, saying exactly what is wrong."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.jira_server import SandboxJira
from worker.settings import DEFAULT_POLICY_PATH

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def jira():
    with SandboxJira() as sandbox:
        sandbox.start()
        yield sandbox


def run_worker(env_changes):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "CHANGEGUARD_"))}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-m", "worker", "worker", "--burst"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


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
