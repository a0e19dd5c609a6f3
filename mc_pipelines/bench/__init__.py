"""`mc-pipelines bench`: speed, scale and memory of the sync, measured on this machine.

Modules: `machine` (what the figures were measured on), `environment` (a fresh PostgreSQL
database, the emulator in its own process, a throw-away Dagster instance), `data` (large orgs
and the benchmark-only fast paths that put them in sync), `worker` (one materialization of the
sync graph in a fresh process, like a Dagster run worker, with its peak memory), `scenarios`
(what is measured), `report` (results.json and the table). See `bench/README.md`.
"""

# In the order they run (scenarios.SCENARIOS has one function per name); kept here so the CLI
# can list them without importing pandas.
SCENARIO_NAMES = ("per_member_baseline", "api_bound", "initial_load_1m", "incremental_1m",
                  "noop_resync", "cost_growth", "validation_1m", "io_manager_1m")
