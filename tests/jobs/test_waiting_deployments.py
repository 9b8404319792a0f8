"""The store of deployments waiting at the gate, on the test Redis."""

from __future__ import annotations

from jobs.waiting_deployments import (changes_with_waiting, forget_waiting, has_waiting,
                                      remember_waiting, waiting_for, waiting_reason)
from rules.deployment import DeployRequest, Vendor


def held(n: int, at: str) -> DeployRequest:
    return DeployRequest(vendor=Vendor.GITHUB, deployment_id=f"github:acme/shop:run:{n}:prod",
                         run_id=f"github:acme/shop:run:{n}", environment="production",
                         requested_at=at)


def test_waiting_deployments_are_kept_by_change_until_each_is_answered(runtime):
    first, second = held(1, "2026-12-02T09:00:00+00:00"), held(2, "2026-12-02T08:00:00+00:00")
    remember_waiting(runtime, "CHG-7", first, "waiting for the CAB")
    remember_waiting(runtime, "CHG-7", second, "waiting for the CAB")
    remember_waiting(runtime, "CHG-7", first, "waiting for the window")  # a newer reason
    assert waiting_for(runtime, "CHG-7") == [second, first]  # oldest request first
    assert waiting_reason(runtime, "CHG-7", first.deployment_id) == "waiting for the window"
    assert waiting_reason(runtime, "CHG-8", first.deployment_id) is None
    assert (changes_with_waiting(runtime), has_waiting(runtime, "CHG-7")) == (["CHG-7"], True)
    forget_waiting(runtime, "CHG-7", first.deployment_id)
    assert (waiting_for(runtime, "CHG-7"), changes_with_waiting(runtime)) == ([second], ["CHG-7"])
    forget_waiting(runtime, "CHG-7", second.deployment_id)
    assert (waiting_for(runtime, "CHG-7"), changes_with_waiting(runtime)) == ([], [])
    assert has_waiting(runtime, "CHG-7") is False
