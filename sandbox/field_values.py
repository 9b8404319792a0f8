"""Read REST v3 field values into the sandbox's internal form, and describe changes to them."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from sandbox.adf import adf_problem, adf_to_text
from sandbox.jira_state import FieldDef, JiraSite, format_time

logger = logging.getLogger(__name__)

SETTABLE_SYSTEM_FIELDS = frozenset({"summary", "description", "labels", "assignee", "reporter"})


class FieldValueError(ValueError):
    """A value Jira would refuse for a field; the message is Jira's error for that field."""


def parse_value(site: JiraSite, fdef: FieldDef, raw: Any) -> Any:
    """Return the internal value for a v3 input value, or raise FieldValueError."""
    if fdef.id not in SETTABLE_SYSTEM_FIELDS and not fdef.custom:
        raise FieldValueError(
            f"Field '{fdef.id}' cannot be set. It is not on the appropriate screen, or unknown."
        )
    if raw is None:
        if fdef.id == "summary":
            raise FieldValueError("You must specify a summary of the issue.")
        return [] if fdef.kind == "labels" else None
    parse = _PARSERS[fdef.kind]
    return parse(site, fdef, raw)


def _parse_summary(site: JiraSite, fdef: FieldDef, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise FieldValueError("You must specify a summary of the issue.")
    if len(raw) > 255:
        raise FieldValueError("Summary must be less than 255 characters.")
    return raw


def _parse_document(site: JiraSite, fdef: FieldDef, raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        raise FieldValueError("Operation value must be an Atlassian Document (see the ADF spec).")
    problem = adf_problem(raw)
    if problem:
        raise FieldValueError(f"Operation value must be a valid Atlassian Document: {problem}")
    return raw if raw["content"] else None


def _parse_option(site: JiraSite, fdef: FieldDef, raw: Any) -> str:
    if isinstance(raw, dict) and ("id" in raw or "value" in raw):
        for option in fdef.options:
            if option.id == str(raw.get("id")) or option.value == raw.get("value"):
                return option.id
        shown = raw.get("value", raw.get("id"))
        raise FieldValueError(f"Option value '{shown}' is not valid")
    raise FieldValueError(f"Specify a valid 'id' or 'name' for {fdef.name}")


def _parse_datetime(site: JiraSite, fdef: FieldDef, raw: Any) -> datetime:
    if isinstance(raw, str):
        text = raw.replace("Z", "+00:00")
        if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit():
            text = f"{text[:-2]}:{text[-2:]}"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.astimezone(timezone.utc)
    raise FieldValueError(
        f"Invalid date format for {fdef.name}. Use yyyy-MM-dd'T'HH:mm:ss.SSSZ, "
        "e.g. 2026-12-01T10:00:00.000+0000."
    )


def _parse_user(site: JiraSite, fdef: FieldDef, raw: Any) -> str:
    account_id = raw.get("accountId") if isinstance(raw, dict) else None
    if not isinstance(account_id, str) or site.user_by_account(account_id) is None:
        raise FieldValueError(f"Specify a valid value for {fdef.name}")
    return account_id


def _parse_labels(site: JiraSite, fdef: FieldDef, raw: Any) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(label, str) for label in raw):
        raise FieldValueError("The labels must be a list of strings.")
    for label in raw:
        if not label or " " in label:
            raise FieldValueError("The label can't contain spaces.")
    return list(dict.fromkeys(raw))


_PARSERS = {
    "summary": _parse_summary,
    "description": _parse_document,
    "textarea": _parse_document,
    "option": _parse_option,
    "datetime": _parse_datetime,
    "user": _parse_user,
    "assignee": _parse_user,
    "reporter": _parse_user,
    "labels": _parse_labels,
}


def value_strings(site: JiraSite, fdef: FieldDef, value: Any) -> tuple[str | None, str | None]:
    """Return the changelog (raw, display) pair for an internal value."""
    if value is None or value == []:
        return None, None
    if fdef.kind == "option":
        option = next(o for o in fdef.options if o.id == value)
        return option.id, option.value
    if fdef.kind in {"description", "textarea"}:
        return None, adf_to_text(value, wiki=True)
    if fdef.kind == "datetime":
        return format_time(value), format_time(value)
    if fdef.kind in {"user", "assignee", "reporter"}:
        user = site.user_by_account(value)
        return value, user.display_name if user else None
    if fdef.kind == "labels":
        return None, " ".join(value)
    return None, str(value)


def change_item(site: JiraSite, fdef: FieldDef, old: Any, new: Any) -> dict[str, Any]:
    """Return a changelog item for a field's change from `old` to `new`."""
    old_raw, old_text = value_strings(site, fdef, old)
    new_raw, new_text = value_strings(site, fdef, new)
    return {
        "field": fdef.name if fdef.custom else fdef.id,
        "fieldtype": "custom" if fdef.custom else "jira",
        "fieldId": fdef.id,
        "from": old_raw,
        "fromString": old_text,
        "to": new_raw,
        "toString": new_text,
    }


def status_item(site: JiraSite, old: str | None, new: str, *, created: bool = False) -> dict:
    """Return the changelog item of a status change (capitalised "Status" on create, as Jira)."""
    return {
        "field": "Status" if created else "status",
        "fieldtype": "jira",
        "fieldId": "status",
        "from": old,
        "fromString": site.statuses[old].name if old else None,
        "to": new,
        "toString": site.statuses[new].name,
    }
