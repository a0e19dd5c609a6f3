"""Tags for the members a sync run creates, and never for existing ones (issue 16, item 5).

The connection option `new_member_tags` and the run config's `new_member_tags` name tags that
every member *this run creates* receives once: members Mailchimp confirmed as created by this
run's batch subscribe — not members a create found already there (linked, B2), not members whose
create was refused or whose answer was lost, not members created by an earlier run. The tags go
on as static-segment adds after the creates; they are recorded as the member's `prior_tags`
(tags the project does not manage): the sync never removes them nor puts them back (D1), so they
mark how the member arrived and then belong to the marketers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from mc_pipelines.store import member_state

if TYPE_CHECKING:
    from mc_pipelines.effects.push import AudiencePusher


def created_this_run(pusher: AudiencePusher, creates: pd.DataFrame) -> pd.DataFrame:
    """The rows of `creates` whose member this run's batch subscribe created (not linked, not
    refused, not unknown)."""
    if not len(creates):
        return creates
    hashes = creates["subscriber_hash"]
    return creates[~hashes.isin(pusher.absent) & ~hashes.isin(list(pusher.linked))]


async def tag_new_members(pusher: AudiencePusher, creates: pd.DataFrame,
                          tags: Sequence[str]) -> None:
    """Apply `tags` to the members this run created (counted as `tags_added`; refusals are row
    outcomes `tag_failed` with the contact id) and record them as the members' own tags."""
    created = created_this_run(pusher, creates)
    if not tags or not len(created):
        return
    segment_ids = await pusher._segment_ids(list(tags))
    emails = created["email"].tolist()
    results = await asyncio.gather(*[
        pusher.client.update_segment_members(pusher.audience_id, segment_ids[t], add=emails,
                                             chunk_size=pusher.batch_size) for t in tags])
    by_email = {e.lower(): r for e, r in zip(emails, created.to_dict("records"), strict=True)}
    applied: dict[str, list[str]] = {r["subscriber_hash"]: [] for r in by_email.values()}
    for tag, result in zip(tags, results, strict=True):
        failed = {e.email.lower() for e in result.errors}
        for error in result.errors:
            pusher._outcome(by_email.get(error.email.lower()), error.email, "tag_failed",
                            f"new-member tag {tag!r}: {error.message}")
            pusher.report.add("failed")
        done = [e for e in emails if e.lower() not in failed]
        pusher.report.add("tags_added", len(done))
        for email in done:
            applied[by_email[email.lower()]["subscriber_hash"]].append(tag)
    rows = [{"audience_id": pusher.audience_id, "subscriber_hash": h, "prior_tags": sorted(t),
             "mailchimp_tags": sorted(t)} for h, t in applied.items() if t]
    if rows:
        await asyncio.to_thread(member_state.save_rows, pusher.engine, pusher.org_id, rows,
                                ["prior_tags", "mailchimp_tags"])
