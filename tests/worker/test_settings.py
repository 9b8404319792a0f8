"""Settings from the environment: defaults, and a clear message naming each bad variable."""

from pathlib import Path

import pytest

from worker.settings import DEFAULT_POLICY_PATH, Settings, SettingsError

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
        log_level="INFO", log_format="text", sweep_minutes=5,
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
