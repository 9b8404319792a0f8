"""How long one call to a vendor (Jira, Slack, GitHub, GitLab) may take, retries included."""

from __future__ import annotations

import random
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


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Return the wait before retry ``attempt`` (1 = the first): exponential from ``base``,
    capped at ``cap``, with jitter (half to all of it), as every client of ours retries."""
    return min(cap, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
