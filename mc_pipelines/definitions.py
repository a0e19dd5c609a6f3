"""The one Definitions object of the project: assets, checks, jobs, schedules, sensors, resources."""

from mc_pipelines.notices import hide_dagster_notices

# before the asset modules are imported: the code server and every run worker load this module
hide_dagster_notices()

from dagster import (
    Definitions,
    load_asset_checks_from_modules,
    load_assets_from_modules,
    with_source_code_references,
)

from mc_pipelines.assets import (
    audience_sync,
    campaigns,
    contacts,
    export,
    member_status,
    member_tags,
    segments,
)
from mc_pipelines.assets.sources import APP_TABLES
from mc_pipelines.automation.erasure import ERASURE_JOBS
from mc_pipelines.automation.freshness import FRESHNESS_CHECKS, freshness_sensor
from mc_pipelines.automation.housekeeping import HOUSEKEEPING_JOBS
from mc_pipelines.automation.jobs import JOBS
from mc_pipelines.automation.org_executor import project_executor
from mc_pipelines.automation.run_frames import RUN_FRAMES_SENSORS
from mc_pipelines.automation.schedules import SCHEDULES
from mc_pipelines.automation.sensors import SENSORS
from mc_pipelines.automation.sheet_import import IMPORT_JOBS
from mc_pipelines.automation.tags import TAG_JOBS
from mc_pipelines.resources import project_resources

ASSET_MODULES = [member_status, contacts, segments, audience_sync, campaigns, export, member_tags]

defs = Definitions(
    # code references: the UI links every asset to the function that computes it
    assets=with_source_code_references([*APP_TABLES, *load_assets_from_modules(ASSET_MODULES)]),
    asset_checks=[*load_asset_checks_from_modules(ASSET_MODULES), *FRESHNESS_CHECKS],
    jobs=[*JOBS, *ERASURE_JOBS, *HOUSEKEEPING_JOBS, *TAG_JOBS, *IMPORT_JOBS],
    schedules=SCHEDULES,
    sensors=[*SENSORS, freshness_sensor, *RUN_FRAMES_SENSORS],
    resources=project_resources(),
    # steps in the run worker unless a run's config selects multiprocess (automation/executor.py),
    # or dagster-celery's executor with MC_EXECUTOR=celery; either holds the org's lock for the
    # whole run (one run per org)
    executor=project_executor(),
)
