"""Load the policy's recurring freezes: each RRULE and time zone built once, checked at start-up."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

from rules.freeze import FreezeRule
from rules.policy import Policy, PolicyError

RULE_ANCHOR = datetime(2024, 1, 1)  # the same anchor as the CAB's rule (jobs/periodic.py)


def freeze_rules(policy: Policy) -> tuple[FreezeRule, ...]:
    """Load the policy's recurring freezes: each RRULE in wall-clock time, each zone from tzdata."""
    rules = []
    for index, spec in enumerate(policy.freezes.recurring):
        where = f'{policy.source}: freezes.recurring[{index}] ("{spec.name}")'
        try:
            zone = ZoneInfo(spec.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise PolicyError(f"{where}.timezone: {spec.timezone!r} is not an IANA time zone "
                              "(e.g. Europe/London)") from exc
        try:
            rule = rrulestr(spec.rrule, dtstart=RULE_ANCHOR, cache=True)
        except (ValueError, TypeError) as exc:
            raise PolicyError(f"{where}.rrule: {exc}") from exc
        rules.append(FreezeRule(spec=spec, rule=rule, zone=zone))
    return tuple(rules)
