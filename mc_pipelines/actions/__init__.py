"""Operator actions shared by the CLI, the sensors, the schedules and the jobs.

Each action validates first and writes only once everything checked out, so a refused action
leaves the database untouched; every state change is audited with its actor. Errors an operator
can fix are `FixableError`s whose message says what to do. No Dagster here (the import contract
in `.importlinter` checks it) and no SQL: the queries live in `mc_pipelines.store`.
"""
