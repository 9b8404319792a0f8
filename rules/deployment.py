"""A deployment a pipeline asks the gate about, how it ends, and its record on the change."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping
from typing import Any

# The issue property holding a change's deployments (the audit of what the gate allowed).
PROPERTY_KEY = "changeguard.deployments"
MAX_DEPLOYMENTS = 30
# Jira refuses a property value over 32,768 characters: the oldest entries go first.
PROPERTY_BUDGET = 30_000
MAX_GLOBAL_ID = 255  # Jira's limit on a remote link's global id


class Vendor(str, enum.Enum):
    """Which front end a deployment came through: how it is answered."""

    GITHUB = "github"
    GITLAB = "gitlab"
    GENERIC = "generic"


class DeployResult(str, enum.Enum):
    """How a deployment ended, as the pipeline reports it."""

    SUCCESS = "success"
    FAILURE = "failure"
    ROLLED_BACK = "rolled_back"


@dataclasses.dataclass(frozen=True)
class DeployRequest:
    """One deployment waiting at the gate, as its front end saw it.

    ``deployment_id`` is unique across vendors and stable across redeliveries and polls (e.g.
    ``github:acme/shop:run:42:production``, ``gitlab:7:deployment:15``, ``generic:jenkins:<id>``).
    ``run_id`` names the pipeline run that ends it (a run may carry several deployments).
    ``texts`` are where a change key may stand, in order: pull request titles, the branch name,
    the head commit message. ``reply`` is what the front end needs to answer (GitHub:
    installation_id, owner, repo, run_id; GitLab: project_id, deployment_id; generic:
    answer_key); ``template`` a Standard template the pipeline declared.
    """

    vendor: Vendor
    deployment_id: str
    environment: str
    run_id: str = ""
    explicit_key: str | None = None
    texts: tuple[str, ...] = ()
    sha: str = ""
    ref: str = ""
    run_url: str = ""
    triggered_by: str = ""
    triggered_by_email: str | None = None
    reply: tuple[tuple[str, str], ...] = ()
    template: str | None = None
    requested_at: str = ""  # ISO 8601, when the pipeline asked

    def reply_value(self, name: str) -> str:
        """Return one value the front end needs to answer this deployment."""
        return dict(self.reply)[name]

    def with_texts(self, *more: str) -> DeployRequest:
        """Return this request with further places a change key may stand (e.g. the commit)."""
        return dataclasses.replace(self, texts=self.texts + tuple(t for t in more if t))

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form RQ job arguments and Redis keep."""
        value = dataclasses.asdict(self)
        value["vendor"] = self.vendor.value
        value["texts"] = list(self.texts)
        value["reply"] = dict(self.reply)
        return value

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> DeployRequest:
        """Rebuild a request from its JSON form (raises ValueError/KeyError/TypeError if bad)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        given = {k: v for k, v in value.items() if k in fields}
        given["vendor"] = Vendor(given["vendor"])
        given["texts"] = tuple(str(t) for t in given.get("texts") or ())
        given["reply"] = tuple(sorted((str(k), str(v))
                                      for k, v in dict(given.get("reply") or {}).items()))
        return cls(**given)


@dataclasses.dataclass(frozen=True)
class DeployFinish:
    """A pipeline run that ended: which run, how, and whether it was the change's last deploy."""

    vendor: Vendor
    run_id: str
    result: DeployResult
    is_last: bool = True
    run_url: str = ""
    explicit_key: str | None = None  # the generic gate may name the change again
    finished_at: str = ""
    environment: str = ""  # where it deployed, when the pipeline says (the generic gate)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form RQ job arguments keep."""
        value = dataclasses.asdict(self)
        value["vendor"] = self.vendor.value
        value["result"] = self.result.value
        return value

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> DeployFinish:
        """Rebuild a finish from its JSON form."""
        fields = {f.name for f in dataclasses.fields(cls)}
        given = {k: v for k, v in value.items() if k in fields}
        given["vendor"] = Vendor(given["vendor"])
        given["result"] = DeployResult(given["result"])
        return cls(**given)


def outcome_for(result: DeployResult, outcomes: tuple[str, ...]) -> str:
    """Return the Outcome option for ``result``: the policy lists success, failure, rollback."""
    return outcomes[min(list(DeployResult).index(result), len(outcomes) - 1)]


class DeployState(str, enum.Enum):
    """Where a deployment the gate answered stands, as the change's record shows it."""

    WAITING = "waiting"
    ALLOWED = "allowed"
    DENIED = "denied"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


FINISHED_STATES = {DeployResult.SUCCESS: DeployState.SUCCEEDED,
                   DeployResult.FAILURE: DeployState.FAILED,
                   DeployResult.ROLLED_BACK: DeployState.ROLLED_BACK}
# The deployments the gate let through, whatever became of them since.
LET_THROUGH = frozenset({DeployState.ALLOWED, *FINISHED_STATES.values()})


@dataclasses.dataclass(frozen=True)
class DeploymentEntry:
    """One deployment of a change, as its record on the issue keeps it (the gate's audit)."""

    deployment_id: str
    run_id: str
    vendor: str
    environment: str
    state: DeployState
    reason: str
    at: str  # when the gate last answered, or the run ended
    sha: str = ""
    ref: str = ""
    run_url: str = ""
    triggered_by: str = ""
    approvals: tuple[str, ...] = ()  # who approved the change, as "Role: name" (allowed only)

    def to_json(self) -> dict[str, Any]:
        """Return the property form of the entry."""
        value = dataclasses.asdict(self)
        value["state"] = self.state.value
        value["reason"] = self.reason[:300]
        value["approvals"] = list(self.approvals)
        return value


@dataclasses.dataclass(frozen=True)
class DeploymentsRecord:
    """The deployments of one change (its issue property), oldest first."""

    entries: tuple[DeploymentEntry, ...] = ()

    def entry(self, deployment_id: str) -> DeploymentEntry | None:
        """Return the entry of ``deployment_id``, if the gate answered it before."""
        return next((e for e in self.entries if e.deployment_id == deployment_id), None)

    def of_run(self, run_id: str) -> tuple[DeploymentEntry, ...]:
        """Return the entries of one pipeline run."""
        return tuple(e for e in self.entries if e.run_id == run_id)

    def in_progress(self) -> DeploymentEntry | None:
        """Return the latest deployment the gate let through that has not ended, if any."""
        return next((e for e in reversed(self.entries) if e.state is DeployState.ALLOWED), None)

    def still_deploying(self, run_id: str) -> tuple[DeploymentEntry, ...]:
        """Return the other runs' deployments of the same commit the gate let through that have
        not ended: the change is not implemented until they have (several regions, say)."""
        shas = {e.sha for e in self.of_run(run_id) if e.sha}
        return tuple(e for e in self.entries if e.run_id != run_id and e.sha in shas
                     and e.state is DeployState.ALLOWED)

    def commit_result(self, run_id: str, result: DeployResult) -> DeployResult:
        """Return how the run's commit went everywhere it was deployed, ``result`` being this
        run's: a rollback anywhere, else a failure anywhere, else success."""
        shas = {e.sha for e in self.of_run(run_id) if e.sha}
        ended = {e.state for e in self.entries if e.sha in shas}
        results = {result} | {r for r, state in FINISHED_STATES.items() if state in ended}
        return next(r for r in (DeployResult.ROLLED_BACK, DeployResult.FAILURE,
                                DeployResult.SUCCESS) if r in results)

    def latest(self) -> DeploymentEntry | None:
        """Return the latest deployment the gate let through, running or ended, if any."""
        return next((e for e in reversed(self.entries)
                     if e.state in LET_THROUGH),
                    None)

    def with_entry(self, entry: DeploymentEntry) -> DeploymentsRecord:
        """Return the record with ``entry`` replacing the one of its deployment (or added)."""
        kept = tuple(e for e in self.entries if e.deployment_id != entry.deployment_id)
        record = DeploymentsRecord((*kept, entry)[-MAX_DEPLOYMENTS:])
        while len(record.entries) > 1 and _size(record) > PROPERTY_BUDGET:
            record = DeploymentsRecord(record.entries[1:])
        return record

    def to_json(self) -> dict[str, Any]:
        """Return the property value."""
        return {"deployments": [e.to_json() for e in self.entries]}


# The entry's fields a property must hold as strings (a null would fail the next write).
TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(DeploymentEntry)
                    if f.name not in ("state", "approvals"))


def _size(record: DeploymentsRecord) -> int:
    return len(json.dumps(record.to_json(), separators=(",", ":")))


def parse_deployments(value: Any) -> DeploymentsRecord:
    """Read the property; a missing one, or entries that do not parse, are left out."""
    if not isinstance(value, Mapping) or not isinstance(value.get("deployments"), list):
        return DeploymentsRecord()
    entries = []
    for item in value["deployments"]:
        try:
            entry = DeploymentEntry(**{
                **item, "state": DeployState(item["state"]),
                "approvals": tuple(str(a) for a in item.get("approvals") or ())})
        except (TypeError, KeyError, ValueError):
            continue  # written by another version: not worth failing a deployment over
        if all(isinstance(getattr(entry, name), str) for name in TEXT_FIELDS):
            entries.append(entry)
    return DeploymentsRecord(tuple(entries))


STATE_WORDS = {DeployState.WAITING: "waiting for approval", DeployState.ALLOWED: "in progress",
               DeployState.DENIED: "denied", DeployState.SUCCEEDED: "succeeded",
               DeployState.FAILED: "failed", DeployState.ROLLED_BACK: "rolled back"}
VENDOR_NAMES = {"github": "GitHub Actions", "gitlab": "GitLab", "generic": "pipeline"}


def remote_link(entry: DeploymentEntry) -> dict[str, Any] | None:
    """Return the remote link of the entry's run on the change (one per run, updated in place
    by its global id), or None for a run with no page to link to."""
    if not entry.run_url:
        return None
    by = f", triggered by {entry.triggered_by}" if entry.triggered_by else ""
    commit = f" of {entry.sha[:12]}" if entry.sha else ""
    global_id = f"changeguard-deployment={entry.run_id}"
    if len(global_id) > MAX_GLOBAL_ID:  # a generic pipeline names its runs as it likes
        global_id = ("changeguard-deployment=sha256:"
                     + hashlib.sha256(entry.run_id.encode()).hexdigest())
    return {
        "globalId": global_id,
        "application": {"type": "changeguard.deployment", "name": "changeguard"},
        "relationship": "deployed by",
        "object": {
            "url": entry.run_url,
            "title": f"Deployment to {entry.environment}: {STATE_WORDS[entry.state]}",
            "summary": f"{VENDOR_NAMES.get(entry.vendor, entry.vendor)} run{commit}{by}",
            "status": {"resolved": entry.state in FINISHED_STATES.values()},
        },
    }


def deployment_lines(record: DeploymentsRecord) -> tuple[str, ...]:
    """Return the change's deployments for `changeguard check`, newest first, one line each."""
    if not record.entries:
        return ("Deployments: none through the deployment gate yet.",)
    lines = ["Deployments (newest first):"]
    for e in reversed(record.entries):
        commit = f" commit {e.sha[:12]}" if e.sha else ""
        by = f" by {e.triggered_by}" if e.triggered_by else ""
        run = f" {e.run_url}" if e.run_url else ""
        lines.append(f"  {e.at} {e.environment}: {STATE_WORDS[e.state]} "
                     f"({VENDOR_NAMES.get(e.vendor, e.vendor)}{commit}{by}){run}")
        if e.state is DeployState.DENIED or e.state is DeployState.WAITING:
            lines.append(f"    {e.reason}")
        elif e.approvals:
            lines.append(f"    allowed on the approvals of {', '.join(e.approvals)}")
    return tuple(lines)
