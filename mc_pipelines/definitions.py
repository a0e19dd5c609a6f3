"""The one Definitions object of the project: assets, checks, jobs, schedules, sensors, resources."""

from dagster import (
    Definitions,
    load_asset_checks_from_modules,
    load_assets_from_modules,
    with_source_code_references,
)

from mc_pipelines.assets import audience_sync, campaigns, contacts, export, member_status, segments
from mc_pipelines.assets.sources import APP_TABLES
from mc_pipelines.automation.erasure import ERASURE_JOBS
from mc_pipelines.automation.jobs import JOBS
from mc_pipelines.automation.run_frames import RUN_FRAMES_SENSORS
from mc_pipelines.automation.schedules import SCHEDULES
from mc_pipelines.automation.sensors import SENSORS
from mc_pipelines.resources import project_resources

ASSET_MODULES = [member_status, contacts, segments, audience_sync, campaigns, export]

defs = Definitions(
    # code references: the UI links every asset to the function that computes it
    assets=with_source_code_references([*APP_TABLES, *load_assets_from_modules(ASSET_MODULES)]),
    asset_checks=load_asset_checks_from_modules(ASSET_MODULES),
    jobs=[*JOBS, *ERASURE_JOBS],
    schedules=SCHEDULES,
    sensors=[*SENSORS, *RUN_FRAMES_SENSORS],
    resources=project_resources(),
)
