"""Read the issue's changelog: status moves and material edits, so late events are judged in order."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .approvals import MATERIAL_FIELDS
from .material_edit import FieldChange
from .policy import FieldRole, StatusRole
from .site_map import SiteMap


@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    """One changelog entry: who, and the status move and material edits it recorded."""

    id: int
    actor: str | None
    at: str = ""
    from_status_id: str | None = None
    to_status_id: str | None = None
    edits: tuple[FieldChange, ...] = ()


def parse_history(issue: Mapping[str, Any], site: SiteMap) -> tuple[HistoryEntry, ...]:
    """Return the changelog of a REST issue (expand=changelog), oldest first, whatever Jira's order."""
    changelog = issue.get("changelog")
    histories = changelog.get("histories") if isinstance(changelog, Mapping) else None
    if not isinstance(histories, list):
        return ()
    material = {site.field_id(role): role for role in MATERIAL_FIELDS}
    entries = []
    for history in histories:
        if not isinstance(history, Mapping) or not str(history.get("id", "")).isdigit():
            continue
        author = history.get("author")
        actor = author.get("accountId") if isinstance(author, Mapping) else None
        status: tuple[Any, Any] = (None, None)
        edits = []
        items = history.get("items")
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, Mapping):
                continue
            field_id = item.get("fieldId") or item.get("field")
            if not isinstance(field_id, str):
                continue
            if field_id.lower() == "status":
                status = (item.get("from"), item.get("to"))
            elif field_id in material:
                edits.append(FieldChange(material[field_id], _shown(item.get("fromString")),
                                         _shown(item.get("toString"))))
        created = history.get("created")
        entries.append(HistoryEntry(int(history["id"]), actor if isinstance(actor, str) else None,
                                    created if isinstance(created, str) else "",
                                    status[0], status[1], tuple(edits)))
    return tuple(sorted(entries, key=lambda entry: entry.id))


def changelog_is_complete(issue: Mapping[str, Any]) -> bool:
    """Tell whether a REST issue's changelog holds every history (a search expands the latest 40)."""
    changelog = issue.get("changelog")
    if not isinstance(changelog, Mapping):
        return False
    histories, total = changelog.get("histories"), changelog.get("total")
    return isinstance(histories, list) and isinstance(total, int) and total <= len(histories)


def latest_status_move(history: tuple[HistoryEntry, ...]) -> int | None:
    """Return the changelog id of the most recent status move, if the changelog shows one."""
    ids = [entry.id for entry in history if entry.to_status_id is not None]
    return max(ids) if ids else None


def edits_after(history: tuple[HistoryEntry, ...], changelog_id: int) -> tuple[FieldChange, ...]:
    """Return the material edits made after ``changelog_id``, one per field (first before, last after)."""
    merged: dict[FieldRole, FieldChange] = {}
    for entry in history:
        if entry.id <= changelog_id:
            continue
        for edit in entry.edits:
            first = merged.get(edit.field)
            merged[edit.field] = edit if first is None else FieldChange(edit.field, first.before,
                                                                        edit.after)
    return tuple(merged[role] for role in MATERIAL_FIELDS if role in merged)


def last_editor(history: tuple[HistoryEntry, ...], changelog_id: int) -> str | None:
    """Return who made the last material edit after ``changelog_id``."""
    editors = [entry.actor for entry in history if entry.id > changelog_id and entry.edits]
    return editors[-1] if editors else None


def approval_moves_between(history: tuple[HistoryEntry, ...], after: int, before: int,
                           site: SiteMap) -> tuple[HistoryEntry, ...]:
    """Return people's Awaiting Approval → Approved moves with after < id < before."""
    return tuple(
        entry for entry in history
        if after < entry.id < before and entry.actor != site.bot_account_id
        and site.status_role(entry.from_status_id) is StatusRole.AWAITING_APPROVAL
        and site.status_role(entry.to_status_id) is StatusRole.APPROVED
    )


def _shown(value: Any) -> str:
    flat = " ".join(str(value).split()) if value is not None else ""
    return flat if len(flat) <= 200 else flat[:199] + "…"
