"""The README's run command: `changeguard demo` on embedded defaults shows the gate working."""

import os
import re
import signal
import subprocess
import threading
import socket
import sys
from pathlib import Path

import pytest

from sandbox.demo import _wait_for_health

ROOT = Path(__file__).resolve().parents[2]
# The demo's own waits are generous for a slow machine (sandbox/demo.py); this only stops a hang.
DEMO_DEADLINE_SECONDS = 540


def run_demo(env: dict[str, str]) -> tuple[int, str, str]:
    """Run `changeguard demo --once` from the repository; return its exit code, stdout, stderr."""
    # Its own process group: if it hangs, kill it with everything it started (gunicorn, the
    # worker, Redis), which its own clean-up could not do after a SIGKILL.
    demo = subprocess.Popen([sys.executable, "-m", "worker", "demo", "--once"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = demo.communicate(timeout=DEMO_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        stdout, stderr = demo.communicate()
    return demo.returncode, stdout, stderr


@pytest.mark.e2e  # the whole demo: gunicorn, an RQ worker and a Redis as child processes
@pytest.mark.timeout(DEMO_DEADLINE_SECONDS + 60)
def test_demo_walkthrough_shows_the_jira_and_the_deployment_gates():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # embedded Redis
    returncode, stdout, stderr = run_demo(env)
    assert returncode == 0, stdout + stderr
    assert stderr == ""
    lines = [line.strip() for line in stdout.splitlines()]
    assert "(embedded)" in stdout
    assert "| Moved back to Draft: 2 things missing" in lines
    assert "|   • Deployment Plan is empty: list the steps that deploy the change." in lines
    assert any(line.startswith("changeguard moved CHG-2 back to Draft (") for line in lines)
    assert any(line.startswith("CHG-3 stands in Awaiting Approval: the gate passed, no comment")
               for line in lines)
    assert "carol (CAB) moves CHG-3 to Approved: it stands in Approved" in lines
    assert ("[slack #deployments] :rocket: Deploying CHG-3 — Rotate edge TLS certificates"
            in lines)
    assert ("[slack #deployments] (in the thread) :white_check_mark: CHG-3 implemented by "
            "Alice Adams" in lines)
    assert any(line.startswith("| CAB agenda for ") for line in lines)
    # The workers' own ticker may have posted it already (within 24 h of a meeting).
    assert any(re.fullmatch(r"\| (posted|updated) comment \d+ on CHG-1", line) for line in lines)
    assert scene(lines, "5. ") == GATED_SCENE, stdout


def scene(lines: list[str], heading: str) -> list[str]:
    """Return the lines of the scene under ``heading``, with what varies by run written as ◇."""
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = lines.index("", start)
    return [VARYING.sub("◇", line) for line in lines[start:end]]


# The window (one day or two), a time, a date, a run id, a duration, a commit and a sandbox's
# port vary by run.
VARYING = re.compile(r"(?<=Window: ).+(?= Europe/London)|\d\d:\d\d|"
                     r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d? \w{3}( \d{4})?|"
                     r"(?<=run )\d+|(?<=runs/)\d+|\d+(?= ms)|(?<=Commit: )[0-9a-f]{12}|"
                     r"(?<=127\.0\.0\.1:)\d+")
GATED_SCENE = [
    "5. A GitHub deployment waits at the gate for the CAB",
    "alice creates CHG-4 “Offer Apple Pay at checkout”, planned ◇–◇ UTC (open now)",
    "alice moves CHG-4 to Awaiting Approval: it stands in Awaiting Approval",
    "bob merges pull request #42 “CHG-4: offer Apple Pay at checkout” on acme/shop",
    "its Deploy run ◇ reaches production, an environment changeguard protects:",
    "GitHub holds the job and asks changeguard (a signed deployment_protection_rule webhook)",
    "CHG-4 is not approved yet, so changeguard answers with a status report, which GitHub shows:",
    "| CHG-4 is not approved yet: waiting for a CAB member or the Head of Engineering to "
    "approve it, next CAB meeting ◇ ◇ (Europe/London).",
    "carol (CAB) moves CHG-4 to Approved in Jira",
    "GitHub deployment released ◇ ms after the approval (by the approval's Jira webhook, "
    "no polling):",
    "| approved: CHG-4 is Approved with its approvals standing and its change window open "
    "until ◇ ◇ (Europe/London): deploying to production is allowed.",
    "the deployment is CHG-4's implementation: changeguard moved it to Implementing",
    "[slack #deployments] :rocket: Deploying CHG-4 — Offer Apple Pay at checkout",
    "Change Category: Normal",
    "Risk Level: Low",
    "Implementer: bob",
    "Window: ◇ Europe/London",
    "Environment: production",
    "Commit: ◇",
    "Run: https://github.com/acme/shop/actions/runs/◇",
    "http://127.0.0.1:◇/browse/CHG-4",
    "the run succeeds: GitHub sends a signed workflow_run webhook (completed, success)",
    "changeguard moved CHG-4 to Implemented with Outcome Successful",
    "[slack #deployments] (in the thread) :white_check_mark: CHG-4 implemented by bob",
    "Outcome: :white_check_mark: Successful",
    "http://127.0.0.1:◇/browse/CHG-4",
    "remote link on CHG-4: Deployment to production: succeeded → "
    "https://github.com/acme/shop/actions/runs/◇",
]


def test_demo_failure_is_one_line_naming_what_failed():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    returncode, stdout, stderr = run_demo(env)
    assert (returncode, stdout) == (1, "")
    assert stderr.startswith("changeguard demo: Redis at REDIS_URL does not answer (")
    assert stderr.endswith("; unset REDIS_URL to use an embedded one\n")
    assert stderr.count("\n") == 1


class SlowToBoot:
    """A TCP server that accepts at once but answers /healthz only from its third request on:
    the first stays silent (a read timeout), the second is cut off (a connection error)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        held = []
        while self.requests < 3:
            conn, _ = self.sock.accept()
            conn.recv(65536)
            self.requests += 1
            if self.requests == 1:
                held.append(conn)  # never answered
            elif self.requests == 2:
                conn.close()
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                conn.close()
        for conn in held:
            conn.close()
        self.sock.close()


def test_demo_waits_through_read_timeouts_and_dropped_connections():
    server = SlowToBoot()
    _wait_for_health(server.url, [], attempt_seconds=0.3)
    server.thread.join(timeout=5)
    assert server.requests == 3
