"""The `changeguard` command: worker and web refuse bad configuration; `check` explains an issue."""

import os
import subprocess
import sys

import pytest
import requests

from jobs.explain import explain_issue
from worker.runtime import build_runtime
from worker.settings import DEFAULT_POLICY_PATH, Settings

from ..builders import ROOT, free_port, run_changeguard, site_env, stop_process, wait_until


def run_worker(env_changes):
    return run_changeguard("worker", "--burst", env_changes=env_changes)


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
        # Of change requests: the declared freezes' search is cached in Redis for a minute.
        return sum(r.path == "/rest/api/3/search/jql" and "Change Request" in r.json["jql"]
                   for r in jira.requests)

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


UNSIGNED_REFUSED = (
    "changeguard: JIRA_WEBHOOK_SECRET is not set: set it to the secret of Jira's webhook "
    "(`changeguard setup-webhook URL` registers the webhook with it), or set "
    "CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS=true to accept unsigned webhooks from anyone who knows "
    "the URL")


@pytest.mark.parametrize(("extra", "message"), [
    ({}, UNSIGNED_REFUSED),
    ({"CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS": "false"}, UNSIGNED_REFUSED),
    ({"CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS": "maybe"},
     "changeguard: CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS='maybe': use true or false "
     "(or 1/0, yes/no)"),
], ids=["unset", "opt-out-false", "opt-out-unreadable"])
def test_web_refuses_to_start_without_a_webhook_secret(jira, redis_url, extra, message):
    result = run_changeguard("web", "--bind", f"127.0.0.1:{free_port()}",
                             env_changes=site_env(jira, redis_url, **extra))
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message + "\n")


@pytest.mark.e2e  # gunicorn in a child process, answering over HTTP: 3 s a row
@pytest.mark.parametrize("extra", [
    {"JIRA_WEBHOOK_SECRET": "web webhook secret"},
    {"CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS": "true"},
], ids=["secret", "explicit-opt-out"])
def test_web_serves_and_its_access_log_leaves_out_the_calendar_token(jira, redis_url, namespace,
                                                                     tmp_path, extra):
    token = "cal-token-not-for-logs"
    base = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JIRA_", "CHANGEGUARD_", "SLACK_", "REDIS_", "GUNICORN_"))}
    env.update(site_env(jira, redis_url, CHANGEGUARD_NAMESPACE=namespace,
                        CHANGEGUARD_CALENDAR_TOKEN=token, **extra),
               GUNICORN_CMD_ARGS="--access-logfile -")  # an operator switching the log on
    log = tmp_path / "web.log"
    with log.open("wb") as sink:
        web = subprocess.Popen([sys.executable, "-m", "worker", "web", "--workers", "1",
                                "--bind", base.removeprefix("http://")], cwd=ROOT, env=env,
                               start_new_session=True, stdout=sink, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: answers(f"{base}/healthz", web, log), timeout=30,
                       what="changeguard web to answer")
            feed = requests.get(f"{base}/calendar.ics", params={"token": token}, timeout=30)
            wrong = requests.get(f"{base}/calendar.ics", params={"token": "wrong"}, timeout=30)
        finally:
            stop_process(web)
    output = log.read_text()
    assert (feed.status_code, wrong.status_code) == (200, 404)
    assert '"GET /calendar.ics HTTP/1.1" 200' in output
    assert '"GET /calendar.ics HTTP/1.1" 404' in output
    assert token not in output
    unsigned_warning = "JIRA_WEBHOOK_SECRET unset: accepting unsigned webhooks" in output
    assert unsigned_warning == ("CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS" in extra)


def answers(url, process, log):
    if process.poll() is not None:
        raise RuntimeError(f"changeguard web exited early:\n{log.read_text()}")
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:  # refused, reset or slow while gunicorn boots: not yet
        return False
