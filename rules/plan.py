"""A decision's side effects as data: typed steps in order, stored between tries of a job."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from .job_names import JobName


@dataclasses.dataclass(frozen=True)
class Revert:
    """Move the issue back to ``to_status_id``; our record rides on the same call."""

    kind: ClassVar[str] = "revert"
    transition_id: str
    to_status_id: str
    record: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class AddLabel:
    """Add a label to the issue (adding one it has changes nothing)."""

    kind: ClassVar[str] = "label"
    label: str


@dataclasses.dataclass(frozen=True)
class AddComment:
    """Comment on the issue (an ADF document)."""

    kind: ClassVar[str] = "comment"
    body: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class WriteRecord:
    """Write changeguard's record (approvals and decision log) to the issue property."""

    kind: ClassVar[str] = "record"
    value: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class SlackAlert:
    """Post a message to a Slack channel."""

    kind: ClassVar[str] = "alert"
    channel: str
    text: str


@dataclasses.dataclass(frozen=True)
class FollowUp:
    """Enqueue a job the decision sets off (a Slack notice, an approval request), once by its id."""

    kind: ClassVar[str] = "follow_up"
    func: JobName
    job_id: str
    kwargs: Mapping[str, Any]

    def __post_init__(self) -> None:
        # Read back from JSON, the name is a plain string: an unknown one is refused here.
        object.__setattr__(self, "func", JobName(self.func))


Step = Revert | AddLabel | AddComment | WriteRecord | SlackAlert | FollowUp
STEP_TYPES: dict[str, type[Step]] = {t.kind: t for t in (Revert, AddLabel, AddComment, WriteRecord,
                                                         SlackAlert, FollowUp)}


class UnreadablePlan(ValueError):
    """A stored plan this version cannot read."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """Steps to take in order, ``done`` of them taken; ``fallback`` replaces a refused revert."""

    summary: Mapping[str, Any]
    steps: tuple[Step, ...]
    fallback: tuple[Step, ...] = ()
    done: int = 0

    @property
    def next_step(self) -> Step | None:
        """Return the first step not taken yet, or None when the plan is carried out."""
        return self.steps[self.done] if self.done < len(self.steps) else None

    def step_taken(self) -> Plan:
        """Return the plan with its next step counted as taken."""
        return dataclasses.replace(self, done=self.done + 1)

    def falling_back(self) -> Plan:
        """Return the plan with the fallback in place of the refused next step and the rest."""
        return dataclasses.replace(self, steps=self.steps[:self.done] + self.fallback, fallback=(),
                                   summary={**self.summary, "reverted": False})

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form stored in Redis while the plan is being carried out."""
        return {"summary": dict(self.summary), "steps": [_step_json(s) for s in self.steps],
                "fallback": [_step_json(s) for s in self.fallback], "done": self.done}


def plan_from_json(value: Any) -> Plan:
    """Read a stored plan; raise UnreadablePlan for anything this version did not write."""
    try:
        return Plan(summary=dict(value["summary"]),
                    steps=tuple(_step_from_json(s) for s in value["steps"]),
                    fallback=tuple(_step_from_json(s) for s in value["fallback"]),
                    done=_count(value["done"], len(value["steps"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadablePlan(f"stored plan not readable: {exc!r}") from None


def _step_json(step: Step) -> dict[str, Any]:
    return {"kind": step.kind, **dataclasses.asdict(step)}


def _step_from_json(value: Any) -> Step:
    fields = dict(value)
    step_type = STEP_TYPES[fields.pop("kind")]
    return step_type(**fields)


def _count(value: Any, most: int) -> int:
    if type(value) is not int or not 0 <= value <= most:
        raise ValueError(f"done={value!r}")
    return value
