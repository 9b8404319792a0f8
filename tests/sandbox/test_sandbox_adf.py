"""Plain text <-> ADF conversion and Jira's ADF checks in the sandbox."""

from __future__ import annotations

import pytest

from sandbox.adf import adf_problem, adf_to_text, text_to_adf


def _paragraph(*nodes):
    return {"type": "paragraph", "content": list(nodes)}


def _text(value):
    return {"type": "text", "text": value}


@pytest.mark.parametrize(
    ("text", "content"),
    [
        ("One line", [_paragraph(_text("One line"))]),
        ("a\nb", [_paragraph(_text("a"), {"type": "hardBreak"}, _text("b"))]),
        ("a\n\nb", [_paragraph(_text("a")), _paragraph(_text("b"))]),
        ("", []),
    ],
    ids=["line", "hard-break", "paragraphs", "empty"],
)
def test_text_to_adf_and_back(text, content):
    doc = text_to_adf(text)
    assert doc == {"type": "doc", "version": 1, "content": content}
    assert adf_problem(doc) is None
    assert adf_to_text(doc) == text


def test_mentions_and_lists():
    doc = {"type": "doc", "version": 1, "content": [
        _paragraph(_text("Ping "), {"type": "mention", "attrs": {"id": "712020:x", "text": "@X"}}),
        {"type": "bulletList", "content": [
            {"type": "listItem", "content": [_paragraph(_text("one"))]},
            {"type": "listItem", "content": [_paragraph(_text("two"))]},
        ]},
    ]}
    assert adf_to_text(doc) == "Ping @X\n\n* one\n* two"
    assert adf_to_text(doc, wiki=True) == "Ping [~accountid:712020:x]\n\n* one\n* two"


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ("text", "The document must be an object of type 'doc'."),
        ({"type": "doc", "version": 2, "content": []}, "The document version must be 1."),
        ({"type": "doc", "version": 1}, "The document must have a content array."),
        ({"type": "doc", "version": 1, "content": [_paragraph(_text(""))]},
         "Text nodes must have non-empty text."),
        ({"type": "doc", "version": 1, "content": [{"content": []}]},
         "Every node must be an object with a type."),
    ],
    ids=["not-a-dict", "version", "no-content", "empty-text", "no-type"],
)
def test_adf_problems(doc, problem):
    assert adf_problem(doc) == problem
