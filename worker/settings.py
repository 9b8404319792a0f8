"""Build the one typed Settings object from environment variables at start-up."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_MAX_WEBHOOK_BYTES = 1_000_000
DEFAULT_SWEEP_MINUTES = 5
MAX_SWEEP_MINUTES = 24 * 60
# Shown as "<set>" (or None) by repr(Settings): never the value.
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_GITLAB_URL = "https://gitlab.com"
SECRET_FIELDS = frozenset({"jira_api_token", "jira_webhook_secret", "slack_bot_token",
                           "slack_signing_secret", "calendar_token", "github_private_key",
                           "github_webhook_secret", "gitlab_token", "gitlab_webhook_secret",
                           "gate_tokens"})
URL_FIELDS = frozenset({"jira_base_url", "redis_url", "slack_api_url", "github_api_url",
                        "gitlab_url"})
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


class SettingsError(ValueError):
    """A required environment variable is missing or has a bad value."""


@dataclasses.dataclass(frozen=True, repr=False)
class Settings:
    """Everything changeguard reads from its environment, validated once."""

    jira_base_url: str
    jira_email: str
    jira_api_token: str
    jira_webhook_secret: str | None
    redis_url: str | None
    slack_bot_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    slack_signing_secret: str | None = None
    calendar_token: str | None = None
    periodic: bool = True
    policy_path: Path = DEFAULT_POLICY_PATH
    namespace: str = "changeguard"
    max_webhook_bytes: int = DEFAULT_MAX_WEBHOOK_BYTES
    log_level: str = "INFO"
    log_format: str = "text"
    sweep_minutes: int = DEFAULT_SWEEP_MINUTES
    allow_unsigned_webhooks: bool = False
    # The deployment gate (README "Deployment gate"): each front end is off until configured.
    github_app_id: str | None = None
    github_private_key: str | None = None  # PEM text of the GitHub App's private key
    github_webhook_secret: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    gitlab_url: str = DEFAULT_GITLAB_URL
    gitlab_token: str | None = None
    gitlab_webhook_secret: str | None = None
    # Generic pipelines: name -> SHA-256 hex digest of its bearer token (never the token).
    gate_tokens: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        """Show every setting, secrets only as ``<set>`` and URLs with any password masked."""
        shown = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value and field.name in SECRET_FIELDS:
                shown.append(f"{field.name}=<set>")
            elif value and field.name in URL_FIELDS:
                shown.append(f"{field.name}={redact_url(value)!r}")
            else:
                shown.append(f"{field.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def require_webhook_secret(self) -> None:
        """Refuse to serve webhooks without JIRA_WEBHOOK_SECRET, unless unsigned ones are allowed."""
        if not self.jira_webhook_secret and not self.allow_unsigned_webhooks:
            raise SettingsError(
                "JIRA_WEBHOOK_SECRET is not set: set it to the secret of Jira's webhook "
                "(`changeguard setup-webhook URL` registers the webhook with it), or set "
                "CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS=true to accept unsigned webhooks from "
                "anyone who knows the URL")

    @property
    def queue_name(self) -> str:
        """Name of the RQ queue the endpoint feeds and the worker drains."""
        return self.namespace

    def key(self, *parts: str) -> str:
        """Return a Redis key inside this deployment's namespace."""
        return ":".join((self.namespace, *parts))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Read and validate the settings; raise SettingsError naming the variable at fault."""
        env = os.environ if environ is None else environ

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise SettingsError(f"{name} is not set: {_HELP[name]}")
            return value

        def optional(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        jira_base_url = required("JIRA_BASE_URL").rstrip("/")
        _require_http_url("JIRA_BASE_URL", jira_base_url)
        slack_api_url = optional("SLACK_API_URL") or DEFAULT_SLACK_API_URL
        _require_http_url("SLACK_API_URL", slack_api_url)
        if not slack_api_url.endswith("/"):
            slack_api_url += "/"
        redis_url = optional("REDIS_URL")
        if redis_url and urlsplit(redis_url).scheme not in {"redis", "rediss", "unix"}:
            raise SettingsError(
                f"REDIS_URL={redact_url(redis_url)!r} is not a Redis URL: use redis://host:port/db, "
                "rediss://… or unix:///path/to/redis.sock"
            )
        policy = optional("CHANGEGUARD_POLICY")
        policy_path = Path(policy) if policy else DEFAULT_POLICY_PATH
        if not policy_path.is_file():
            raise SettingsError(f"CHANGEGUARD_POLICY={policy!r}: no such file")
        log_format = (optional("LOG_FORMAT") or "text").lower()
        if log_format not in {"text", "json"}:
            raise SettingsError(f"LOG_FORMAT={log_format!r}: use 'text' or 'json'")
        log_level = (optional("LOG_LEVEL") or "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise SettingsError(f"LOG_LEVEL={log_level!r}: use DEBUG, INFO, WARNING or ERROR")
        max_bytes = optional("CHANGEGUARD_MAX_WEBHOOK_BYTES")
        try:
            max_webhook_bytes = int(max_bytes) if max_bytes else DEFAULT_MAX_WEBHOOK_BYTES
        except ValueError:
            max_webhook_bytes = 0
        if max_webhook_bytes <= 0:
            raise SettingsError(
                f"CHANGEGUARD_MAX_WEBHOOK_BYTES={max_bytes!r}: use a positive number of bytes"
            )
        sweep = optional("CHANGEGUARD_SWEEP_MINUTES")
        sweep_minutes = DEFAULT_SWEEP_MINUTES
        if sweep is not None:
            sweep_minutes = int(sweep) if re.fullmatch(r"[0-9]{1,5}", sweep) else 0
        if not 1 <= sweep_minutes <= MAX_SWEEP_MINUTES:
            raise SettingsError(
                f"CHANGEGUARD_SWEEP_MINUTES={sweep!r}: use a whole number of minutes from 1 to "
                f"{MAX_SWEEP_MINUTES} (how often changes are checked for moves no webhook delivered)"
            )
        namespace = optional("CHANGEGUARD_NAMESPACE") or "changeguard"
        if not re.fullmatch(r"[A-Za-z0-9_-]+", namespace):
            raise SettingsError(
                f"CHANGEGUARD_NAMESPACE={namespace!r}: use letters, digits, '-' and '_' only "
                "(it becomes part of RQ job ids)"
            )
        github_api_url = (optional("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL).rstrip("/")
        _require_http_url("GITHUB_API_URL", github_api_url)
        gitlab_url = (optional("GITLAB_URL") or DEFAULT_GITLAB_URL).rstrip("/")
        _require_http_url("GITLAB_URL", gitlab_url)
        return cls(
            jira_base_url=jira_base_url,
            jira_email=required("JIRA_EMAIL"),
            jira_api_token=required("JIRA_API_TOKEN"),
            jira_webhook_secret=optional("JIRA_WEBHOOK_SECRET"),
            redis_url=redis_url,
            slack_bot_token=optional("SLACK_BOT_TOKEN"),
            slack_api_url=slack_api_url,
            slack_signing_secret=optional("SLACK_SIGNING_SECRET"),
            calendar_token=optional("CHANGEGUARD_CALENDAR_TOKEN"),
            periodic=(optional("CHANGEGUARD_PERIODIC") or "on").lower() not in {"off", "0", "false", "no"},
            policy_path=policy_path,
            namespace=namespace,
            max_webhook_bytes=max_webhook_bytes,
            log_level=log_level,
            log_format=log_format,
            sweep_minutes=sweep_minutes,
            allow_unsigned_webhooks=_flag(env, "CHANGEGUARD_ALLOW_UNSIGNED_WEBHOOKS"),
            github_app_id=_github_app_id(optional("GITHUB_APP_ID")),
            github_private_key=_private_key(optional("GITHUB_APP_PRIVATE_KEY"),
                                            optional("GITHUB_APP_PRIVATE_KEY_PATH")),
            github_webhook_secret=optional("GITHUB_WEBHOOK_SECRET"),
            github_api_url=github_api_url,
            gitlab_url=gitlab_url,
            gitlab_token=optional("GITLAB_TOKEN"),
            gitlab_webhook_secret=optional("GITLAB_WEBHOOK_SECRET"),
            gate_tokens=_gate_tokens(optional("CHANGEGUARD_GATE_TOKENS")),
        )

    @property
    def github_enabled(self) -> bool:
        """Tell whether the GitHub App front end of the deployment gate is configured."""
        return bool(self.github_app_id and self.github_private_key and self.github_webhook_secret)

    @property
    def gitlab_enabled(self) -> bool:
        """Tell whether the GitLab front end of the deployment gate is configured."""
        return bool(self.gitlab_token and self.gitlab_webhook_secret)


def hash_gate_token(token: str) -> str:
    """Return how CHANGEGUARD_GATE_TOKENS stores a pipeline's token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def _github_app_id(value: str | None) -> str | None:
    if value is not None and not value.isdigit():
        raise SettingsError(f"GITHUB_APP_ID={value!r}: use the App ID number from the GitHub "
                            "App's settings page (not its client id)")
    return value


def _private_key(pem: str | None, path: str | None) -> str | None:
    if pem is not None and path is not None:
        raise SettingsError("GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_PATH are both set: "
                            "give the key one way")
    if path is not None:
        try:
            pem = Path(path).read_text()
        except OSError as exc:
            raise SettingsError(f"GITHUB_APP_PRIVATE_KEY_PATH={path!r}: {exc.strerror}") from None
    if pem is not None:
        pem = pem.replace("\\n", "\n").strip()  # one-line env values often escape newlines
        if not pem.startswith("-----BEGIN") or "PRIVATE KEY-----" not in pem:
            raise SettingsError("the GitHub App private key is not a PEM private key: use the "
                                ".pem file GitHub generated (Settings -> Developer settings -> "
                                "GitHub Apps -> Private keys)")
    return pem


def _gate_tokens(value: str | None) -> tuple[tuple[str, str], ...]:
    """Parse ``name:sha256hex,name:sha256hex`` (hash a token with `changeguard gate-token`)."""
    if value is None:
        return ()
    tokens: dict[str, str] = {}
    for item in value.split(","):
        name, _, digest = item.strip().partition(":")
        if (not re.fullmatch(r"[A-Za-z0-9_.-]+", name)
                or not re.fullmatch(r"[0-9a-f]{64}", digest.lower())):
            raise SettingsError(
                f"CHANGEGUARD_GATE_TOKENS: {item.strip()!r} is not name:sha256-hex; give each "
                "pipeline's token as its name and the SHA-256 of the token, e.g. "
                "jenkins:<64 hex digits> (`changeguard gate-token` prints one)")
        if name in tokens:
            raise SettingsError(f"CHANGEGUARD_GATE_TOKENS names {name!r} twice")
        tokens[name] = digest.lower()
    return tuple(tokens.items())


def redact_url(url: str) -> str:
    """Return ``url`` with its password (in the user info or a password= parameter) masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user_info, _, host = netloc.rpartition("@")
        netloc = f"{user_info.split(':', 1)[0]}:***@{host}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip()
    if value.lower() in TRUE_WORDS:
        return True
    if not value or value.lower() in FALSE_WORDS:
        return False
    raise SettingsError(f"{name}={value!r}: use true or false (or 1/0, yes/no)")


def _require_http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(f"{name}={redact_url(value)!r} is not an http(s) URL")
    if parts.username is not None:
        # It would be shown in every link to an issue, log line and error that names the URL.
        raise SettingsError(f"{name}={redact_url(value)!r} carries a user name or password: "
                            "give the URL alone (credentials have variables of their own)")


_HELP = {
    "JIRA_BASE_URL": "the Jira Cloud site, e.g. https://your-company.atlassian.net",
    "JIRA_EMAIL": "the email of the Jira account changeguard acts as",
    "JIRA_API_TOKEN": "an API token of that account (id.atlassian.com → Security → API tokens)",
}
