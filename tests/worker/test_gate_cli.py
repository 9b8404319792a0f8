"""`changeguard gate`, run as a pipeline runs it, against the served gate and a played worker."""

import io
import os
import re
import subprocess
import sys

import pytest
from rq import Queue
from rq.job import Job

from sandbox.serving import ServingThread
from webhooks.gate_api import BAD_TOKEN
from worker import gate_cli
from worker.gate_cli import REF_VARIABLES, SHA_VARIABLES, format_duration, parse_duration
from worker.settings import Settings, hash_gate_token

from ..builders import ROOT, free_port
from ..webhooks.gate_player import TOKEN, PlayWorker, answer, gate_app

REFUSED = "; no decision, so the deploy must not go ahead"
ALLOWED = "CHG-123 is Approved and inside its window (10:00–11:00 UTC)."
WAITING = "CHG-123 waits for CAB approval; next CAB Tue 15:00 Europe/London."
DENIED = "CHG-123 is Draft: submit it for approval first."


def run_gate(*args, url=None, token=TOKEN, env=None):
    """Run `changeguard ARGS…` as a pipeline step: a clean environment, the URL and token."""
    clean = {name: value for name, value in os.environ.items()
             if not name.startswith(("JIRA_", "CHANGEGUARD_", "SLACK_", "REDIS_"))
             and name not in SHA_VARIABLES + REF_VARIABLES}
    if url is not None:
        clean["CHANGEGUARD_URL"] = url
    if token is not None:
        clean["CHANGEGUARD_GATE_TOKEN"] = token
    clean.update(env or {})
    return subprocess.run([sys.executable, "-m", "worker", *args], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def serve(redis_url, namespace):
    """Return a function serving the web app with the gate over HTTP; stop them all after."""
    servers = []

    def start(**options):
        servers.append(ServingThread(gate_app(redis_url, namespace, **options), name="gate-web"))
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def url(serve):
    return serve()


def requests_of(worker):
    return [job.kwargs["request"] for job in worker.jobs]


@pytest.mark.parametrize(("pushed", "status", "stdout"), [
    (answer("allow", ALLOWED), 0, f"changeguard: allow: {ALLOWED}\n"),
    (answer("deny", DENIED), 1, f"changeguard: deny: {DENIED}\n"),
    (answer("wait", WAITING, retry_after=60), 2, f"changeguard: wait: {WAITING}\n"),
    (answer("allow", "CHG-123 is\nApproved."), 0, "changeguard: allow: CHG-123 is Approved.\n"),
], ids=["allow", "deny", "wait-asked-once", "reason-on-one-line"])
def test_the_decision_is_the_exit_status_and_one_line(url, redis_url, namespace, pushed, status,
                                                      stdout):
    with PlayWorker(redis_url, namespace, [pushed]) as worker:
        result = run_gate("gate", "--change", "CHG-123", "--env", "production", "--sha", "4f2a",
                          url=url)

    assert (result.returncode, result.stdout, result.stderr) == (status, stdout, "")
    assert len(worker.jobs) == 1


def test_the_flags_and_the_ci_variables_make_the_request(url, redis_url, namespace):
    with PlayWorker(redis_url, namespace, [answer("allow", ALLOWED)]) as worker:
        result = run_gate(
            "gate", "--env", "production", "--template", "Dependency patch bump",
            "--text", "CHG-123: bump the TLS library", "--text", "release/chg-123",
            "--run-url", "https://ci.example.com/job/shop/42/", "--triggered-by", "alice",
            "--triggered-by-email", "alice@example.com", f"--url={url}/",
            env={"GIT_COMMIT": "4f2a9c1e", "CI_COMMIT_SHA": "not-the-first",
                 "GITHUB_REF_NAME": "main"})

    [request] = requests_of(worker)
    assert result.returncode == 0, result.stderr
    assert {name: request[name] for name in (
        "deployment_id", "environment", "explicit_key", "texts", "sha", "ref", "run_url",
        "triggered_by", "triggered_by_email", "template")} == {
        "deployment_id": "generic:jenkins:https://ci.example.com/job/shop/42/:production",
        "environment": "production", "explicit_key": None,
        "texts": ["CHG-123: bump the TLS library", "release/chg-123"], "sha": "4f2a9c1e",
        "ref": "main", "run_url": "https://ci.example.com/job/shop/42/", "triggered_by": "alice",
        "triggered_by_email": "alice@example.com", "template": "Dependency patch bump"}


def test_waiting_keeps_asking_until_allowed(url, redis_url, namespace):
    answers = [answer("wait", WAITING, retry_after=1), answer("wait", WAITING, retry_after=1),
               answer("allow", ALLOWED)]
    with PlayWorker(redis_url, namespace, answers) as worker:
        result = run_gate("gate", "--change", "CHG-123", "--env", "production", "--sha", "4f2a",
                          "--wait", "1m", url=url)

    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"changeguard: wait: {WAITING}\nchangeguard: allow: {ALLOWED}\n", "")
    assert [r["deployment_id"] for r in requests_of(worker)] == [
        "generic:jenkins:4f2a:production"] * 3


def test_waiting_then_denied_exits_1_and_shows_each_new_reason(url, redis_url, namespace):
    window = "CHG-123 waits for its window: it opens at 10:00 UTC."
    answers = [answer("wait", WAITING, retry_after=1), answer("wait", window, retry_after=1),
               answer("deny", "CHG-123 was rejected by the CAB.")]
    with PlayWorker(redis_url, namespace, answers):
        result = run_gate("gate", "--change", "CHG-123", "--env", "production", "--sha", "4f2a",
                          "--wait", "30s", url=url)

    assert (result.returncode, result.stdout.splitlines()) == (1, [
        f"changeguard: wait: {WAITING}",
        f"changeguard: wait: {window}",
        "changeguard: deny: CHG-123 was rejected by the CAB."])


def test_waiting_past_the_wait_exits_2_saying_how_long(url, redis_url, namespace):
    with PlayWorker(redis_url, namespace, [answer("wait", WAITING, retry_after=1)] * 10):
        result = run_gate("gate", "--change", "CHG-123", "--env", "production", "--sha", "4f2a",
                          "--wait", "2s", url=url)

    lines = result.stdout.splitlines()
    assert (result.returncode, result.stderr, lines[0]) == (2, "", f"changeguard: wait: {WAITING}")
    assert re.fullmatch(re.escape(f"changeguard: wait: {WAITING} (gave up after ") + r"[23]s\)",
                        lines[1]), lines
    assert len(lines) == 2


def test_a_late_worker_is_asked_again_after_retry_after(serve, redis_url, namespace):
    url = serve(wait=0.3)
    with PlayWorker(redis_url, namespace, [None, answer("allow", ALLOWED)]) as worker:
        result = run_gate("gate", "--change", "CHG-123", "--env", "production", "--sha", "4f2a",
                          "--wait", "1m", url=url)

    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"changeguard: allow: {ALLOWED}\n",
        f"changeguard: {url}/api/gate answered 503: changeguard's worker did not answer in "
        "0.3 s; ask again; asking again in 5 s\n")
    assert len(worker.jobs) == 2


def test_a_late_worker_asked_once_is_no_decision(serve, redis_url, namespace):
    url = serve(wait=0.3)
    with PlayWorker(redis_url, namespace, [None]):
        result = run_gate("gate", "--change", "CHG-123", "--env", "production", "--sha", "4f2a",
                          url=url)

    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", f"changeguard: {url}/api/gate answered 503: changeguard's worker did not answer "
               f"in 0.3 s; ask again{REFUSED}\n")


def test_a_wrong_token_is_no_decision(url, queue_of):
    result = run_gate("gate", "--change", "CHG-123", "--env", "production", "--sha", "4f2a",
                      url=url, token="not-this-pipelines-token")

    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", f"changeguard: {url}/api/gate answered 401: {BAD_TOKEN}{REFUSED}\n")
    assert queue_of.job_ids == []


def test_an_answer_that_is_no_decision_is_no_decision(url, redis_url, namespace):
    with PlayWorker(redis_url, namespace, [answer("maybe", "Perhaps.")]):
        result = run_gate("gate", "--change", "CHG-123", "--env", "production", "--sha", "4f2a",
                          url=url)

    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", f"changeguard: {url}/api/gate answered without a decision: "
               "'{\"decision\": \"maybe\", \"reason\": \"Perhaps.\", \"change\": \"CHG-123\", "
               f"\"retry_after\": null}}'{REFUSED}\n")


def test_a_url_that_is_not_changeguard_is_no_decision(url):
    result = run_gate("gate", "--change", "CHG-123", "--env", "production", "--sha", "4f2a",
                      url=f"{url}/not-here")

    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", f"changeguard: {url}/not-here/api/gate answered 404: NOT FOUND{REFUSED}\n")


def test_a_refused_body_is_no_decision_naming_the_field(url):
    result = run_gate("gate", "--change", "CHG-123", "--env", "production", url=url)

    assert (result.returncode, result.stderr) == (
        1, f"changeguard: {url}/api/gate answered 400: name the deployment: give deployment_id, "
           "run_url, or sha and environment (the same ones on /api/gate and /api/gate/finished)"
           f"{REFUSED}\n")


@pytest.mark.parametrize(("args", "env_url", "token", "stderr"), [
    (["--wait", "5x"], "http://127.0.0.1:9", TOKEN,
     "changeguard: --wait '5x' is not a duration: use e.g. 90s, 30m, 2h or 1h30m"),
    (["--wait", "1h30"], "http://127.0.0.1:9", TOKEN,
     "changeguard: --wait '1h30' is not a duration: use e.g. 90s, 30m, 2h or 1h30m"),
    ([], "http://127.0.0.1:9", None,
     "changeguard: CHANGEGUARD_GATE_TOKEN is not set: give this pipeline's gate token in that "
     "variable, as a masked secret (`changeguard gate-token NAME` makes one)"),
    ([], None, TOKEN,
     "changeguard: no changeguard URL: pass --url or set CHANGEGUARD_URL, e.g. "
     "https://changeguard.example.com"),
    ([], "changeguard.example.com", TOKEN,
     "changeguard: 'changeguard.example.com' is not an http(s) URL: give changeguard's address, "
     "e.g. https://changeguard.example.com"),
    (["--not-last"], "http://127.0.0.1:9", TOKEN, "changeguard: --not-last goes with --finished"),
], ids=["bad-duration", "minutes-without-unit", "no-token", "no-url", "url-without-scheme",
        "not-last-when-asking"])
def test_a_command_line_that_cannot_ask_is_no_decision(args, env_url, token, stderr):
    environ = {"CHANGEGUARD_URL": env_url, "CHANGEGUARD_GATE_TOKEN": token}
    out, err = io.StringIO(), io.StringIO()

    status = gate_cli.main(["--change", "CHG-123", "--env", "production", "--sha", "4f2a", *args],
                           {name: value for name, value in environ.items() if value is not None},
                           out=out, err=err)

    assert (status, out.getvalue(), err.getvalue()) == (1, "", stderr + REFUSED + "\n")


def test_asking_without_an_environment_is_no_decision():
    result = run_gate("gate", "--change", "CHG-123", url="http://127.0.0.1:9")

    assert (result.returncode, result.stderr) == (
        1, "changeguard: --env is required: the environment deployed to, e.g. production"
           f"{REFUSED}\n")


@pytest.mark.parametrize(("args", "error"), [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--finished", "done"], "argument --finished: invalid choice: 'done' (choose from "
                             "'success', 'failure', 'rolled_back')"),
], ids=["unknown-flag", "unknown-outcome"])
def test_a_usage_error_exits_1_not_2(args, error):
    result = run_gate("gate", "--env", "production", *args, url="http://127.0.0.1:9")

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines()[-1] == f"changeguard gate: error: {error}"


def test_an_unreachable_changeguard_is_no_decision():
    url = f"http://127.0.0.1:{free_port()}"

    result = run_gate("gate", "--change", "CHG-123", "--env", "production", "--sha", "4f2a",
                      url=url)

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"changeguard: cannot reach {url}/api/gate: "), result.stderr
    assert result.stderr.endswith(f"{REFUSED}\n")
    assert result.stderr.count("\n") == 1


@pytest.fixture
def queue_of(conn, namespace):
    return Queue(namespace, connection=conn)


@pytest.mark.parametrize(("args", "stdout", "finish"), [
    (["--finished", "success", "--sha", "4f2a", "--env", "production"],
     "changeguard: recorded: success\n",
     {"run_id": "generic:jenkins:4f2a:production", "result": "success", "is_last": True,
      "run_url": "", "explicit_key": None, "environment": "production"}),
    (["--finished", "failure", "--not-last", "--deployment-id", "42", "--change", "CHG-123",
      "--run-url", "https://ci.example.com/42"],
     "changeguard: recorded: failure; more deployments follow\n",
     {"run_id": "generic:jenkins:42", "result": "failure", "is_last": False,
      "run_url": "https://ci.example.com/42", "explicit_key": "CHG-123", "environment": ""}),
    (["--finished", "rolled_back", "--run-url", "https://ci.example.com/42"],
     "changeguard: recorded: rolled_back\n",
     {"run_id": "generic:jenkins:https://ci.example.com/42", "result": "rolled_back",
      "is_last": True, "run_url": "https://ci.example.com/42", "explicit_key": None,
      "environment": ""}),
], ids=["success", "failure-not-last", "rolled-back"])
def test_finished_records_how_the_deployment_ended(url, queue_of, args, stdout, finish):
    result = run_gate("gate", *args, url=url)

    [job_id] = queue_of.job_ids
    recorded = dict(Job.fetch(job_id, connection=queue_of.connection).kwargs["finish"])
    del recorded["finished_at"]
    assert (result.returncode, result.stdout, result.stderr) == (0, stdout, "")
    assert recorded == {"vendor": "generic", **finish}


def test_finished_names_the_same_run_as_the_ask(url, redis_url, namespace, queue_of):
    ci = {"GIT_COMMIT": "4f2a9c1e"}
    with PlayWorker(redis_url, namespace, [answer("allow", ALLOWED)]) as worker:
        asked = run_gate("gate", "--change", "CHG-123", "--env", "production", url=url, env=ci)
    finished = run_gate("gate", "--finished", "success", "--env", "production", url=url, env=ci)

    [request] = requests_of(worker)
    [finish_id] = [job_id for job_id in queue_of.job_ids if "-finish-" in job_id]
    finish = Job.fetch(finish_id, connection=queue_of.connection).kwargs["finish"]
    assert (asked.returncode, finished.returncode) == (0, 0)
    assert finish["run_id"] == request["deployment_id"] == "generic:jenkins:4f2a9c1e:production"


def test_finished_that_cannot_be_recorded_says_so(url):
    result = run_gate("gate", "--finished", "success", url=url)

    assert (result.returncode, result.stderr) == (
        1, f"changeguard: {url}/api/gate/finished answered 400: name the deployment: give "
           "deployment_id, run_url, or sha and environment (the same ones on /api/gate and "
           "/api/gate/finished); the outcome is not recorded\n")


def test_gate_token_prints_a_token_that_opens_the_gate(redis_url, namespace):
    made = run_gate("gate-token", "jenkins", token=None)
    token = re.search(r"^   CHANGEGUARD_GATE_TOKEN=(\S+)$", made.stdout, re.M).group(1)
    entry = re.search(r"^   (jenkins:[0-9a-f]{64})$", made.stdout, re.M).group(1)
    settings = Settings.from_env({"JIRA_BASE_URL": "https://example.atlassian.net",
                                  "JIRA_EMAIL": "cg@example.com", "JIRA_API_TOKEN": "t",
                                  "CHANGEGUARD_GATE_TOKENS": entry})
    server = ServingThread(gate_app(redis_url, namespace, gate_tokens=settings.gate_tokens),
                           name="gate-web")
    try:
        with PlayWorker(redis_url, namespace, [answer("allow", ALLOWED)]):
            asked = run_gate("gate", "--change", "CHG-123", "--env", "production", "--sha", "4f",
                             url=server.url, token=token)
    finally:
        server.stop()

    assert made.returncode == 0
    assert made.stdout == (
        "A new gate token for the pipeline 'jenkins'.\n\n"
        "1. In the pipeline, as a masked secret variable (never on a command line):\n"
        f"   CHANGEGUARD_GATE_TOKEN={token}\n"
        "2. On changeguard's web process, added to CHANGEGUARD_GATE_TOKENS (entries separated by "
        "commas), then restart it:\n"
        f"   {entry}\n\n"
        "changeguard keeps only the SHA-256: the token is shown this once.\n")
    assert settings.gate_tokens == (("jenkins", hash_gate_token(token)),)
    assert len(token) >= 43
    assert (asked.returncode, asked.stdout) == (0, f"changeguard: allow: {ALLOWED}\n")


def test_gate_token_refuses_a_name_the_settings_would_refuse():
    result = run_gate("gate-token", "my pipeline", token=None)

    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", "changeguard: gate-token 'my pipeline': name the pipeline with letters, digits, "
               "'.', '_' and '-' only (it names the pipeline in CHANGEGUARD_GATE_TOKENS)\n")


def test_gate_help_is_its_own():
    result = run_gate("gate", "--help", token=None)

    assert result.returncode == 0
    assert result.stdout.startswith("usage: changeguard gate [-h] [--change CHANGE] ")
    assert "$CHANGEGUARD_GATE_TOKEN only" in " ".join(result.stdout.split())


def test_the_gate_command_loads_no_server_parts():
    probe = ("import sys, worker.gate_cli; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'werkzeug', "
             "'redis', 'rq', 'atlassian', 'githubkit', 'gitlab', 'slack_sdk', 'jobs', "
             "'webhooks'}))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)

    assert (result.returncode, result.stdout) == (0, "[]\n")


@pytest.mark.parametrize(("text", "seconds"), [
    ("0", 0), ("45", 45), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400),
    ("1h0m5s", 3605), (" 5m ", 300),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (2.4, "2s"), (59.6, "1m"), (3605, "1h5s"), (5400, "1h30m"), (3725, "1h2m5s"),
])
def test_durations_written(seconds, text):
    assert format_duration(seconds) == text
