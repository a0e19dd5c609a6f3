"""Reading members back before planning: every pending intent and every unknown status.

A state row still carrying an `intent` had the answer to its write lost (a dropped connection, a
5xx after Mailchimp applied it, a killed run); a row with status `unknown` was never read. Before
the diff plans anything for such a member, Mailchimp is asked what is true now and the
lifecycle's `after_read` decides (LIFECYCLE B5, B8): a create whose member carries the project's
signup marker is the project's; any other existing member is linked, with the status read; an
unsubscribe that landed is the project's own, never a Mailchimp-side opt-out. Opt-outs and
re-subscribes found this way flow back into consent like the pull's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from mc_pipelines.effects.consent import OPT_OUT, RESUBSCRIBE, MailchimpChange, apply_changes
from mc_pipelines.mailchimp.addresses import address_key
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import ACCOUNT_LEVEL_ERRORS, MailchimpError, ResourceNotFound
from mc_pipelines.store import member_state
from mc_pipelines.store.clock import utcnow
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.timestamps import parse_mailchimp_time


@dataclass
class Readback:
    """What reading members back established for one audience."""

    audience_id: str
    read: int = 0
    unanswered: int = 0      # reads that got no answer: those rows wait for the next run
    created: int = 0   # lost creates read back as the project's own (B5)
    linked: int = 0    # …or as members that were there before (B5)
    opted_out: set[str] = field(default_factory=set)       # hashes opted out in Mailchimp
    withdrawn_hashes: set[str] = field(default_factory=set)  # …whose consent that withdrew (A9)
    resubscribed: set[str] = field(default_factory=set)
    consent_withdrawn: list[int] = field(default_factory=list)
    consent_given: list[int] = field(default_factory=list)


def needs_read(state: pd.DataFrame) -> pd.Series:
    """Rows whose write answer was lost, or whose Mailchimp status was never read."""
    if state.empty:
        return pd.Series([], dtype=bool)
    owned = state["ownership"].isin(list(lc.OWNED)) if "ownership" in state else True
    return state["intent"].notna() | (owned & (state["status"] == lc.UNKNOWN))


async def resolve(client: MailchimpClient, engine: Engine, org_id: str, audience_id: str,
                  state: pd.DataFrame, *, dry_run: bool = False) -> tuple[pd.DataFrame, Readback]:
    """Read back the rows that need it; returns the audience's state as it now stands."""
    report = Readback(audience_id)
    mask = needs_read(state)
    if not mask.any():
        return state, report
    rows = state[mask].to_dict("records")
    answers = await asyncio.gather(*[read_member(client, audience_id, r["email"]) for r in rows])
    now = utcnow()
    saves: list[dict[str, Any]] = []
    changes: list[MailchimpChange] = []
    for row, (member, answered) in zip(rows, answers, strict=True):
        if not answered:  # no answer even after retries: the row waits for the next run
            report.unanswered += 1
            continue
        outcome = lc.after_read(row, member, now)
        saves.append({"subscriber_hash": row["subscriber_hash"], **outcome.values})
        if row.get("ownership") != outcome.values.get("ownership"):
            if outcome.values.get("ownership") == lc.CREATED:
                report.created += 1
            elif outcome.values.get("ownership") == lc.LINKED:
                report.linked += 1
        if member is None:
            continue
        at = parse_mailchimp_time(member.get("last_changed"))
        if outcome.opted_out:
            report.opted_out.add(row["subscriber_hash"])
            changes.append(MailchimpChange(row["email"], OPT_OUT, at, f"{member.get('status')} in "
                                           f"Mailchimp, found on read-back (audience {audience_id})"))
        elif outcome.resubscribed:
            report.resubscribed.add(row["subscriber_hash"])
            changes.append(MailchimpChange(row["email"], RESUBSCRIBE, at,
                                           f"re-subscribed in Mailchimp (audience {audience_id})"))
    report.read = len(rows) - report.unanswered
    consent = await asyncio.to_thread(apply_changes, engine, org_id, changes, dry_run=dry_run)
    report.consent_withdrawn, report.consent_given = consent.withdrawn, consent.given
    kept = set(consent.kept)
    emails = {r["subscriber_hash"]: r["email"] for r in rows}
    report.withdrawn_hashes = {
        h for h in report.opted_out
        if not kept & set(consent.contact_ids.get(address_key(emails[h]) or "", []))}
    if not dry_run:
        for columns, group in _by_columns(saves).items():
            for row in group:
                row["audience_id"] = audience_id
            await asyncio.to_thread(member_state.save_rows, engine, org_id, group, columns)
    return _merged(state, saves), report


async def read_member(client: MailchimpClient, audience_id: str,
                email: str) -> tuple[dict[str, Any] | None, bool]:
    """(the member or None when Mailchimp does not hold it, whether Mailchimp answered)."""
    try:
        return await client.get_member(audience_id, email), True
    except ResourceNotFound:
        return None, True
    except MailchimpError as exc:
        if isinstance(exc, ACCOUNT_LEVEL_ERRORS):
            raise
        return None, False


def _by_columns(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    grouped: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple(sorted(k for k in row if k != "subscriber_hash"))
        grouped.setdefault(key, []).append(row)
    return grouped


def _merged(state: pd.DataFrame, saves: list[dict[str, Any]]) -> pd.DataFrame:
    """`state` with the read-back values applied (a copy; the caller's frame is untouched)."""
    out = state.copy()
    index = pd.Index(out["subscriber_hash"])
    for values in saves:
        i = index.get_loc(values["subscriber_hash"])
        for column, value in values.items():
            if column in out.columns and column != "subscriber_hash":
                out.iat[i, out.columns.get_loc(column)] = value
    return out
