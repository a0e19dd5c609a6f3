"""Bulk calls: how an `AudiencePlan` is cut into Mailchimp calls of at most 500 rows.

Creates go by batch subscribe (`POST /lists/{id}`, ≤500 members); member changes that must
never carry an unintended status (field updates, address changes, unsubscribes, re-subscribes)
go as PATCH operations, ≤500 per `/batches` call; a static segment (tag) takes ≤500 emails to add
or remove per call; each tag has its own calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from mc_pipelines.mailchimp.limits import BATCH_LIMIT as MAX_BATCH
from mc_pipelines.mailchimp.limits import chunk
from mc_pipelines.sync.diff import AudiencePlan

CALL_KINDS = ("create", "email_change", "update", "unsubscribe", "resubscribe", "tag_add",
              "tag_remove")


@dataclass
class CallPlan:
    """The bulk calls a plan needs: `calls` has one row per call (`kind`, `tag`, `size`)."""

    calls: pd.DataFrame
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Number of calls."""
        return len(self.calls)


def plan_calls(plan: AudiencePlan, batch_size: int = MAX_BATCH) -> CallPlan:
    """The calls a push of `plan` makes, in push order, `batch_size` rows per call."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
    rows: list[tuple[str, str | None, int]] = []
    for kind, frame in (("create", plan.creates), ("email_change", plan.email_changes),
                        ("update", plan.updates), ("unsubscribe", plan.unsubscribes),
                        ("resubscribe", plan.resubscribes)):
        rows.extend((kind, None, len(part)) for part in chunk(range(len(frame)), batch_size))
    for kind, frame in (("tag_add", plan.tag_adds), ("tag_remove", plan.tag_removes)):
        if frame.empty:
            continue
        for tag, size in frame.groupby("tag", sort=True).size().items():
            rows.extend((kind, str(tag), len(part))
                        for part in chunk(range(int(size)), batch_size))
    calls = pd.DataFrame(rows, columns=["kind", "tag", "size"])
    calls["size"] = calls["size"].astype("int64")
    by_kind = {kind: int((calls["kind"] == kind).sum()) for kind in CALL_KINDS}
    return CallPlan(calls=calls, by_kind=by_kind)


def minimal_call_count(plan: AudiencePlan) -> int:
    """The least number of 500-row calls that can carry `plan` (the benchmark's yardstick)."""
    total = sum(math.ceil(len(f) / MAX_BATCH)
                for f in (plan.creates, plan.email_changes, plan.updates, plan.unsubscribes,
                          plan.resubscribes))
    for frame in (plan.tag_adds, plan.tag_removes):
        if not frame.empty:
            total += sum(math.ceil(n / MAX_BATCH) for n in frame.groupby("tag").size())
    return int(total)
