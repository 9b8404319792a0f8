"""Convert between plain text and Atlassian Document Format, and check ADF as Jira does."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_INLINE_TYPES = frozenset({"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"})


def text_to_adf(text: str) -> dict[str, Any]:
    """Return an ADF document: one paragraph per blank-line-separated block, hard breaks inside."""
    content: list[dict[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        inline: list[dict[str, Any]] = []
        for index, line in enumerate(lines):
            if index:
                inline.append({"type": "hardBreak"})
            if line:
                inline.append({"type": "text", "text": line})
        if any(node["type"] == "text" for node in inline):
            content.append({"type": "paragraph", "content": inline})
    return {"type": "doc", "version": 1, "content": content}


def adf_to_text(doc: Any, *, wiki: bool = False) -> str:
    """Return the plain text of an ADF document; mentions as Jira wiki markup when `wiki`."""
    if doc is None:
        return ""
    if isinstance(doc, str):
        return doc
    blocks = [_node_text(node, wiki) for node in doc.get("content", [])]
    return "\n\n".join(block for block in blocks if block)


def _node_text(node: dict[str, Any], wiki: bool) -> str:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        if wiki:
            return f"[~accountid:{attrs.get('id', '')}]"
        return str(attrs.get("text") or f"@{attrs.get('id', '')}")
    if kind == "emoji":
        return str(attrs.get("text") or attrs.get("shortName", ""))
    if kind in {"inlineCard", "blockCard"}:
        return str(attrs.get("url", ""))
    children = node.get("content", [])
    if kind in {"bulletList", "orderedList"}:
        return "\n".join(f"* {_node_text(item, wiki)}" for item in children)
    if kind == "listItem":
        return "\n".join(_node_text(child, wiki) for child in children)
    if children and all(child.get("type") in _INLINE_TYPES for child in children):
        return "".join(_node_text(child, wiki) for child in children)
    return "\n\n".join(_node_text(child, wiki) for child in children)


def adf_problem(doc: Any) -> str | None:
    """Return why Jira would reject this ADF document, or None when it is acceptable."""
    if not isinstance(doc, dict) or doc.get("type") != "doc":
        return "The document must be an object of type 'doc'."
    if doc.get("version") != 1:
        return "The document version must be 1."
    if not isinstance(doc.get("content"), list):
        return "The document must have a content array."
    return _node_problem(doc["content"])


def _node_problem(nodes: list[Any]) -> str | None:
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            return "Every node must be an object with a type."
        if node["type"] == "text" and not (isinstance(node.get("text"), str) and node["text"]):
            return "Text nodes must have non-empty text."
        children = node.get("content", [])
        if not isinstance(children, list):
            return "A node's content must be an array."
        problem = _node_problem(children)
        if problem:
            return problem
    return None
