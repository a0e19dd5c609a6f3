"""One pass of the whole pure chain over a 1,000,000-contact org with 1% changed.

Marked slow (run by `make bench` / `-m slow`). It asserts correctness only; the timings are
printed for the record (run with `-s` to see them) — timing budgets are measured by the
benchmarks, never asserted by tests.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import psutil
import pytest

from mc_pipelines.schemas import CohortSchema
from mc_pipelines.sync.batching import minimal_call_count, plan_calls
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.desired import desired_members
from mc_pipelines.sync.diff import diff_audience
from mc_pipelines.sync.segments import segment_membership
from mc_pipelines.sync.simulate import state_from_desired
from mc_pipelines_tests.support.factories import AUDIENCE, synthetic_segments, synthetic_source

N = 1_000_000


@pytest.mark.slow
def test_one_million_contacts_one_percent_changed():
    timings: dict[str, tuple[float, float, float]] = {}
    process = psutil.Process()

    def timed(label, fn):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        timings[label] = (time.perf_counter() - wall, time.process_time() - cpu,
                          process.memory_info().rss / 2**20)
        return result

    source = synthetic_source(N, seed=7)
    CohortSchema.validate(build_cohort(source.head(100)).cohort)  # pandera's lazy imports
    cohort_result = timed("cohort", lambda: build_cohort(source))
    cohort = cohort_result.cohort
    timed("pandera", lambda: CohortSchema.validate(cohort, inplace=True))
    membership, summary = timed(
        "segments", lambda: segment_membership(cohort, synthetic_segments(), AUDIENCE)
    )
    desired_all = timed("desired", lambda: desired_members(cohort, membership, AUDIENCE))
    desired = desired_all[desired_all["audience_id"] == AUDIENCE].reset_index(drop=True)

    # Last run's state: everyone pushed, then 1% changed in the application.
    state = state_from_desired(desired)
    rng = np.random.default_rng(3)
    picked = rng.choice(len(state), size=len(state) // 100, replace=False)
    changed, dropped, left = np.array_split(picked, 3)
    state.loc[changed, "payload_hash"] = "0" * 32  # profile edits → updates
    leavers = state.loc[left].assign(
        subscriber_hash=[f"{i:032x}" for i in range(len(left))],
    )
    state = pd.concat([state.drop(index=dropped), leavers], ignore_index=True)

    plan = timed("diff", lambda: diff_audience(desired, state))
    calls = timed("plan_calls", lambda: plan_calls(plan))

    assert cohort_result.counts["read"] == N
    assert sum(v for k, v in cohort_result.counts.items() if k != "read") == N
    assert summary["error"].notna().sum() == 1
    assert plan.counts["creates"] == len(dropped)
    assert plan.counts["updates"] == len(changed)
    assert plan.counts["unsubscribes"] == len(left)
    assert calls.total == minimal_call_count(plan)

    print(f"\n1M contacts: {len(cohort):,} in the cohort, {plan.write_rows:,} rows to write "
          f"in {calls.total} calls")
    print(f"  {'step':<11} {'wall':>7} {'cpu':>7} {'rss after':>10}")
    for label, (wall, cpu, rss) in timings.items():
        print(f"  {label:<11} {wall:6.2f}s {cpu:6.2f}s {rss:8,.0f} MB")
