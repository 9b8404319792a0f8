"""Load the policy file named by the settings (or the built-in default) at start-up."""

from __future__ import annotations

from pathlib import Path

from rules.policy import Policy, PolicyError, parse_policy

from .freeze_rules import freeze_rules
from .settings import DEFAULT_POLICY_PATH


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate the policy file; raise PolicyError naming the file on any fault."""
    path = path or DEFAULT_POLICY_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file: {exc.strerror}") from exc
    policy = parse_policy(text, source=str(path))
    freeze_rules(policy)  # a time zone or RRULE dateutil cannot build fails here, at start-up
    return policy
