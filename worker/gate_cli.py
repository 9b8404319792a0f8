"""Ask changeguard's generic deployment gate from any pipeline, in one line: `changeguard gate`."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TextIO, TypeVar

import requests

from rules.deployment import DeployResult

from .settings import hash_gate_token

# Runs in pipelines: keep to requests and the standard library (no Flask, Redis, RQ, Jira).

EXIT_ALLOW = 0
EXIT_NO = 1  # denied, or no decision (fail closed)
EXIT_TIMED_OUT = 2
POLL_SECONDS = 5  # the longest pause between two asks, so a release is seen within seconds
MIN_PAUSE_SECONDS = 1
TIMEOUT = (5, 30)  # connect, read: the gate holds a request up to 8 s for the worker's decision
URL_VARIABLE = "CHANGEGUARD_URL"
TOKEN_VARIABLE = "CHANGEGUARD_GATE_TOKEN"
# Where common CI systems give the commit and the branch (Jenkins, GitLab, GitHub, Bitbucket,
# CircleCI, Azure Pipelines): the defaults of --sha and --ref.
SHA_VARIABLES = ("GIT_COMMIT", "CI_COMMIT_SHA", "GITHUB_SHA", "BITBUCKET_COMMIT", "CIRCLE_SHA1",
                 "BUILD_SOURCEVERSION")
REF_VARIABLES = ("GIT_BRANCH", "CI_COMMIT_REF_NAME", "GITHUB_REF_NAME", "BITBUCKET_BRANCH",
                 "CIRCLE_BRANCH", "BUILD_SOURCEBRANCHNAME")
DECISIONS = ("allow", "wait", "deny")
DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
PIPELINE_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # as CHANGEGUARD_GATE_TOKENS accepts it

NOT_ALLOWED = "no decision, so the deploy must not go ahead"
NOT_RECORDED = "the outcome is not recorded"

T = TypeVar("T")


class NoDecision(Exception):
    """The gate could not be asked, or refused the question; ``retry_after`` is set (seconds)
    when asking again may help."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


@dataclasses.dataclass(frozen=True)
class Answer:
    """The gate's decision about one deployment."""

    decision: str
    reason: str
    change: str | None
    retry_after: int | None


class _GateParser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1 (no decision): 2 means "timed out waiting"."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_NO, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of `changeguard gate`."""
    parser = _GateParser(
        prog="changeguard gate",
        description="Ask changeguard whether this deployment may go ahead, and say why. Exit 0: "
                    "allowed; 1: denied, or no decision; 2: still waiting (for an approval or "
                    f"the change's window) when --wait ran out. The token comes from "
                    f"${TOKEN_VARIABLE} only (a masked CI secret), never from a flag.")
    parser.add_argument("--change", help="the change request's key, e.g. CHG-123 (default: a key "
                                         "in a --text)")
    parser.add_argument("--env", dest="environment",
                        help="the environment deployed to, e.g. production (required to ask)")
    parser.add_argument("--wait", default="0",
                        help="while the answer is wait, keep asking this long: 90s, 30m, 2h, "
                             "1h30m (default: ask once)")
    parser.add_argument("--url", help=f"changeguard's address (default: ${URL_VARIABLE})")
    parser.add_argument("--sha", help="the commit deployed (default: $" + ", $".join(SHA_VARIABLES)
                                      + ", the first one set)")
    parser.add_argument("--ref", help="the branch or tag deployed (default: $"
                                      + ", $".join(REF_VARIABLES) + ", the first one set)")
    parser.add_argument("--run-url", help="the link to this pipeline run, kept on the change")
    parser.add_argument("--deployment-id",
                        help="names this deployment in every ask and in --finished (default: "
                             "--run-url, else --sha with --env)")
    parser.add_argument("--template", help="a Standard template of the policy's catalog: with no "
                                           "change named, changeguard creates one from it")
    parser.add_argument("--text", action="append", default=[], dest="texts",
                        help="where a change key may stand: a pull request title, the commit "
                             "message (repeatable)")
    parser.add_argument("--triggered-by", help="who started the deployment")
    parser.add_argument("--triggered-by-email", help="their email, to find their Jira account")
    parser.add_argument("--finished", choices=[result.value for result in DeployResult],
                        help="report how the deployment ended, instead of asking")
    parser.add_argument("--not-last", action="store_true",
                        help="with --finished: more deployments of this change follow, so it "
                             "stays Implementing")
    return parser


def main(argv: Sequence[str], environ: Mapping[str, str] | None = None, *,
         out: TextIO | None = None, err: TextIO | None = None,
         sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic) -> int:
    """Run `changeguard gate ARGV`: ask (or report the end of) one deployment; return the exit
    status."""
    env = os.environ if environ is None else environ
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    consequence = NOT_RECORDED if args.finished else NOT_ALLOWED
    try:
        wait = parse_duration(args.wait)
        if args.not_last and not args.finished:
            raise NoDecision("--not-last goes with --finished")
        if not args.finished and not args.environment:
            raise NoDecision("--env is required: the environment deployed to, e.g. production")
        base_url = _base_url(args.url or env.get(URL_VARIABLE, ""))
        token = env.get(TOKEN_VARIABLE, "").strip()
        if not token:
            raise NoDecision(f"{TOKEN_VARIABLE} is not set: give this pipeline's gate token in "
                             "that variable, as a masked secret (`changeguard gate-token NAME` "
                             "makes one)")
        with requests.Session() as session:
            post = _poster(session, base_url, token)
            if args.finished:
                body = _finish_body(args, env)
                _retrying(lambda: _record(post, body), clock() + wait, err, sleep, clock)
                more = "; more deployments follow" if args.not_last else ""
                _say(f"changeguard: recorded: {args.finished}{more}", out)
                return EXIT_ALLOW
            return _ask(post, _ask_body(args, env), wait, out, err, sleep, clock)
    except NoDecision as exc:
        _say(f"changeguard: {exc}; {consequence}", err)
        return EXIT_NO


def parse_duration(text: str) -> float:
    """Return the seconds of a duration such as 90s, 30m, 2h or 1h30m (a bare number: seconds)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    match = DURATION.fullmatch(text)
    if not text or match is None:
        raise NoDecision(f"--wait {text!r} is not a duration: use e.g. 90s, 30m, 2h or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as the CLI writes durations, e.g. 1h30m, 5m2s, 0s."""
    left = round(seconds)
    parts = []
    for unit, size in (("h", 3600), ("m", 60)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    if left or not parts:
        parts.append(f"{left}s")
    return "".join(parts)


def print_gate_token(name: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print a new token for the pipeline ``name`` and its CHANGEGUARD_GATE_TOKENS entry."""
    out = out or sys.stdout
    if not PIPELINE_NAME.fullmatch(name):
        _say(f"changeguard: gate-token {name!r}: name the pipeline with letters, digits, '.', "
             "'_' and '-' only (it names the pipeline in CHANGEGUARD_GATE_TOKENS)",
             err or sys.stderr)
        return 2
    token = secrets.token_urlsafe(32)
    _say("\n".join([
        f"A new gate token for the pipeline {name!r}.",
        "",
        "1. In the pipeline, as a masked secret variable (never on a command line):",
        f"   {TOKEN_VARIABLE}={token}",
        "2. On changeguard's web process, added to CHANGEGUARD_GATE_TOKENS (entries separated by "
        "commas), then restart it:",
        f"   {name}:{hash_gate_token(token)}",
        "",
        "changeguard keeps only the SHA-256: the token is shown this once.",
    ]), out)
    return 0


def _ask(post: Callable[[str, dict[str, Any]], requests.Response], body: dict[str, Any],
         wait: float, out: TextIO, err: TextIO, sleep: Callable[[float], None],
         clock: Callable[[], float]) -> int:
    started = clock()
    deadline = started + wait
    shown = None
    while True:
        answer = _retrying(lambda: _decision(post, body), deadline, err, sleep, clock)
        if answer.decision != "wait":
            _say(f"changeguard: {answer.decision}: {answer.reason}", out)
            return EXIT_ALLOW if answer.decision == "allow" else EXIT_NO
        if answer.reason != shown:
            _say(f"changeguard: wait: {answer.reason}", out)
            shown = answer.reason
        pause = _pause(answer.retry_after or POLL_SECONDS, deadline, clock)
        if pause is None:
            if wait:
                _say(f"changeguard: wait: {answer.reason} (gave up after "
                     f"{format_duration(clock() - started)})", out)
            return EXIT_TIMED_OUT
        sleep(pause)


def _retrying(call: Callable[[], T], deadline: float, err: TextIO,
              sleep: Callable[[float], None], clock: Callable[[], float]) -> T:
    """Return ``call()``, asking again while the gate says so and the wait allows."""
    while True:
        try:
            return call()
        except NoDecision as exc:
            pause = _pause(exc.retry_after, deadline, clock)
            if pause is None:
                raise
            _say(f"changeguard: {exc}; asking again in {math.ceil(pause)} s", err)
            sleep(pause)


def _pause(wanted: float | None, deadline: float, clock: Callable[[], float]) -> float | None:
    """Return how long to pause before asking again, or None when there is no asking again."""
    left = deadline - clock()
    if wanted is None or left <= 0:
        return None
    return min(max(wanted, MIN_PAUSE_SECONDS), POLL_SECONDS, left)


def _poster(session: requests.Session, base_url: str,
            token: str) -> Callable[[str, dict[str, Any]], requests.Response]:
    def post(path: str, body: dict[str, Any]) -> requests.Response:
        url = base_url + path
        try:
            return session.post(url, json=body, timeout=TIMEOUT,
                                headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException as exc:
            raise NoDecision(f"cannot reach {url}: {exc}", retry_after=POLL_SECONDS) from None

    return post


def _decision(post: Callable[[str, dict[str, Any]], requests.Response],
              body: dict[str, Any]) -> Answer:
    response = post("/api/gate", body)
    if response.status_code != 200:
        raise _refusal(response)
    try:
        value = response.json()
        answer = Answer(decision=value["decision"], reason=" ".join(value["reason"].split()),
                        change=value.get("change"), retry_after=value.get("retry_after"))
    except (ValueError, KeyError, TypeError, AttributeError):
        answer = None
    if answer is None or answer.decision not in DECISIONS:
        raise NoDecision(f"{response.url} answered without a decision: {response.text[:200]!r}")
    return answer


def _record(post: Callable[[str, dict[str, Any]], requests.Response],
            body: dict[str, Any]) -> None:
    response = post("/api/gate/finished", body)
    if response.status_code != 202:
        raise _refusal(response)


def _refusal(response: requests.Response) -> NoDecision:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        error = response.reason
    why = f"{response.url} answered {response.status_code}: {error}"
    if response.status_code not in {429, 502, 503, 504}:
        return NoDecision(why)
    retry_after = response.headers.get("Retry-After", "")
    return NoDecision(why, int(retry_after) if retry_after.isdigit() else POLL_SECONDS)


def _base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url:
        raise NoDecision(f"no changeguard URL: pass --url or set {URL_VARIABLE}, e.g. "
                         "https://changeguard.example.com")
    if not url.startswith(("http://", "https://")):
        raise NoDecision(f"{url!r} is not an http(s) URL: give changeguard's address, e.g. "
                         "https://changeguard.example.com")
    return url


def _ask_body(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    return _present({
        "environment": args.environment,
        "change": args.change,
        "sha": args.sha or _first(env, SHA_VARIABLES),
        "ref": args.ref or _first(env, REF_VARIABLES),
        "run_url": args.run_url,
        "deployment_id": args.deployment_id,
        "template": args.template,
        "texts": args.texts,
        "triggered_by": args.triggered_by,
        "triggered_by_email": args.triggered_by_email,
    })


def _finish_body(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    return _present({
        "outcome": args.finished,
        "last": not args.not_last,
        "deployment_id": args.deployment_id,
        "run_url": args.run_url,
        "sha": args.sha or _first(env, SHA_VARIABLES),
        "environment": args.environment,
        "change": args.change,
    })


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value not in (None, "", [])}


def _first(env: Mapping[str, str], names: Sequence[str]) -> str | None:
    return next((env[name].strip() for name in names if env.get(name, "").strip()), None)


def _say(text: str, stream: TextIO) -> None:
    print(text, file=stream, flush=True)  # a CI log shows each line as it comes
