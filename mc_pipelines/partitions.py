"""Per-org partitions: one dynamic partition per connected organisation (key = org id).

The `org_partitions_sensor` adds a partition when an org connects and removes it on disconnect,
so backfills and schedules always fan out over the orgs that are actually connected.
"""

from dagster import DynamicPartitionsDefinition

ORG_PARTITIONS_NAME = "orgs"
org_partitions = DynamicPartitionsDefinition(name=ORG_PARTITIONS_NAME)
