"""One call's time budget: a wait and one more attempt fit in it, or the call gives up."""

import pytest

from jobs.issue_session import LOCK_SECONDS
from worker.call_budget import CALL_BUDGET_SECONDS, CallBudget

from ..builders import Clock, Waits


@pytest.mark.parametrize("waited, wait, allowed", [
    ([], 15.0, True),        # 15 s wait + a 10 s attempt end exactly at 25 s
    ([], 15.5, False),
    ([5.0, 5.0], 5.0, True),
    ([5.0, 5.0], 5.5, False),
])
def test_a_wait_fits_when_it_and_one_more_attempt_end_within_the_budget(waited, wait, allowed):
    waits = Waits()
    budget = CallBudget(25.0, 10.0, Clock(waits))
    waits.extend(waited)
    assert budget.allows(wait) is allowed


def test_the_default_budget_leaves_two_calls_inside_the_issue_lock():
    assert 2 * CALL_BUDGET_SECONDS < LOCK_SECONDS
