"""Talk to the Slack Web API: the only code that knows its URL, token, timeouts and retry."""

from __future__ import annotations

import http.client
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .call_budget import CALL_BUDGET_SECONDS, CallBudget, backoff_delay
from .settings import DEFAULT_SLACK_API_URL, Settings

logger = logging.getLogger(__name__)

NOT_SENT = "policy's Slack notice not sent: SLACK_BOT_TOKEN is unset"
# Methods that change nothing, or set the same end state when sent twice.
_IDEMPOTENT = frozenset({"auth.test", "chat.update", "users.lookupByEmail"})


class SlackError(Exception):
    """Slack answered with an error, or could not be reached."""

    def __init__(self, message: str, *, method: str, status: int | None = None,
                 error: str | None = None):
        super().__init__(message)
        self.method = method
        self.status = status
        self.error = error


class SlackRejected(SlackError):
    """Slack refused the call (``ok: false``: invalid_auth, channel_not_found, not_in_channel…)."""


class SlackRateLimited(SlackError):
    """Slack kept answering 429 past the retry budget; the job should be retried later."""

    def __init__(self, message: str, *, method: str, status: int | None = None,
                 error: str | None = None, retry_after: float | None = None):
        super().__init__(message, method=method, status=status, error=error)
        self.retry_after = retry_after


class SlackUnavailable(SlackError):
    """Slack kept failing (5xx or no connection) past the retry budget."""


class SlackClient:
    """A small Slack Web API client with verb-shaped methods and a bounded retry policy."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_SLACK_API_URL,
        timeout: float = 10.0,
        max_attempts: int = 5,
        max_wait: float = 30.0,
        backoff_base: float = 0.5,
        budget: float = CALL_BUDGET_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        # retry_handlers=[]: our policy is the only one; slack-sdk would otherwise retry
        # connection errors by itself, outside any budget we can see.
        self._web = WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])
        self.base_url = base_url
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._backoff_base = backoff_base
        self._timeout = timeout
        self._budget = budget
        self._sleep = sleep
        self._clock = clock

    # -- transport ---------------------------------------------------------------------------

    def call(self, method: str, *, http_verb: str = "POST", json: Mapping[str, Any] | None = None,
             params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Call one Web API method; retry 429 (honouring Retry-After) and transient faults, bounded."""
        idempotent = method in _IDEMPOTENT
        budget = CallBudget(self._budget, self._timeout, self._clock)
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._web.api_call(
                    method, http_verb=http_verb, json=dict(json) if json is not None else None,
                    params=dict(params) if params is not None else None,
                )
                return dict(response.data)
            except SlackApiError as exc:
                status = exc.response.status_code
                error = _error_code(exc)
                logger.warning("slack error", extra={"method": method, "status": status,
                                                     "error": error, "attempt": attempt})
                wait = self._wait_before_retry(method, status, exc, attempt, idempotent)
                if wait is None or not budget.allows(wait):
                    raise _error_for(method, status, error, exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                # urllib wraps failures before the request was fully sent in URLError
                # (refused, DNS, connect timeout): Slack cannot have acted on those.
                unsent = isinstance(exc, URLError)
                logger.warning("slack unreachable", extra={"method": method, "attempt": attempt,
                                                           "error": str(exc)})
                wait = self._backoff(attempt)
                if (not (unsent or idempotent) or attempt == self._max_attempts
                        or not budget.allows(wait)):
                    raise SlackUnavailable(f"{method}: {exc}", method=method) from exc
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_before_retry(self, method: str, status: int, exc: SlackApiError, attempt: int,
                           idempotent: bool) -> float | None:
        if attempt == self._max_attempts:
            return None
        if status == 429:
            # Slack did not act on a rate-limited call, so even chat.postMessage is safe to resend.
            wait = _retry_after(exc)
            wait = self._backoff(attempt) if wait is None else wait
        elif status >= 500 and idempotent:
            # A 5xx on chat.postMessage may still have posted: leave the decision to the job.
            wait = self._backoff(attempt)
        else:
            return None
        return wait if wait <= self._max_wait else None

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self._backoff_base, self._max_wait)

    # -- messages ------------------------------------------------------------------------------

    def post_message(self, channel: str, text: str, *, blocks: list | None = None,
                     thread_ts: str | None = None) -> dict[str, str]:
        """Post a message (in a thread when ``thread_ts`` is given); return its channel id and ts."""
        body: dict[str, Any] = {"channel": channel, "text": text}
        if blocks is not None:
            body["blocks"] = blocks
        if thread_ts is not None:
            body["thread_ts"] = thread_ts
        data = self.call("chat.postMessage", json=body)
        return {"channel": data["channel"], "ts": data["ts"]}

    def update_message(self, channel: str, ts: str, text: str, *,
                       blocks: list | None = None) -> dict[str, str]:
        """Replace the text (and blocks) of a message the bot posted; return its channel and ts."""
        body: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            body["blocks"] = blocks
        data = self.call("chat.update", json=body)
        return {"channel": data["channel"], "ts": data["ts"]}

    def auth_test(self) -> dict[str, Any]:
        """Return who the token belongs to (team, user_id, bot_id); raise SlackRejected if refused."""
        return self.call("auth.test")


class UnsentSlack:
    """Stands in for Slack when SLACK_BOT_TOKEN is unset: each message is a warning, not sent."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def post_message(self, channel: str, text: str, *, blocks: list | None = None,
                     thread_ts: str | None = None) -> dict[str, str]:
        """Warn that the message was not sent and return a fake ts ("unsent-1", "unsent-2", …)."""
        with self._lock:
            ts = f"unsent-{next(self._numbers)}"
        self._warn(channel, text, updated=False)
        return {"channel": channel, "ts": ts}

    def update_message(self, channel: str, ts: str, text: str, *,
                       blocks: list | None = None) -> dict[str, str]:
        """Warn that the update was not sent."""
        self._warn(channel, text, updated=True)
        return {"channel": channel, "ts": ts}

    def auth_test(self) -> dict[str, Any]:
        """Return a stand-in identity: there is no Slack workspace to ask."""
        return {"ok": True, "team": "unsent", "user": "unsent", "user_id": None}

    @staticmethod
    def _warn(channel: str, text: str, *, updated: bool) -> None:
        logger.warning(NOT_SENT, extra={"channel": channel, "first_line": text.split("\n", 1)[0],
                                        "updated": updated})


def slack_client_for(settings: Settings) -> SlackClient | UnsentSlack:
    """Return the Slack client for the configured bot token; without one, UnsentSlack."""
    if settings.slack_bot_token:
        return SlackClient(settings.slack_bot_token, base_url=settings.slack_api_url)
    return UnsentSlack()


def _error_code(exc: SlackApiError) -> str | None:
    data = exc.response.data
    return data.get("error") if isinstance(data, dict) else None


def _retry_after(exc: SlackApiError) -> float | None:
    headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _error_for(method: str, status: int, error: str | None, exc: SlackApiError) -> SlackError:
    message = f"{method} -> {status}: {error or 'no error code'}"
    if status == 429:
        return SlackRateLimited(message, method=method, status=status, error=error,
                                retry_after=_retry_after(exc))
    if status >= 500:
        return SlackUnavailable(message, method=method, status=status, error=error)
    return SlackRejected(message, method=method, status=status, error=error)
