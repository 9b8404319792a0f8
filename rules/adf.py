"""Convert Atlassian Document Format to plain text and build small ADF documents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_BLOCK_TYPES = frozenset(
    {"paragraph", "heading", "blockquote", "codeBlock", "listItem", "tableCell", "tableHeader",
     "panel", "rule", "mediaSingle", "expand", "nestedExpand", "decisionItem", "taskItem"}
)


def adf_to_text(value: Any) -> str | None:
    """Return the plain text of an ADF document (or a plain string); None when there is none."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if not isinstance(value, Mapping):
        return None
    parts: list[str] = []
    _collect_text(value, parts)
    text = "".join(parts).strip()
    return "\n".join(line.rstrip() for line in text.splitlines())


def _collect_text(node: Mapping[str, Any], parts: list[str]) -> None:
    node_type = node.get("type")
    if node_type == "text":
        text = node.get("text")
        parts.append(text if isinstance(text, str) else "")
        return
    if node_type == "hardBreak":
        parts.append("\n")
        return
    if node_type in {"mention", "emoji", "status", "date", "inlineCard"}:
        attrs = node.get("attrs")
        if isinstance(attrs, Mapping):
            label = attrs.get("text") or attrs.get("shortName") or attrs.get("url")
            if not label and node_type == "mention" and attrs.get("id"):
                label = f"@{attrs['id']}"  # Jira shows the name; plain text shows the account
            if isinstance(label, str):
                parts.append(label)
        return
    content = node.get("content")
    if node_type == "tableRow":
        # A row reads as one line, its cells apart: "Category | Measure | Last week".
        cells = [adf_to_text(cell) or "" for cell in
                 (content if isinstance(content, list) else []) if isinstance(cell, Mapping)]
        parts.append(" | ".join(" ".join(cell.split()) for cell in cells) + "\n")
        return
    if isinstance(content, list):
        for child in content:
            if isinstance(child, Mapping):
                _collect_text(child, parts)
    if node_type in _BLOCK_TYPES:
        parts.append("\n")


# Builders for the comments changeguard writes. ADF text nodes may not be empty.


def text(value: str, *marks: str) -> dict[str, Any]:
    """Return an ADF text node, optionally with marks such as "strong" or "code"."""
    node: dict[str, Any] = {"type": "text", "text": value}
    if marks:
        node["marks"] = [{"type": mark} for mark in marks]
    return node


def mention(account_id: str) -> dict[str, Any]:
    """Return an ADF mention of a Jira user by account id."""
    return {"type": "mention", "attrs": {"id": account_id}}


def paragraph(*inline: dict[str, Any]) -> dict[str, Any]:
    """Return an ADF paragraph of inline nodes."""
    return {"type": "paragraph", "content": [node for node in inline if node.get("text") != ""]}


def bullet_list(items: Iterable[Iterable[dict[str, Any]]]) -> dict[str, Any]:
    """Return an ADF bullet list, one paragraph of inline nodes per item."""
    return {
        "type": "bulletList",
        "content": [{"type": "listItem", "content": [paragraph(*item)]} for item in items],
    }


def table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> dict[str, Any]:
    """Return an ADF table: a header row, then one row of plain-text cells per row."""
    def row(cell_type: str, cells: Iterable[str]) -> dict[str, Any]:
        return {"type": "tableRow", "content": [
            {"type": cell_type, "attrs": {}, "content": [paragraph(text(cell))]}
            for cell in cells]}

    return {"type": "table", "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
            "content": [row("tableHeader", header), *(row("tableCell", r) for r in rows)]}


def document(*blocks: dict[str, Any]) -> dict[str, Any]:
    """Return an ADF document of the given blocks."""
    return {"type": "doc", "version": 1, "content": list(blocks)}
