"""Build, once per process, what jobs need: settings, policy, site ids, Jira client, Redis."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from rules.freeze import FreezeRule
from rules.policy import Policy
from rules.site_map import SiteMap

from .freeze_rules import freeze_rules
from .github_client import github_client_for
from .gitlab_client import gitlab_client_for
from .jira_client import JiraClient
from .metrics import jira_call_counter
from .policy_file import load_policy
from .settings import Settings, SettingsError
from .site_resolver import resolve_site
from .slack_client import slack_client_for

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Runtime:
    """The clients and resolved configuration a job runs with."""

    settings: Settings
    policy: Policy
    site: SiteMap
    jira: JiraClient
    redis: redis.Redis
    slack: Any = None  # SlackClient, or UnsentSlack (warns of each message) without a token
    github: Any = None  # GitHubClient when the GitHub App gate is configured
    gitlab: Any = None  # GitLabClient when the GitLab gate is configured
    freeze_rules: tuple[FreezeRule, ...] = ()  # the policy's recurring freezes, built once


_current: Runtime | None = None


# A restart or fail-over of Redis takes seconds: every command waits that out before
# it fails (about 17 s), so a job in progress records its progress instead of stopping mid-plan.
REDIS_RETRIES = 20
REDIS_BACKOFF = ExponentialBackoff(cap=1.0, base=0.05)


def connect_redis(url: str) -> redis.Redis:
    """Return the worker's Redis client: patient through a Redis restart, and with BLPOP."""
    # No socket timeout: RQ's worker blocks on BLPOP for minutes by design.
    return redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30,
                                retry=Retry(REDIS_BACKOFF, REDIS_RETRIES))


def jira_client_for(settings: Settings, *, metrics_redis: redis.Redis | None = None) -> JiraClient:
    """Return the Jira client for the configured site and account, counting calls in Redis if given."""
    on_call = jira_call_counter(metrics_redis, settings) if metrics_redis is not None else None
    return JiraClient(settings.jira_base_url, settings.jira_email, settings.jira_api_token,
                      on_call=on_call)


def build_runtime(settings: Settings) -> Runtime:
    """Load the policy, resolve it against Jira and connect to Redis; fail with a clear message."""
    if not settings.redis_url:
        raise SettingsError("REDIS_URL is not set: the worker needs the Redis the web endpoint uses")
    policy = load_policy(settings.policy_path)
    connection = connect_redis(settings.redis_url)
    jira = jira_client_for(settings, metrics_redis=connection)
    site = resolve_site(jira, policy)
    return Runtime(settings=settings, policy=policy, site=site, jira=jira,
                   redis=connection, slack=slack_client_for(settings),
                   github=github_client_for(settings, connection),
                   gitlab=gitlab_client_for(settings), freeze_rules=freeze_rules(policy))


def install(runtime: Runtime) -> None:
    """Make ``runtime`` the one jobs in this process use."""
    global _current
    _current = runtime


def current() -> Runtime:
    """Return this process's runtime, building it from the environment on first use."""
    if _current is None:
        install(build_runtime(Settings.from_env()))
    assert _current is not None
    return _current
