"""The policy's recurring freezes are built at start-up: what the rules cannot check fails there."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.policy import PolicyError
from tests.builders import example_freezes_policy_path, with_example_freezes
from worker.freeze_rules import freeze_rules
from worker.policy_file import load_policy
from worker.settings import DEFAULT_POLICY_PATH


def policy_with(tmp_path: Path, old: str, new: str) -> Path:
    text = with_example_freezes(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    assert old in text
    path = tmp_path / "policy.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_the_default_policy_has_no_recurring_freeze_on():
    assert freeze_rules(load_policy()) == ()


def test_the_default_policys_example_freezes_build(tmp_path):
    rules = freeze_rules(load_policy(example_freezes_policy_path(tmp_path)))
    assert [(r.spec.name, str(r.zone)) for r in rules] == [("Weekend", "Europe/London"),
                                                           ("Year end", "Europe/London")]


@pytest.mark.parametrize("old,new,message", [
    ('timezone = "Europe/London"\nkind = "soft"', 'timezone = "Europe/Londn"\nkind = "soft"',
     'freezes.recurring[0] ("Weekend").timezone: \'Europe/Londn\' is not an IANA time zone'),
], ids=["unknown-time-zone"])
def test_a_freeze_dateutil_or_tzdata_cannot_build_stops_start_up(tmp_path, old, new, message):
    with pytest.raises(PolicyError) as failure:
        load_policy(policy_with(tmp_path, old, new))
    assert message in str(failure.value)
