"""Each job the rules name leads to its function, and RQ stores that function under the name."""

from __future__ import annotations

import pytest

from jobs.registry import JOBS
from rules.job_names import JobName


@pytest.mark.parametrize("name", list(JobName), ids=[n.name for n in JobName])
def test_each_name_is_the_dotted_path_of_its_function(name):
    func = JOBS[name]
    assert f"{func.__module__}.{func.__qualname__}" == name.value


def test_every_name_has_a_function():
    assert set(JOBS) == set(JobName)
