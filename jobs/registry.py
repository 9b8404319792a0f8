"""Every job the rules name, mapped to its function: where a JobName leads with go-to-definition."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rules.job_names import JobName

from .deploy_gate import judge_deployment, release_waiting
from .deploy_outcome import finish_deployment, flag_ungated
from .deployment_notices import announce_deployment
from .enforce_edit import enforce_edit
from .enforce_transition import enforce_transition
from .freeze_declared import recheck_freeze, withdraw_for_freeze
from .slack_approvals import request_emergency_approval

JOBS: Mapping[JobName, Callable[..., Any]] = {
    JobName.ENFORCE_TRANSITION: enforce_transition,
    JobName.ENFORCE_EDIT: enforce_edit,
    JobName.ANNOUNCE_DEPLOYMENT: announce_deployment,
    JobName.REQUEST_EMERGENCY_APPROVAL: request_emergency_approval,
    JobName.JUDGE_DEPLOYMENT: judge_deployment,
    JobName.FINISH_DEPLOYMENT: finish_deployment,
    JobName.RELEASE_WAITING: release_waiting,
    JobName.FLAG_UNGATED: flag_ungated,
    JobName.RECHECK_FREEZE: recheck_freeze,
    JobName.WITHDRAW_FOR_FREEZE: withdraw_for_freeze,
}
