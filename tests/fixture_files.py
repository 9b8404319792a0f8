"""Load real (scrubbed) Jira payloads stored under tests/fixtures/jira/."""

import json
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "jira"


def load_fixture(name: str) -> dict:
    """Return the parsed JSON fixture ``name``."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))
