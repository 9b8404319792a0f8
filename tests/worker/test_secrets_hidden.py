"""No secret from the environment shows in a repr, an error text, a report line or a log line."""

from __future__ import annotations

import io
import logging
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
import redis

from sandbox.slack_server import SandboxSlack
from webhooks.app import create_app
from worker.doctor import run_doctor
from worker.jira_client import JiraClient, JiraError
from worker.logging_setup import configure_logging
from worker.runtime import build_runtime
from worker.settings import SECRET_FIELDS, Settings, SettingsError
from worker.slack_client import SlackClient, SlackError
from worker.webhook_setup import setup_webhook

from ..builders import (CALENDAR_TOKEN, REDIS_PASSWORD, SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
                        WEBHOOK_SECRET, free_port, with_password)


@pytest.fixture
def secret_slack():
    with SandboxSlack(SLACK_BOT_TOKEN) as slack:
        slack.start()
        yield slack


@pytest.fixture
def env(jira, secret_slack, redis_url, namespace):
    """An environment whose every secret is distinctive (the sandbox Jira's own API token)."""
    if urlsplit(redis_url).password is not None:
        pytest.skip("REDIS_URL carries a password of its own")
    return {
        "JIRA_BASE_URL": jira.base_url, "JIRA_EMAIL": jira.bot.email,
        "JIRA_API_TOKEN": jira.bot.api_token, "JIRA_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "REDIS_URL": with_password(redis_url), "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
        "SLACK_API_URL": secret_slack.api_url, "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
        "CHANGEGUARD_CALENDAR_TOKEN": CALENDAR_TOKEN, "CHANGEGUARD_NAMESPACE": namespace,
        "GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY": GITHUB_PRIVATE_KEY,
        "GITHUB_WEBHOOK_SECRET": GITHUB_WEBHOOK_SECRET, "GITLAB_TOKEN": GITLAB_TOKEN,
        "GITLAB_WEBHOOK_SECRET": GITLAB_WEBHOOK_SECRET,
        "CHANGEGUARD_GATE_TOKENS": f"jenkins:{GATE_TOKEN_DIGEST}",
    }


# The gate's secrets, as distinctive as the others (the key is a real PEM, made once).
GITHUB_PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()).decode().strip()
GITHUB_WEBHOOK_SECRET = "sekret-github-webhook-secret-1357"
GITLAB_TOKEN = "sekret-gitlab-token-2468"
GITLAB_WEBHOOK_SECRET = "sekret-gitlab-webhook-secret-3579"
GATE_TOKEN_DIGEST = "5e" * 32


@pytest.fixture
def log_lines():
    """Log as a process with LOG_LEVEL=DEBUG and LOG_FORMAT=json does, into a buffer."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("DEBUG", "json")
    stream = io.StringIO()
    for handler in root.handlers:
        handler.setStream(stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("atlassian").setLevel(logging.NOTSET)


def error_text(call) -> str:
    try:
        call()
    except (SettingsError, JiraError, SlackError, redis.RedisError) as exc:
        return f"{type(exc).__name__}: {exc}"
    raise AssertionError("expected an error")


def test_settings_show_which_secrets_are_set(env):
    settings = Settings.from_env(env)
    shown = repr(settings)
    assert [f"{name}=<set>" in shown for name in sorted(SECRET_FIELDS)] == [True] * 10
    assert f"redis_url='{with_password(env['REDIS_URL']).replace(REDIS_PASSWORD, '***')}'" in shown
    assert "jira_webhook_secret=None" in repr(Settings.from_env({**env, "JIRA_WEBHOOK_SECRET": ""}))


def test_no_secret_in_reprs_errors_reports_or_logs(env, jira, secret_slack, log_lines):
    secrets = {"JIRA_API_TOKEN": env["JIRA_API_TOKEN"], "JIRA_WEBHOOK_SECRET": WEBHOOK_SECRET,
               "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN, "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
               "CHANGEGUARD_CALENDAR_TOKEN": CALENDAR_TOKEN, "REDIS_URL": REDIS_PASSWORD,
               "GITHUB_APP_PRIVATE_KEY": GITHUB_PRIVATE_KEY.splitlines()[1],
               "GITHUB_WEBHOOK_SECRET": GITHUB_WEBHOOK_SECRET, "GITLAB_TOKEN": GITLAB_TOKEN,
               "GITLAB_WEBHOOK_SECRET": GITLAB_WEBHOOK_SECRET,
               "CHANGEGUARD_GATE_TOKENS": GATE_TOKEN_DIGEST}
    settings = Settings.from_env(env)
    runtime = build_runtime(settings)  # signs in to the sandbox Jira, and to Redis with the password
    runtime.redis.ping()
    app = create_app(settings)
    unreachable = f"http://127.0.0.1:{free_port()}"
    dead_redis = redis.Redis.from_url(f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0",
                                      socket_connect_timeout=1)
    doctor_lines: list[str] = []
    run_doctor(settings, write=doctor_lines.append)
    rendered = [
        repr(settings), str(settings), repr(runtime), str(runtime), repr(runtime.jira),
        repr(runtime.slack), repr(runtime.redis), repr(app.extensions["changeguard"]),
        *doctor_lines,
        *setup_webhook("http://127.0.0.1:9/webhooks/jira", settings=settings,
                       policy=runtime.policy, jira=runtime.jira, memory=None),
        error_text(lambda: runtime.jira.get_issue("CHG-999", fields=["status"])),
        error_text(lambda: JiraClient(unreachable, jira.bot.email, env["JIRA_API_TOKEN"],
                                      max_attempts=1).get_myself()),
        error_text(lambda: runtime.slack.post_message("#no-such-channel", "hello")),
        error_text(lambda: SlackClient(SLACK_BOT_TOKEN, base_url=f"{unreachable}/api/",
                                       max_attempts=1).auth_test()),
        error_text(dead_redis.ping),
        error_text(lambda: Settings.from_env({**env, "REDIS_URL": f"http://:{REDIS_PASSWORD}@r"})),
        error_text(lambda: Settings.from_env(
            {**env, "JIRA_BASE_URL": f"https://bot:{env['JIRA_API_TOKEN']}@acme.atlassian.net"})),
        log_lines.getvalue(),
    ]
    assert "site resolved" in log_lines.getvalue()  # the logs were captured
    assert {name: [text for text in rendered if value in text] for name, value in secrets.items()} \
        == {name: [] for name in secrets}
