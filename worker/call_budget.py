"""How long one call to Jira or Slack may take, retries and waits included."""

from __future__ import annotations

from collections.abc import Callable

# A job renews its issue lock (60 s) before each plan step, and a step makes at most two calls:
# each must give up well before the lock could lapse.
CALL_BUDGET_SECONDS = 25.0


class CallBudget:
    """The time left for one call: whether a wait and one more attempt still fit in it."""

    def __init__(self, seconds: float, attempt_timeout: float, clock: Callable[[], float]):
        self._clock = clock
        self._latest_retry = clock() + seconds - attempt_timeout

    def allows(self, wait: float) -> bool:
        """Tell whether waiting ``wait`` s, then an attempt that may time out, ends in time."""
        return self._clock() + wait <= self._latest_retry
