"""The `changeguard` command: run the worker, the web endpoint, or the self-contained demo."""

from __future__ import annotations

import argparse
import os
import sys

from rules.policy import PolicyError

from .jira_client import JiraAuthError
from .settings import Settings, SettingsError
from .site_resolver import SiteMismatch


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; exit 2 on configuration errors."""
    parser = argparse.ArgumentParser(prog="changeguard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="process jobs from Redis (with RQ's scheduler)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    web = commands.add_parser("web", help="serve the webhook endpoint under gunicorn")
    web.add_argument("--bind", default=os.environ.get("CHANGEGUARD_BIND", "127.0.0.1:8000"))
    web.add_argument("--workers", type=int, default=2)
    demo = commands.add_parser(
        "demo", help="start sandbox Jira, Redis, web and worker, and walk through the policy"
    )
    demo.add_argument("--once", action="store_true", help="exit after the walkthrough")
    args = parser.parse_args(argv)

    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(serve=not args.once)
        settings = Settings.from_env()
        if args.command == "worker":
            from .main import run_worker

            run_worker(settings, burst=args.burst)
            return 0
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--chdir", root, "--bind", args.bind,
                                   "--workers", str(args.workers), "wsgi:app"])
    except JiraAuthError as exc:
        print(f"changeguard: Jira refused JIRA_EMAIL/JIRA_API_TOKEN ({exc})", file=sys.stderr)
        return 2
    except (SettingsError, PolicyError, SiteMismatch) as exc:
        print(f"changeguard: {exc}", file=sys.stderr)
        return 2
    return 0  # pragma: no cover - execvp does not return


if __name__ == "__main__":
    sys.exit(main())
