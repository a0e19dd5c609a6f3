"""The benchmark machinery at tiny sizes: the report has its shape, and its figures come from
real runs (a real Dagster run, the emulator's own counters, rows really pushed). Timing budgets
are measured by `make bench`, never asserted here."""

from __future__ import annotations

import json

import pytest

from mc_pipelines.bench import SCENARIO_NAMES
from mc_pipelines.bench.report import run_bench, table, write_report
from mc_pipelines.cli import main

TINY = {"per_member_baseline": 20, "api_bound": 600, "initial_load_1m": 300, "incremental_1m": 300,
        "cost_growth": 50, "validation_1m": 400}


def _check(scenario: dict, name: str) -> dict:
    return next(c for c in scenario["checks"] if c["name"] == name)


def test_report_shape_and_figures_from_real_runs(tmp_path):
    report = run_bench(["api_bound", "noop_resync", "validation_1m"], sizes=TINY, log=lambda _: None)

    machine = report["machine"]
    assert machine["cores_logical"] >= 1 and machine["memory_gb"] > 0
    assert machine["python"] and machine["versions"]["dagster"] and machine["versions"]["pandas"]
    assert report["emulator"] == {"mode": "process", "latency_ms": 40.0, "per_member_ms": 0.2,
                                  "max_connections": 10}
    assert list(report["scenarios"]) == ["api_bound", "noop_resync", "validation_1m"]
    for scenario in report["scenarios"].values():
        assert scenario["error"] is None
        assert scenario["checks"] and scenario["seconds"] >= 0
        for check in scenario["checks"]:
            assert set(check) == {"name", "value", "op", "target", "unit", "met"}

    # api_bound: 600 new contacts really pushed, in ceil(600/500) = 2 batch calls
    api = report["scenarios"]["api_bound"]["details"]
    assert api["calls"] == 2 and api["created"] == 600 and api["members_in_audience"] == 600
    assert api["bound_seconds"] == pytest.approx((2 * 40 + 0.2 * 600) / 1000 / 10)
    assert api["api_phase_seconds"] >= 0.04  # at least one modelled latency

    # noop_resync: a real run of the job (it read from Mailchimp) that wrote nothing
    noop = report["scenarios"]["noop_resync"]
    assert _check(noop, "write calls")["value"] == 0
    assert _check(noop, "writes seen by the emulator")["value"] == 0
    run = noop["details"]["run"]
    assert run["mailchimp_calls"] >= 1 and run["wall_seconds"] > 0 and run["peak_rss_mb"] > 0
    assert set(run["steps_seconds"]) == {"mailchimp_member_status", "source_contacts",
                                         "consented_contacts", "segment_members", "audience_sync"}

    validation = report["scenarios"]["validation_1m"]
    assert validation["details"]["rows"] == 400 and validation["details"]["failure_cases"] == 0

    out, md = write_report(report, tmp_path / "results.json")
    assert json.loads(out.read_text())["scenarios"]["noop_resync"]["met"] is True
    text = md.read_text()
    assert text.startswith(table(report))  # then the charts' links
    for name in report["scenarios"]:
        assert f"| {name} |" in text


@pytest.mark.slow
def test_every_scenario_through_the_cli(tmp_path, monkeypatch):
    import mc_pipelines.bench.report as report_module

    monkeypatch.setattr(report_module, "QUICK_SIZES", TINY)
    out = tmp_path / "results.json"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["quick"] is True and list(report["scenarios"]) == list(SCENARIO_NAMES)
    assert all(sc["error"] is None for sc in report["scenarios"].values())

    baseline = report["scenarios"]["per_member_baseline"]["details"]
    assert baseline["per_member"]["put_calls"] == 20 and baseline["per_member"]["members_in_audience"] == 20
    assert baseline["batched"]["members_in_audience"] == 20 and baseline["batched"]["write_calls"] == 1

    incremental = report["scenarios"]["incremental_1m"]
    assert incremental["details"]["in_sync_check_run"]["write_calls"] == 0
    assert _check(incremental, "write calls - minimal 500-row calls")["value"] == 0
    assert incremental["details"]["run"]["mailchimp_write_calls"] == incremental["details"]["minimal_write_calls"] > 0
    # noop_resync re-ran the incremental org right after its incremental run
    assert report["scenarios"]["noop_resync"]["details"]["setup"]["reused"]
    assert _check(report["scenarios"]["noop_resync"], "write calls")["value"] == 0
