"""One org's audience sync against Mailchimp: per audience in scope, read back what must be read,
plan (pure), and push — each audience on its own, so one broken audience never stops the others
(LIFECYCLE C3) and withdrawals reach every audience in scope (A3, C1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy.engine import Engine

from mc_pipelines.effects.consent import SOURCE, latest_is_newer
from mc_pipelines.effects.push import PushReport, push_audience
from mc_pipelines.effects.readback import Readback, resolve
from mc_pipelines.mailchimp.addresses import address_key, subscriber_hash
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import AudienceNotFound
from mc_pipelines.store import contacts, member_state
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.desired import check_merge_field_map
from mc_pipelines.sync.diff import AudiencePlan, diff_audience
from mc_pipelines.sync.scope import SyncScope


class MergeFieldMapError(ValueError):
    """The org's merge-field map does not fit an audience; the message says what to fix."""


@dataclass
class AudienceOutcome:
    """What happened in one audience."""

    audience_id: str
    plan: AudiencePlan | None = None
    readback: Readback | None = None
    report: PushReport | None = None
    error: str | None = None          # the audience could not be synced (C3)
    frozen: str | None = None         # why only withdrawals were sent (C1, C2)


@dataclass
class SyncSettings:
    """Per-run and per-connection settings of the sync."""

    existing_members: str = "update"
    reconsent: str = "pending"
    guard: lc.GuardSettings = field(default_factory=lc.GuardSettings)
    batch_size: int = 500
    dry_run: bool = False
    new_member_tags: tuple[str, ...] = ()  # tags of the members a run creates (item 5)


async def sync_org(client: MailchimpClient, engine: Engine, org_id: str, desired: pd.DataFrame,
                   state: pd.DataFrame, scope: SyncScope, settings: SyncSettings,
                   merge_field_map: Mapping[str, str | None] | None,
                   source_columns: object) -> list[AudienceOutcome]:
    """Sync every audience in `scope`: read back, plan, and (unless a dry run) push."""
    outcomes = [AudienceOutcome(a, frozen=scope.why_frozen(a)) for a in scope.audiences]
    by_audience = {a: _rows_of(state, a) for a in scope.audiences}
    await asyncio.gather(*[_check(client, o, merge_field_map, source_columns) for o in outcomes])
    live = [o for o in outcomes if o.error is None]
    resolved = await asyncio.gather(*[
        resolve(client, engine, org_id, o.audience_id, by_audience[o.audience_id],
                dry_run=settings.dry_run) for o in live])
    opted_out: set[str] = set()
    for outcome, (audience_state, readback) in zip(live, resolved, strict=True):
        outcome.readback = readback
        by_audience[outcome.audience_id] = audience_state
        opted_out |= readback.withdrawn_hashes
    # an address whose latest consent change is a withdrawal on another live record (A4)
    opted_out |= await asyncio.to_thread(_withdrawn_duplicates, engine, org_id, desired)
    # an opt-out found on read-back withdrew the address's consent after the cohort was built
    if opted_out:
        desired = desired[~desired["subscriber_hash"].isin(opted_out)]
    contexts = await asyncio.to_thread(_contexts, engine, org_id, desired, by_audience, live, scope,
                                       settings, opted_out)
    for outcome in live:
        outcome.plan = diff_audience(_rows_of(desired, outcome.audience_id),
                                     by_audience[outcome.audience_id], contexts[outcome.audience_id])
    if not settings.dry_run:
        reports = await asyncio.gather(*[
            push_audience(client, engine, org_id, o.audience_id, o.plan,
                          by_audience[o.audience_id], batch_size=settings.batch_size,
                          existing_members=settings.existing_members,
                          new_member_tags=settings.new_member_tags,
                          withdrawn=contexts[o.audience_id].withdrawn)
            for o in live if o.plan is not None])
        for outcome, report in zip([o for o in live if o.plan is not None], reports, strict=True):
            outcome.report = report
            if outcome.readback is not None:  # ownership learnt by reading lost creates back
                report.add("created", outcome.readback.created)
                report.add("linked", outcome.readback.linked)
    return outcomes


async def _check(client: MailchimpClient, outcome: AudienceOutcome,
                 merge_field_map: Mapping[str, str | None] | None, source_columns: object) -> None:
    """A missing audience is this audience's error (C3); a merge-field map that does not fit a
    configured audience fails the run with what to fix."""
    try:
        fields = await client.list_merge_fields(outcome.audience_id)
    except AudienceNotFound as exc:
        outcome.error = f"audience {outcome.audience_id} does not exist in Mailchimp: {exc}"
        return
    if outcome.frozen and "no longer configured" in outcome.frozen:
        return  # a retired audience only receives unsubscribes: its merge fields do not matter
    problems = check_merge_field_map(merge_field_map or {}, fields, source_columns)
    if problems:
        raise MergeFieldMapError("merge field mapping does not fit the audience: " + "; ".join(
            f"audience {outcome.audience_id}: {p}" for p in problems))


def _withdrawn_duplicates(engine: Engine, org_id: str, desired: pd.DataFrame) -> set[str]:
    """Hashes of desired addresses whose latest consent change, over every live record with that
    address, is a withdrawal (LIFECYCLE A4): the cohort keeps the address because a stale
    duplicate still consents, yet the person withdrew after that consent. A tie counts as a
    withdrawal."""
    candidates = contacts.withdrawn_live_contacts(engine, org_id)
    if not candidates or desired.empty:
        return set()
    keys = {contacts.address_key(email) for _cid, email in candidates}
    hashes = {subscriber_hash(k): k for k in keys if k}
    # the hash table over the few candidates, not over the whole desired state
    wanted = desired.loc[desired["subscriber_hash"].isin(list(hashes)), "subscriber_hash"]
    emails = {hashes[h]: h for h in set(wanted)}
    if not emails:
        return set()
    by_address = contacts.contact_ids_by_address(engine, org_id, list(emails))
    ids = [i for v in by_address.values() for i in v]
    flags = contacts.consent_flags(engine, org_id, ids)
    latest = contacts.latest_consent_changes(
        engine, org_id, [i for i in ids if i in flags and not flags[i][1]])
    withdrawn = set()
    for key, h in emails.items():
        changes = [latest[i] for i in by_address.get(key, []) if i in latest]
        if changes and max(changes, key=lambda c: (c[1], c[0] == "withdrawn"))[0] == "withdrawn":
            withdrawn.add(h)
    return withdrawn


def _contexts(engine: Engine, org_id: str, desired: pd.DataFrame,
              states: dict[str, pd.DataFrame], live: list[AudienceOutcome], scope: SyncScope,
              settings: SyncSettings, opted_out: set[str]) -> dict[str, lc.AudienceContext]:
    """Each audience's context: whether it is frozen, and why its leaving members leave (explicit
    consent withdrawal, deletion, address change) — read from the application for them only, and
    only for those whose exit can write something (mailable, or holding managed tags)."""
    leaving: dict[str, pd.DataFrame] = {}
    for outcome in live:
        state = states[outcome.audience_id]
        wanted = pd.Index(_rows_of(desired, outcome.audience_id)["subscriber_hash"])  # unique
        gone = state[wanted.get_indexer(state["subscriber_hash"]) < 0]
        # only an exit that can write needs its reason (`sync.diff`): a member still mailable, or
        # one holding managed tags — not the members that left long ago, every run again
        leaving[outcome.audience_id] = gone[gone["status"].isin(list(lc.MAILABLE)).to_numpy()
                                            | gone["managed_tags"].map(_holds_tags).to_numpy(dtype=bool)]
    frames = [f for f in leaving.values() if len(f)]
    rows = pd.concat(frames) if frames else pd.DataFrame(columns=["contact_id", "email", "subscriber_hash"])
    ids = [int(i) for i in rows["contact_id"].dropna().unique().tolist()]
    by_address = contacts.contact_ids_by_address(engine, org_id, rows["email"].dropna().tolist())
    flags = contacts.consent_flags(engine, org_id, ids + [i for v in by_address.values() for i in v])
    withdrawn = set(opted_out)
    for cid, email, h in zip(rows["contact_id"].tolist(), rows["email"].tolist(),
                             rows["subscriber_hash"].tolist(), strict=True):
        own = flags.get(int(cid)) if cid is not None and not pd.isna(cid) else None
        others = [flags[i] for i in by_address.get(address_key(email) if isinstance(email, str) else "", []) if i in flags]
        if (own is not None and not own[0]) or any(not consent and not deleted for consent, deleted in others):
            withdrawn.add(h)
    live_ids = frozenset(i for i, (_consent, deleted) in flags.items() if not deleted)
    cohort = desired[desired["contact_id"].isin(ids)].drop_duplicates("contact_id")
    cohort_contacts = dict(zip(cohort["contact_id"].astype(int), cohort["subscriber_hash"], strict=True))
    return {o.audience_id: lc.AudienceContext(
        frozen=o.audience_id in scope.frozen,
        frozen_tags=scope.frozen_tags.get(o.audience_id, frozenset()),
        withdrawn=frozenset(withdrawn), live_contacts=live_ids, cohort_contacts=cohort_contacts,
        existing_members=settings.existing_members, reconsent=settings.reconsent,
        guard=settings.guard,
        reconsented=_reconsented(engine, org_id, o.audience_id, _rows_of(desired, o.audience_id),
                                 states[o.audience_id])) for o in live}


def _reconsented(engine: Engine, org_id: str, audience_id: str, desired: pd.DataFrame,
                 state: pd.DataFrame) -> frozenset[str]:
    """The members opted out in Mailchimp that the app wants back whose contact's latest consent
    change in the app is a `given` newer than the opt-out (A8, A9); read for them only.

    Compared to the second, as the pull compares them (`effects.consent`): a `given` of the
    opt-out's own second does not outrank it. What this stops is a consent flag that never met
    the opt-out (set without a `given` event, or a consent the pull could not reach): the person
    who opted out is never asked to confirm on the strength of it."""
    back = state[(state["status"] == lc.UNSUBSCRIBED).to_numpy(dtype=bool)
                 & (state["status_origin"] != lc.PROJECT).to_numpy(dtype=bool)]
    if back.empty:
        return frozenset()
    at = pd.Index(desired["subscriber_hash"]).get_indexer(back["subscriber_hash"])
    hashes = back["subscriber_hash"].to_numpy(dtype=object)[at >= 0]
    contact_of = dict(zip(hashes, desired["contact_id"].to_numpy()[at[at >= 0]].tolist(), strict=True))
    if not contact_of:
        return frozenset()
    opted_out = member_state.lifecycle_rows(engine, org_id, audience_id, list(contact_of), ["opted_out_at"])
    latest = contacts.latest_consent_changes(engine, org_id, contact_of.values(), exclude_source=SOURCE)
    return frozenset(h for h, cid in contact_of.items() if latest_is_newer(
        latest.get(int(cid)), "given", (opted_out.get(h) or {}).get("opted_out_at")))


def _holds_tags(tags: object) -> bool:
    return tags is not None and not (isinstance(tags, float) and pd.isna(tags)) and len(tags) > 0  # type: ignore[arg-type]


def _rows_of(frame: pd.DataFrame, audience: str) -> pd.DataFrame:
    """The rows of one audience; the frame itself when they all are (most orgs have one audience:
    no million-row copy)."""
    mask = (frame["audience_id"] == audience).to_numpy(dtype=bool)
    return frame if mask.all() and len(frame) else frame[mask]
