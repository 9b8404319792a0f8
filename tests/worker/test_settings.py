"""Settings from the environment: defaults, and a clear message naming each bad variable."""

from pathlib import Path

import pytest

from worker.settings import DEFAULT_POLICY_PATH, Settings, SettingsError, redact_url

BASE = {"JIRA_BASE_URL": "https://acme.atlassian.net/", "JIRA_EMAIL": "cg@acme.com",
        "JIRA_API_TOKEN": "token"}


def test_defaults():
    settings = Settings.from_env(BASE)
    assert settings == Settings(
        jira_base_url="https://acme.atlassian.net", jira_email="cg@acme.com",
        jira_api_token="token", jira_webhook_secret=None, redis_url=None,
        slack_bot_token=None, slack_api_url="https://slack.com/api/", slack_signing_secret=None,
        calendar_token=None, periodic=True,
        policy_path=DEFAULT_POLICY_PATH, namespace="changeguard", max_webhook_bytes=1_000_000,
        log_level="INFO", log_format="text", sweep_minutes=5, allow_unsigned_webhooks=False,
    )
    assert settings.queue_name == "changeguard"
    assert settings.key("delivery", "abc") == "changeguard:delivery:abc"


def test_everything_set(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("")
    settings = Settings.from_env({
        **BASE, "JIRA_WEBHOOK_SECRET": "s", "REDIS_URL": "redis://r:6379/2",
        "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": "http://127.0.0.1:9/api",
        "CHANGEGUARD_POLICY": str(policy), "CHANGEGUARD_NAMESPACE": "cg_prod",
        "CHANGEGUARD_MAX_WEBHOOK_BYTES": "2048", "LOG_LEVEL": "debug", "LOG_FORMAT": "JSON",
        "CHANGEGUARD_PERIODIC": "off", "CHANGEGUARD_SWEEP_MINUTES": "15",
    })
    assert settings.periodic is False
    assert settings.sweep_minutes == 15
    assert (settings.jira_webhook_secret, settings.redis_url, settings.slack_bot_token,
            settings.slack_api_url, settings.policy_path, settings.namespace,
            settings.max_webhook_bytes, settings.log_level, settings.log_format) == (
        "s", "redis://r:6379/2", "xoxb-1", "http://127.0.0.1:9/api/", Path(policy), "cg_prod",
        2048, "DEBUG", "json")


ERRORS = [
    ({"JIRA_BASE_URL": ""}, "JIRA_BASE_URL is not set: the Jira Cloud site, e.g. https://your-company.atlassian.net"),
    ({"JIRA_EMAIL": "  "}, "JIRA_EMAIL is not set: the email of the Jira account changeguard acts as"),
    ({"JIRA_API_TOKEN": ""}, "JIRA_API_TOKEN is not set: an API token of that account"),
    ({"JIRA_BASE_URL": "acme.atlassian.net"}, "JIRA_BASE_URL='acme.atlassian.net' is not an http(s) URL"),
    ({"SLACK_API_URL": "ftp://x"}, "SLACK_API_URL='ftp://x' is not an http(s) URL"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL='localhost:6379' is not a Redis URL"),
    ({"REDIS_URL": "http://:pw-1@r:6379"}, "REDIS_URL='http://:***@r:6379' is not a Redis URL"),
    ({"JIRA_BASE_URL": "https://cg%40acme.com:pw-2@acme.atlassian.net"},
     "JIRA_BASE_URL='https://cg%40acme.com:***@acme.atlassian.net' carries a user name or "
     "password: give the URL alone (credentials have variables of their own)"),
    ({"SLACK_API_URL": "ftp://bot:pw-3@x"}, "SLACK_API_URL='ftp://bot:***@x' is not an http(s) URL"),
    ({"CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS": "sure"},
     "CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS='sure': use true or false (or 1/0, yes/no)"),
    ({"CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS": "on"},
     "CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS='on': use true or false (or 1/0, yes/no)"),
    ({"CHANGEGUARD_POLICY": "/nonexistent.toml"}, "CHANGEGUARD_POLICY='/nonexistent.toml': no such file"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml': use 'text' or 'json'"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='LOUD': use DEBUG, INFO, WARNING or ERROR"),
    ({"CHANGEGUARD_MAX_WEBHOOK_BYTES": "lots"}, "CHANGEGUARD_MAX_WEBHOOK_BYTES='lots': use a positive number of bytes"),
    ({"CHANGEGUARD_MAX_WEBHOOK_BYTES": "0"}, "CHANGEGUARD_MAX_WEBHOOK_BYTES='0': use a positive number of bytes"),
    ({"CHANGEGUARD_NAMESPACE": "cg:prod"}, "CHANGEGUARD_NAMESPACE='cg:prod': use letters, digits"),
    ({"CHANGEGUARD_SWEEP_MINUTES": "0"}, "CHANGEGUARD_SWEEP_MINUTES='0': use a whole number of minutes from 1 to 1440"),
    ({"CHANGEGUARD_SWEEP_MINUTES": "1441"}, "CHANGEGUARD_SWEEP_MINUTES='1441': use a whole number of minutes from 1 to 1440"),
    ({"CHANGEGUARD_SWEEP_MINUTES": "5m"}, "CHANGEGUARD_SWEEP_MINUTES='5m': use a whole number of minutes from 1 to 1440"),
    ({"CHANGEGUARD_SWEEP_MINUTES": "-5"}, "CHANGEGUARD_SWEEP_MINUTES='-5': use a whole number of minutes from 1 to 1440"),
]


@pytest.mark.parametrize("changes, message", ERRORS, ids=[next(iter(c)) + "-" + str(i) for i, (c, _) in enumerate(ERRORS)])
def test_bad_settings_name_the_variable(changes, message):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**BASE, **changes})
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(("value", "allowed"), [
    ("true", True), ("TRUE", True), (" yes ", True), ("1", True),
    ("false", False), ("No", False), ("0", False), ("", False),
])
def test_unsigned_webhooks_are_allowed_only_by_an_explicit_yes(value, allowed):
    settings = Settings.from_env({**BASE, "CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS": value})
    assert settings.allow_unsigned_webhooks is allowed


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("rediss://default:p%40ss:w@cache.example.com:6380/1",
     "rediss://default:***@cache.example.com:6380/1"),
    ("redis://cache.example.com/0?password=pw&db=2",
     "redis://cache.example.com/0?password=***&db=2"),
    ("unix://:pw@/run/redis.sock?db=0", "unix://:***@/run/redis.sock?db=0"),
    ("redis://user@127.0.0.1/0", "redis://user@127.0.0.1/0"),
], ids=["plain", "password", "user-and-password", "password-parameter", "unix-socket",
        "user-only"])
def test_redact_url_masks_the_password(url, shown):
    assert redact_url(url) == shown


def test_repr_shows_which_secrets_are_set_and_never_their_values():
    settings = Settings.from_env({
        **BASE, "JIRA_API_TOKEN": "tok-1", "JIRA_WEBHOOK_SECRET": "sec-2",
        "REDIS_URL": "redis://:pw-3@r:6379/2", "SLACK_SIGNING_SECRET": "sig-4",
    })
    assert repr(settings) == str(settings) == (
        "Settings(jira_base_url='https://acme.atlassian.net', jira_email='cg@acme.com', "
        "jira_api_token=<set>, jira_webhook_secret=<set>, redis_url='redis://:***@r:6379/2', "
        "slack_bot_token=None, slack_api_url='https://slack.com/api/', "
        "slack_signing_secret=<set>, calendar_token=None, periodic=True, "
        f"policy_path={DEFAULT_POLICY_PATH!r}, namespace='changeguard', "
        "max_webhook_bytes=1000000, log_level='INFO', log_format='text', sweep_minutes=5, "
        "allow_unsigned_webhooks=False, github_app_id=None, github_private_key=None, "
        "github_webhook_secret=None, github_api_url='https://api.github.com', "
        "gitlab_url='https://gitlab.com', gitlab_token=None, gitlab_webhook_secret=None, "
        "gate_tokens=())")
