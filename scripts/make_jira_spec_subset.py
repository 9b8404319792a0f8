"""Write the sandbox's carried Jira OpenAPI subset from Atlassian's full spec, or check it.

Provenance: the input is Atlassian's published OpenAPI 3.0 spec of the Jira Cloud platform
REST API v3 (swagger-v3.v3.json on developer.atlassian.com, linked from the REST v3 reference;
../shared/jira/SOURCES.md records the copy we use). The output,
sandbox/openapi/jira-rest-v3-subset.json, keeps for every operation the sandbox routes under
/rest/api/3/ (read from the sandbox's own routing table) its parameters, request body,
responses and the components they reference, without prose; every other Jira operation
keeps only its path and method.

To refresh: download the spec, run
    .venv/bin/python scripts/make_jira_spec_subset.py --spec PATH
then run tests/sandbox and review the diff. After adding a route to the sandbox, run it again
(tests/sandbox/test_spec_subset.py fails until the subset covers the new route).
`--check` exits 1 when the committed file differs from what the spec would give.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's sandbox, even where it is not installed

from sandbox.jira_app import URL_MAP  # noqa: E402
from sandbox.spec_subset import SUBSET_PATH, make_subset, render, routed_operations  # noqa: E402

DEFAULT_SPEC = ROOT.parent / "shared" / "jira" / "jira-platform-openapi-v3.json"
SHOWN = SUBSET_PATH.relative_to(ROOT)


def main(argv: list[str] | None = None) -> int:
    """Generate the subset (or compare it with the committed one); return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC,
                        help="Atlassian's full Jira REST v3 OpenAPI spec (JSON)")
    parser.add_argument("--check", action="store_true",
                        help="only tell whether the committed subset is up to date")
    args = parser.parse_args(argv)
    if not args.spec.is_file():
        parser.exit(2, f"error: Jira OpenAPI spec not found at {args.spec}; pass --spec PATH\n")
    with args.spec.open(encoding="utf-8") as handle:
        spec = json.load(handle)
    text = render(make_subset(spec, routed_operations(URL_MAP)))
    if args.check:
        current = SUBSET_PATH.read_text(encoding="utf-8") if SUBSET_PATH.is_file() else ""
        if current != text:
            sys.stderr.write(f"{SHOWN} is out of date; "
                             "run scripts/make_jira_spec_subset.py\n")
            return 1
        sys.stdout.write(f"{SHOWN} is up to date\n")
        return 0
    SUBSET_PATH.parent.mkdir(exist_ok=True)
    SUBSET_PATH.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {SHOWN} ({len(text.encode())} bytes)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
