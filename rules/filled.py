"""Decide whether a field holds real content: not empty, not a placeholder, long enough."""

from __future__ import annotations

import enum
import re

from .policy import Policy

_PLACEHOLDER_FIRST_WORDS = frozenset({"tbd", "tba", "todo", "fixme", "wip"})
_WORD = re.compile(r"[^\W\d_]+")


class Emptiness(str, enum.Enum):
    """Why a field does not count as filled; FILLED when it does."""

    FILLED = "filled"
    MISSING = "missing"
    PLACEHOLDER = "placeholder"
    TOO_SHORT = "too_short"


def check_filled(value: str | None, policy: Policy, *, long_text: bool) -> Emptiness:
    """Classify a field value; long text (plans, description) must reach the policy's length."""
    if value is None or not value.strip():
        return Emptiness.MISSING
    if is_placeholder(value, policy):
        return Emptiness.PLACEHOLDER
    if long_text and len(" ".join(value.split())) < policy.min_text_length:
        return Emptiness.TOO_SHORT
    return Emptiness.FILLED


def is_placeholder(value: str, policy: Policy) -> bool:
    """Return True for text that only stands in for content: "TBD", "n/a", "???", "TODO: later"."""
    normalised = " ".join(value.split()).lower().rstrip(".!:;, ")
    if normalised in policy.placeholders or not _WORD.search(normalised):
        return True
    first_word = _WORD.match(normalised)
    return first_word is not None and first_word.group(0) in _PLACEHOLDER_FIRST_WORDS
