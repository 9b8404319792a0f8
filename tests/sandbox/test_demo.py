"""The README's run command: `changeguard demo` on embedded defaults shows the gate working."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_walkthrough_shows_the_blocked_and_the_accepted_move():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # embedded Redis
    # Its own process group: if it hangs, kill it with everything it started (gunicorn, the
    # worker, Redis), which its own clean-up could not do after a SIGKILL.
    demo = subprocess.Popen([sys.executable, "-m", "worker", "demo", "--once"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = demo.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        stdout, stderr = demo.communicate()
    assert demo.returncode == 0, stdout + stderr
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
