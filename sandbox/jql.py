"""Parse and run the JQL subset the sandbox supports: clauses with AND, OR, NOT, (), ORDER BY."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from sandbox.jira_state import Issue, JiraSite, utc_now

logger = logging.getLogger(__name__)

_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|=|>|<|~)"""
    r"""|(?P<punct>[(),])|(?P<word>[^\s"'(),=!<>~]+))"""
)
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_RELATIVE = re.compile(r"^([-+]?)(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_FIELD_ALIASES = {"type": "issuetype"}
_EQUALITY_FIELDS = {"project", "issuetype", "status", "key", "labels"}
_DATE_FIELDS = {"updated", "created"}
SUPPORTED = (
    "project, issuetype, status, key and labels with =, !=, in, not in; created and updated "
    "with =, >, >=, <, <= and \"yyyy-MM-dd HH:mm\" or -5m/-2h/-1d/-1w; clauses combined with "
    "AND, OR, NOT and parentheses; "
    "ORDER BY key, created or updated"
)

Predicate = Callable[[Issue], bool]


class JqlError(ValueError):
    """JQL the sandbox cannot run; the message is the errorMessage Jira returns."""


@dataclass(frozen=True)
class Query:
    """A parsed query: every predicate must hold; results sorted by `order`."""

    predicates: tuple[Predicate, ...]
    order: tuple[tuple[str, bool], ...]

    def run(self, issues: list[Issue]) -> list[Issue]:
        """Return the matching issues in the query's order (key ascending by default)."""
        found = [i for i in issues if all(p(i) for p in self.predicates)]
        for name, descending in reversed(self.order or (("key", False),)):
            found.sort(key=_SORT_KEYS[name], reverse=descending)
        return found


_SORT_KEYS: dict[str, Callable[[Issue], object]] = {
    "key": lambda i: int(i.key.rsplit("-", 1)[1]),
    "created": lambda i: i.created,
    "updated": lambda i: i.updated,
}


def _tokens(jql: str) -> list[tuple[str, str]]:
    tokens, position, text = [], 0, jql.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {position}.")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        position = match.end()
    return tokens


def parse(site: JiraSite, jql: str) -> Query:
    """Parse JQL into a Query, or raise JqlError naming what is unsupported."""
    tokens = _tokens(jql)
    order: list[tuple[str, bool]] = []
    index = 0

    def take() -> tuple[str, str]:
        nonlocal index
        if index >= len(tokens):
            raise JqlError("Error in the JQL Query: the query ended unexpectedly.")
        index += 1
        return tokens[index - 1]

    def peek_word() -> str:
        return tokens[index][1].lower() if index < len(tokens) else ""

    def peek_punct() -> str:
        return tokens[index][1] if index < len(tokens) and tokens[index][0] == "punct" else ""

    # Jira's precedence: NOT binds tighter than AND, AND tighter than OR; parentheses group.
    def joined(word: str, operand: Callable[[], Predicate],
               combine: Callable[[Iterable[bool]], bool]) -> Predicate:
        parts = [operand()]
        while peek_word() == word:
            take()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else lambda i: combine(p(i) for p in parts)

    def any_of() -> Predicate:
        return joined("or", all_of, any)

    def all_of() -> Predicate:
        return joined("and", negated, all)

    def negated() -> Predicate:
        if peek_word() == "not":
            take()
            inner = negated()
            return lambda i: not inner(i)
        if peek_punct() == "(":
            take()
            inner = any_of()
            if take()[1] != ")":
                raise JqlError("Error in the JQL Query: expected ')'.")
            return inner
        return clause()

    def clause() -> Predicate:
        field = _FIELD_ALIASES.get(peek_word(), peek_word())
        take()
        operator = take()[1].lower()
        if operator == "not" and peek_word() == "in":
            take()
            operator = "not in"
        if operator in {"in", "not in"}:
            if take()[1] != "(":
                raise JqlError("Error in the JQL Query: expected '(' after IN.")
            values = []
            while True:
                values.append(take()[1])
                separator = take()[1]
                if separator == ")":
                    break
                if separator != ",":
                    raise JqlError("Error in the JQL Query: expected ',' or ')' in a list.")
        else:
            values = [take()[1]]
        return _predicate(site, field, operator, values)

    predicates: tuple[Predicate, ...] = ()
    if index < len(tokens) and peek_word() != "order":
        predicates = (any_of(),)
    if index < len(tokens) and peek_word() != "order":
        raise JqlError(f"Error in the JQL Query: expected AND, OR or ORDER BY at "
                       f"'{tokens[index][1]}'. Supported: {SUPPORTED}.")
    if index < len(tokens):
        take()
        if take()[1].lower() != "by":
            raise JqlError("Error in the JQL Query: expected BY after ORDER.")
        while index < len(tokens):
            name = take()[1].lower()
            if name not in _SORT_KEYS:
                raise JqlError(
                    f"Unsupported JQL: cannot ORDER BY '{name}'. Supported: {SUPPORTED}."
                )
            descending = False
            if peek_word() in {"asc", "desc"}:
                descending = take()[1].lower() == "desc"
            order.append((name, descending))
            if index < len(tokens) and take()[1] != ",":
                raise JqlError("Error in the JQL Query: expected ',' between ORDER BY fields.")
    return Query(predicates, tuple(order))


def _predicate(site: JiraSite, field: str, operator: str, values: list[str]) -> Predicate:
    if field in _DATE_FIELDS:
        if operator not in {"=", ">", ">=", "<", "<="} or len(values) != 1:
            raise JqlError(f"Unsupported JQL: '{field} {operator}'. Supported: {SUPPORTED}.")
        bound = _parse_date(values[0])
        compare = {
            "=": lambda m: m == bound,
            ">": lambda m: m > bound,
            ">=": lambda m: m >= bound,
            "<": lambda m: m < bound,
            "<=": lambda m: m <= bound,
        }[operator]
        return lambda issue: compare(getattr(issue, field).replace(second=0, microsecond=0))
    if field not in _EQUALITY_FIELDS:
        raise JqlError(
            f"Field '{field}' does not exist or is not supported by the sandbox. "
            f"Supported: {SUPPORTED}."
        )
    if operator not in {"=", "!=", "in", "not in"}:
        raise JqlError(f"Unsupported JQL: '{field} {operator}'. Supported: {SUPPORTED}.")
    wanted = {v.lower() for v in values}
    if field == "status":
        known = {n for s in site.statuses.values() for n in _names(s.id, s.name)}
        for value in values:
            if value.lower() not in known:
                raise JqlError(f"The value '{value}' does not exist for the field 'status'.")
    attribute = _ATTRIBUTES[field]
    negate = operator in {"!=", "not in"}
    return lambda issue: bool(attribute(site, issue) & wanted) != negate


def _names(*values: str) -> set[str]:
    return {v.lower() for v in values}


_ATTRIBUTES: dict[str, Callable[[JiraSite, Issue], set[str]]] = {
    "project": lambda s, i: _names(s.project.key, s.project.id, s.project.name),
    "issuetype": lambda s, i: _names(i.issue_type, s.issue_types[i.issue_type].name),
    "status": lambda s, i: _names(i.status, s.statuses[i.status].name),
    "key": lambda s, i: _names(i.key, i.id),
    "labels": lambda s, i: _names(*(i.values.get("labels") or [])),
}


def _parse_date(text: str) -> datetime:
    relative = _RELATIVE.match(text.strip())
    if relative:
        sign, amount, unit = relative.groups()
        delta = timedelta(**{_UNITS[unit]: int(amount)})
        moment = utc_now() - delta if sign == "-" else utc_now() + delta
        return moment.replace(second=0, microsecond=0)
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{text}' for field is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd'."
    )
