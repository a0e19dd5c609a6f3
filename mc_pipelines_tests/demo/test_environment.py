"""The demo's Dagster instance (the one `make dev` opens): the production run queue on embedded
storage, and a fresh storage for every seeded dataset — but never an operator's own instance."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    QueuedRunCoordinator,
    asset,
    define_asset_job,
)

from mc_pipelines.demo.environment import (
    CHECKOUT,
    MANAGED_MARKER,
    fresh_demo_instance,
    prepare_demo_environment,
)


@pytest.fixture
def demo_home(tmp_path, monkeypatch) -> Path:
    """DAGSTER_HOME and the application DB of a demo under `tmp_path`."""
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("MC_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    return home


@asset
def dataset_marker() -> str:
    """A step output stored by the default IO manager under DAGSTER_HOME/storage."""
    return "from the previous dataset"


def _materialize(instance: DagsterInstance) -> None:
    job = Definitions(assets=[dataset_marker], jobs=[define_asset_job("one")]).resolve_job_def("one")
    assert job.execute_in_process(instance=instance).success


def test_the_demo_instance_queues_one_run_per_org_as_production_does(demo_home, tmp_path):
    prepare_demo_environment(tmp_path / "data")
    text = (demo_home / "dagster.yaml").read_text()
    assert text.startswith(MANAGED_MARKER)
    production = yaml.safe_load((CHECKOUT / "dagster.yaml").read_text())
    with DagsterInstance.from_config(str(demo_home)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.run_coordinator.get_run_queue_config()
        assert queue.tag_concurrency_limits == production["run_coordinator"]["config"]["tag_concurrency_limits"]
        limits = {limit["key"]: limit for limit in queue.tag_concurrency_limits}
        for key in ("org", "dagster/partition"):  # one run per org, from every entry point
            assert limits[key]["limit"] == 1 and limits[key]["value"] == {"applyLimitPerUniqueValue": True}
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"  # embedded, not PostgreSQL


def test_every_seeded_dataset_gets_an_empty_instance(demo_home, tmp_path):
    prepare_demo_environment(tmp_path / "data")
    with DagsterInstance.from_config(str(demo_home)) as instance:
        _materialize(instance)
        assert instance.get_runs() and instance.get_latest_materialization_event(AssetKey("dataset_marker"))
    assert (demo_home / "storage" / "dataset_marker").exists()

    with fresh_demo_instance(tmp_path / "data") as instance:
        assert instance.get_runs() == []
        assert instance.get_latest_materialization_event(AssetKey("dataset_marker")) is None
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    assert not (demo_home / "storage").exists()
    assert (demo_home / "dagster.yaml").read_text().startswith(MANAGED_MARKER)


def test_an_operators_own_instance_is_neither_rewritten_nor_wiped(demo_home, tmp_path):
    demo_home.mkdir()
    own = "telemetry:\n  enabled: true\n"
    (demo_home / "dagster.yaml").write_text(own)
    with DagsterInstance.from_config(str(demo_home)) as instance:
        _materialize(instance)
    with fresh_demo_instance(tmp_path / "data") as instance:
        assert len(instance.get_runs()) == 1
    assert (demo_home / "dagster.yaml").read_text() == own
    assert (demo_home / "storage" / "dataset_marker").exists()
