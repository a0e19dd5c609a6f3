"""Which audiences one org's sync reaches, and which of them are frozen (LIFECYCLE C1 to C3).

Every audience the project ever wrote to for the org stays in scope (C1): the configured ones (the
connection's default audience and every active segment's) and every audience the member state
still tracks. An audience no longer configured, or one of whose segments has invalid filters, is
*frozen*: only consent withdrawals and contact deletions reach it there, never unsubscribes or
tag removals that the missing or broken configuration would cause (C1, C2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class SyncScope:
    """The audiences of one org's sync run."""

    audiences: tuple[str, ...]                      # configured first, then retired ones
    configured: frozenset[str]
    frozen: frozenset[str]
    frozen_tags: dict[str, frozenset[str]] = field(default_factory=dict)  # audience → tags
    invalid_segments: tuple[tuple[int, str], ...] = ()                   # (segment id, problem)

    def why_frozen(self, audience: str) -> str | None:
        """Why the audience is frozen, or None."""
        if audience not in self.frozen:
            return None
        if audience not in self.configured:
            return "no longer configured (segment deleted or moved, or the org reconnected)"
        return "a segment feeding it has invalid filters"


def sync_scope(default_audience: str | None, segments: pd.DataFrame,
               state_audiences: Iterable[str]) -> SyncScope:
    """The scope from the connection's default audience, the segment summary (`segment_id`,
    `audience_id` (None → default), `tag`, `error`) and the audiences present in the state."""
    configured: list[str] = [default_audience] if default_audience else []
    frozen: set[str] = set()
    frozen_tags: dict[str, set[str]] = {}
    invalid: list[tuple[int, str]] = []
    for row in segments.to_dict("records") if len(segments) else []:
        audience = row.get("audience_id") or default_audience
        if audience is None:
            continue
        if audience not in configured:
            configured.append(str(audience))
        if row.get("error") is not None and not pd.isna(row.get("error")):
            frozen.add(str(audience))
            invalid.append((int(row["segment_id"]), str(row["error"])))
            if row.get("tag"):
                frozen_tags.setdefault(str(audience), set()).add(str(row["tag"]))
    retired = sorted(set(state_audiences) - set(configured))
    return SyncScope(
        audiences=(*configured, *retired), configured=frozenset(configured),
        frozen=frozenset(frozen | set(retired)),
        frozen_tags={a: frozenset(t) for a, t in frozen_tags.items()},
        invalid_segments=tuple(invalid),
    )
