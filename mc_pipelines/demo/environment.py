"""The demo's embedded environment: SQLite application DB, a generated Fernet key and a SQLite
Dagster instance, all under `.data/`.

The instance's `dagster.yaml` is written from the repository's production `dagster.yaml`: the
same run queue (`run_coordinator`: at most one run per `org` tag and per `dagster/partition`)
and telemetry settings, with Dagster's embedded SQLite storage instead of PostgreSQL. A Dagster
home this module wrote carries `MANAGED_MARKER` on its first line; such a home is rewritten on
every start and its storage is wiped whenever a new demo dataset is seeded
(`fresh_demo_instance`), so no run ever loads a step output computed from another dataset (the
outputs live in `storage/` by asset and partition, not by run). A Dagster home the operator
configured themselves (no marker) is used as it is and never wiped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml
from dagster import DagsterInstance

from mc_pipelines.config import DATA_DIR
from mc_pipelines.errors import FixableError
from mc_pipelines.store.secrets import ensure_demo_secret_key

#: The repository checkout this package runs from (the demo and `make dev` are checkout tools).
CHECKOUT = Path(__file__).resolve().parents[2]
INSTANCE_YAML = "dagster.yaml"
MANAGED_MARKER = "# mc-pipelines demo instance: rewritten by `make demo` / `make dev`, storage wiped on every re-seed"
#: What earlier versions wrote (no marker): still the demo's own instance.
_LEGACY_INSTANCE_YAML = "telemetry:\n  enabled: false\n"
#: The sections of the production dagster.yaml the demo instance shares (storage stays embedded).
SHARED_SECTIONS = ("run_coordinator", "telemetry")


def checkout_file(name: str) -> Path:
    """A file at the root of the repository checkout (dagster.yaml, workspace.yaml)."""
    path = CHECKOUT / name
    if not path.is_file():
        raise FixableError(f"{path} not found: the demo and `make dev` run from a checkout of the "
                           "mc_pipelines repository (`pip install -e .` in it)")
    return path


def demo_instance_settings() -> dict[str, Any]:
    """The demo instance's settings: the production dagster.yaml's run queue and telemetry."""
    production = yaml.safe_load(checkout_file(INSTANCE_YAML).read_text())
    return {section: production[section] for section in SHARED_SECTIONS if section in production}


def is_managed(dagster_home: Path) -> bool:
    """True when `dagster_home` is the demo's own instance (absent, or written by this module)."""
    instance_yaml = dagster_home / INSTANCE_YAML
    if not instance_yaml.exists():
        return True
    text = instance_yaml.read_text()
    return text.startswith(MANAGED_MARKER) or text == _LEGACY_INSTANCE_YAML


def prepare_demo_environment(data_dir: Path = DATA_DIR) -> Path:
    """Set the env defaults the demo needs (never overriding what the operator set) and write the
    demo instance's dagster.yaml (unless the operator's own is there); returns DAGSTER_HOME."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MC_DATABASE_URL", f"sqlite:///{data_dir / 'app.db'}")
    if not os.environ.get("MC_SECRET_KEY"):
        os.environ["MC_SECRET_KEY"] = ensure_demo_secret_key(data_dir)
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str((data_dir / "dagster_home").resolve())))
    dagster_home.mkdir(parents=True, exist_ok=True)
    if is_managed(dagster_home):
        body = yaml.safe_dump(demo_instance_settings(), sort_keys=False)
        (dagster_home / INSTANCE_YAML).write_text(f"{MANAGED_MARKER}\n{body}")
    return dagster_home


def fresh_demo_instance(data_dir: Path = DATA_DIR) -> DagsterInstance:
    """The Dagster instance in DAGSTER_HOME, emptied first when it is the demo's own: runs, event
    log, schedule state and stored step outputs of the previous dataset are removed (its
    dagster.yaml is kept). Call before a new dataset is seeded."""
    dagster_home = prepare_demo_environment(data_dir)
    if is_managed(dagster_home):
        for entry in dagster_home.iterdir():
            if entry.name == INSTANCE_YAML:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    return DagsterInstance.get()
