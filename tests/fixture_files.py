"""Load real (scrubbed) Jira payloads stored under tests/fixtures/jira/."""

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "jira"


def load_fixture(name: str) -> Any:
    """Return the decoded JSON of tests/fixtures/jira/<name> (".json" optional)."""
    path = FIXTURES / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))
