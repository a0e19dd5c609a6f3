"""The demo's embedded environment: SQLite application DB, a generated Fernet key and a SQLite
Dagster instance, all under `.data/`."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance

from mc_pipelines.config import DATA_DIR
from mc_pipelines.store.secrets import ensure_demo_secret_key


def prepare_demo_environment(data_dir: Path = DATA_DIR) -> Path:
    """Set the env defaults the demo needs (never overriding what the operator set)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MC_DATABASE_URL", f"sqlite:///{data_dir / 'app.db'}")
    if not os.environ.get("MC_SECRET_KEY"):
        os.environ["MC_SECRET_KEY"] = ensure_demo_secret_key(data_dir)
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str((data_dir / "dagster_home").resolve())))
    dagster_home.mkdir(parents=True, exist_ok=True)
    instance_yaml = dagster_home / "dagster.yaml"
    if not instance_yaml.exists():  # embedded SQLite storage (Dagster's default), no telemetry
        instance_yaml.write_text("telemetry:\n  enabled: false\n")
    return dagster_home


def demo_instance() -> DagsterInstance:
    """The persistent Dagster instance in DAGSTER_HOME (SQLite storage unless configured)."""
    return DagsterInstance.get()
