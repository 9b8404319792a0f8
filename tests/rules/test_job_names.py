"""Job ids of the deployment gate: valid for RQ, the same for a redelivery, distinct otherwise."""

from __future__ import annotations

import itertools

import pytest
from rq.job import JOB_ID_PATTERN

from rules.job_names import finish_job_id, gate_job_id

DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"  # a GitHub delivery id
SAFE_DELIVERY = "72d3162e_cc78_11e3_81ab_4c9367dc0958_9514e6751b"

# id, deployment id, what asked (a delivery, a poll), the judgement's job id
GATE_IDS = [
    ("github", "github:acme/shop:run:42:production", DELIVERY,
     f"cg-gate-github_acme_shop_run_42_production_6f2706f6b5-{SAFE_DELIVERY}"),
    ("gitlab", "gitlab:7:deployment:15", "1f0c-delivery",
     "cg-gate-gitlab_7_deployment_15_59c681e35c-1f0c_delivery_92f66ad3aa"),
    ("generic", "generic:jenkins:42", "0123abcd", "cg-gate-generic_jenkins_42_5015b3dcb2-0123abcd"),
    ("letters-and-digits-kept-as-they-are", "deploy7eu", "poll1", "cg-gate-deploy7eu-poll1"),
    ("dash-and-underscore-hashed", "deploy_7-eu", "poll-1",
     "cg-gate-deploy_7_eu_464f36d363-poll_1_aea0033edd"),
    ("slash-replaced-and-hashed", "a/b", "x", "cg-gate-a_b_c14cddc033-x"),
    ("non-ascii-replaced-and-hashed", "é", "x", "cg-gate-__4a99557e40-x"),
    ("asked-hashed-too", "run-7", "poll 2", "cg-gate-run_7_b4c05df045-poll_2_2228055951"),
]


@pytest.mark.parametrize("deployment_id, asked, expected", [g[1:] for g in GATE_IDS],
                         ids=[g[0] for g in GATE_IDS])
def test_gate_job_id(deployment_id, asked, expected):
    job_id = gate_job_id("cg", deployment_id, asked)
    assert job_id == expected
    assert JOB_ID_PATTERN.fullmatch(job_id)


# id, run id, what asked, the finish's job id
FINISH_IDS = [
    ("github", "github:acme/shop:run:42", DELIVERY,
     f"cg-finish-github_acme_shop_run_42_59da04a195-{SAFE_DELIVERY}"),
    ("letters-and-digits-kept-as-they-are", "run7", "0123abcd", "cg-finish-run7-0123abcd"),
    ("asked-hashed", "run-7", "poll 2", "cg-finish-run_7_b4c05df045-poll_2_2228055951"),
]


@pytest.mark.parametrize("run_id, asked, expected", [f[1:] for f in FINISH_IDS],
                         ids=[f[0] for f in FINISH_IDS])
def test_finish_job_id(run_id, asked, expected):
    job_id = finish_job_id("cg", run_id, asked)
    assert job_id == expected
    assert JOB_ID_PATTERN.fullmatch(job_id)


# Parts that read the same once made safe: each must still name its own job.
# "a_b_c14cddc033" is "a/b" made safe; "a-b" and "b-c" could move the separator.
LOOK_ALIKES = ("a/b", "a_b", "a:b", "a b", "a.b", "a\u00e9b", "a\nb", "A/B", "a//b", "a__b", "",
               "a_b_c14cddc033", "a", "a-b", "b-c", "c")


@pytest.mark.parametrize("make", [gate_job_id, finish_job_id], ids=["gate", "finish"])
def test_look_alike_parts_give_distinct_valid_ids(make):
    ids = {make("cg", part, asked) for part, asked in itertools.product(LOOK_ALIKES, repeat=2)}
    assert len(ids) == len(LOOK_ALIKES) ** 2
    assert all(JOB_ID_PATTERN.fullmatch(job_id) for job_id in ids)


def test_a_redelivery_gets_the_same_id_and_a_new_poll_a_new_one():
    first = gate_job_id("cg", "generic:jenkins:42", "answer-1")
    assert (gate_job_id("cg", "generic:jenkins:42", "answer-1"),
            gate_job_id("cg", "generic:jenkins:42", "answer-2") != first) == (first, True)


def test_gate_and_finish_ids_of_the_same_run_differ():
    run = "github:acme/shop:run:42"
    assert gate_job_id("cg", run, DELIVERY) != finish_job_id("cg", run, DELIVERY)
