"""Property-based tests of the pure core against the member lifecycle (`LIFECYCLE.md`).

Each example is one audience: contacts (consenting or not, live or deleted, invalid and duplicate
addresses) and segments (valid, invalid, pointing to another audience) give the desired state
through the real cohort and segment code; the member state holds desired members and members
that leave, each drawn over ownership (created, linked, none), every Mailchimp status plus
`unknown`/`absent`, the status' origin, a pending intent, managed and prior tags, parked refusals
and moves; the context draws frozen audiences, withdrawn addresses, deleted contacts, address
changes, the connection options and the mass-unsubscribe guard. Re-consent, archived, linked and
Mailchimp-side opt-outs are forced into about half of the examples each (see the `kind:` events
of `--hypothesis-show-statistics`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.diff import PLAN_FRAMES, STATE_COLUMNS, AudiencePlan, diff_audience
from mc_pipelines.sync.scope import sync_scope
from mc_pipelines.sync.segments import evaluate_segments
from mc_pipelines.sync.simulate import apply_plan, read_back
from mc_pipelines_tests.support.factories import (
    AUDIENCE,
    BASE_TIME,
    OTHER_AUDIENCE,
    contact,
    segments_frame,
    source_frame,
)

EMAILS = ["ann@example.com", "Ann@Example.com ", "\u00a0bob@example.org", "cat@example.net",
          "dee@mail.example.co.uk", "eve@example.io", "fay@example.com", "gus@example.com",
          "bad address", None]
# Addresses the state may hold that no contact has now (old addresses, other people's).
OLD_EMAILS = ["old.ann@example.com", "old.bob@example.org", "gone@example.net"]
SEGMENT_TAGS = ["T1", "T2", "t1"]  # t1: the same Mailchimp tag as T1 (D3)
MARKETER_TAGS = ["Newsletter", "Spring Fair"]
TAG_POOL = ["T1", "T2", "t1", "T3"]  # T3: a tag of a segment that no longer exists
FILTERS = [{}, {}, {"department": "sales"}, {"tags": ["vip"]}, {"location": "Paris"},
           {"team": "x"}, {"tags": [""]}]  # the last two are invalid (C2)
EDITABLE_TO = {"subscribed", "unsubscribed", "pending"}
UNTOUCHABLE = frozenset({lc.ARCHIVED, lc.CLEANED, lc.TRANSACTIONAL})
KINDS = ("reconsent", "archived", "linked", "mailchimp_opt_out")
# too_slow is suppressed: each example builds DataFrames, and on a loaded CI machine the
# generation-time health check would fail for reasons unrelated to the properties.
EXAMPLES = settings(max_examples=int(os.environ.get("MC_PROPERTY_EXAMPLES", "60")), deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass
class Scenario:
    source: pd.DataFrame         # every contact, deleted ones included
    desired: pd.DataFrame        # desired rows of the audience under test
    state: pd.DataFrame          # the audience's member state as stored (intents unresolved)
    truth: dict[str, Any]        # what Mailchimp holds for the rows a read-back reads
    ctx: lc.AudienceContext
    plan: AudiencePlan           # the plan of the stored state

    @property
    def rows(self) -> dict[str, dict]:
        return {r["subscriber_hash"]: r for r in self.state.to_dict("records")}

    @property
    def wanted(self) -> dict[str, dict]:
        return {r["subscriber_hash"]: r for r in self.desired.to_dict("records")}


# -- strategies --------------------------------------------------------------------------------
@st.composite
def sources(draw) -> pd.DataFrame:
    n = draw(st.integers(2, 8))
    rows = []
    for i in range(1, n + 1):
        rows.append(contact(
            i, draw(st.sampled_from(EMAILS)),
            marketing_consent=draw(st.sampled_from([True, True, True, True, False])),
            contact_type=draw(st.sampled_from(["customer", "employee"])),
            department=draw(st.sampled_from([None, "Sales", " sales"])),
            location=draw(st.sampled_from([None, "Paris"])),
            tags=draw(st.sampled_from([[], ["vip"], ["VIP", "beta"]])),
            updated_at=BASE_TIME + pd.Timedelta(seconds=draw(st.integers(0, 2))),
            deleted=draw(st.sampled_from([False, False, False, False, False, True])),
        ))
    return pd.DataFrame(rows)


@st.composite
def segment_sets(draw) -> pd.DataFrame:
    n = draw(st.integers(0, 3))
    return segments_frame([{
        "id": i, "mailchimp_tag": draw(st.sampled_from(SEGMENT_TAGS)),
        "segment_type": draw(st.sampled_from(["mixed", "mixed", "customer", "employee"])),
        "filters": draw(st.sampled_from(FILTERS)),
        "audience_id": draw(st.sampled_from([None, None, AUDIENCE, OTHER_AUDIENCE])),
    } for i in range(1, n + 1)])


def _row(draw, h: str, email: str, cid: object, desired_payload: str | None) -> dict[str, Any]:
    """One state row, consistent the way the push and the pull keep it."""
    ownership = draw(st.sampled_from([lc.CREATED, lc.CREATED, lc.LINKED, lc.NO_MEMBER]))
    if ownership == lc.NO_MEMBER:
        status = draw(st.sampled_from([lc.ABSENT, lc.ABSENT, lc.UNKNOWN]))
        intent = draw(st.sampled_from([None, None, lc.INTENT_CREATE]))
        origin, managed = None, []
        parked = draw(st.sampled_from([None, "fake_email", "merge_field_invalid"])) if intent is None else None
        if intent is not None:
            status = lc.UNKNOWN
    else:
        status = draw(st.sampled_from([lc.SUBSCRIBED, lc.SUBSCRIBED, lc.SUBSCRIBED,
                                       *sorted(lc.MAILCHIMP_STATUSES), lc.UNKNOWN]))
        intent = draw(st.sampled_from([None] * 8 + [lc.INTENT_UNSUBSCRIBE, lc.INTENT_SUBSCRIBE,
                                                    lc.INTENT_PENDING, lc.INTENT_EMAIL]))
        origin = draw(st.sampled_from([lc.PROJECT, lc.MAILCHIMP, None]))
        managed = draw(st.lists(st.sampled_from(TAG_POOL), unique_by=str.casefold, max_size=3))
        parked = draw(st.sampled_from([None, None, None, "merge_field_invalid"]))
    payload = draw(st.sampled_from(["desired", "desired", "stale", None]))
    return {
        "subscriber_hash": h, "contact_id": cid, "email": email,
        "payload_hash": desired_payload if payload == "desired" else ("0" * 32 if payload else None),
        "status": status, "ownership": ownership, "status_origin": origin, "intent": intent,
        "managed_tags": managed,
        "prior_tags": draw(st.lists(st.sampled_from(MARKETER_TAGS + SEGMENT_TAGS),
                                    unique_by=str.casefold, max_size=2)),
        "parked": parked, "moved_from_hash": None,
    }


def _force(row: dict[str, Any], kind: str, draw) -> None:
    """Make `row` an example of `kind` (the member exists in Mailchimp, nothing in flight)."""
    row.update(intent=None, parked=None)
    if row["ownership"] == lc.NO_MEMBER:
        row["ownership"] = lc.CREATED
    if kind == "reconsent":
        row.update(status=lc.UNSUBSCRIBED, status_origin=draw(st.sampled_from([lc.PROJECT, lc.MAILCHIMP])))
    elif kind == "archived":
        row["status"] = lc.ARCHIVED
    elif kind == "linked":
        row.update(ownership=lc.LINKED, status=lc.SUBSCRIBED, status_origin=lc.MAILCHIMP)
    else:
        row.update(status=draw(st.sampled_from([lc.UNSUBSCRIBED, lc.CLEANED])),
                   status_origin=lc.MAILCHIMP)


@st.composite
def scenarios(draw) -> Scenario:
    contacts = draw(sources())
    segments = draw(segment_sets())
    live = contacts[~contacts["deleted"]].drop(columns="deleted")
    cohort = build_cohort(source_frame(live.to_dict("records"))).cohort
    result = evaluate_segments(cohort, segments, AUDIENCE)
    retired = draw(st.sampled_from([False] * 5 + [True]))  # C1: left the configuration
    scope = sync_scope(AUDIENCE, result.summary, [AUDIENCE])
    desired = result.desired[result.desired["audience_id"] == AUDIENCE].reset_index(drop=True)
    if retired:
        desired = desired.iloc[0:0]

    rows: dict[str, dict[str, Any]] = {}
    for d in desired.to_dict("records"):
        if draw(st.integers(0, 3)):
            rows[d["subscriber_hash"]] = _row(draw, d["subscriber_hash"], d["email"],
                                              d["contact_id"], d["payload_hash"])
    # members that leave: earlier addresses of contacts, or of contacts that are gone
    ids = contacts["id"].tolist()
    for email in draw(st.lists(st.sampled_from(OLD_EMAILS + [e for e in EMAILS if e and "@" in e]),
                               unique_by=lambda e: subscriber_hash(e.strip()), max_size=4)):
        email = email.strip()
        h = subscriber_hash(email)
        if h in rows or h in set(desired["subscriber_hash"]):
            continue
        cid = draw(st.sampled_from([*ids, pd.NA]))
        rows[h] = _row(draw, h, email, cid, None)
    # B10: a contact whose member is tracked under its previous address
    fresh = sorted(set(desired["subscriber_hash"]) - set(rows))
    if fresh and draw(st.integers(0, 3)) == 0:
        d = desired.set_index("subscriber_hash").loc[draw(st.sampled_from(fresh))]
        old = f"before.{d['contact_id']}@example.org"
        rows[subscriber_hash(old)] = {**_row(draw, subscriber_hash(old), old, d["contact_id"], None),
                                      "ownership": lc.CREATED, "status": lc.SUBSCRIBED, "intent": None}
    # C4: a run of members leaving for reasons other than a withdrawal (a segment emptied)
    if draw(st.integers(0, 2)) == 0:
        for i in range(draw(st.integers(2, 6))):
            left = f"left{i}@example.org"
            rows[subscriber_hash(left)] = {**_row(draw, subscriber_hash(left), left, pd.NA, None),
                                           "ownership": lc.CREATED, "status": lc.SUBSCRIBED,
                                           "intent": None}
    # each kind in about two thirds of the examples, each on its own member (re-consent on a
    # desired one; the others on any, or on a member of their own)
    used: set[str] = set()
    for kind in KINDS:
        if not draw(st.integers(0, 2)):
            continue
        if kind == "reconsent":
            pool = sorted(set(desired["subscriber_hash"]))
            if not pool:
                continue
            h = draw(st.sampled_from(pool))
            if h not in rows:
                d = desired.set_index("subscriber_hash").loc[h]
                rows[h] = _row(draw, h, d["email"], d["contact_id"], d["payload_hash"])
        else:
            pool = sorted(set(rows) - used)
            if pool:
                h = draw(st.sampled_from(pool))
            else:
                email = f"{kind}@example.net"
                h = subscriber_hash(email)
                rows[h] = _row(draw, h, email, draw(st.sampled_from([*ids, pd.NA])), None)
        _force(rows[h], kind, draw)
        used.add(h)
    # the context, as `effects.audience_sync` builds it
    by_id = contacts.set_index("id")
    wanted = set(desired["subscriber_hash"])
    withdrawn = {h for h, r in rows.items() if h not in wanted and not pd.isna(r["contact_id"])
                 and not bool(by_id.loc[int(r["contact_id"]), "marketing_consent"])}
    # another contact with the address withdrew (A4): members no desired contact claims
    claimed = set(desired["contact_id"])
    unclaimed = sorted(h for h, r in rows.items() if h not in wanted
                       and (pd.isna(r["contact_id"]) or r["contact_id"] not in claimed))
    withdrawn |= set(draw(st.lists(st.sampled_from(unclaimed or ["-"]), max_size=2))) - {"-"}
    # B9: a member the person moved in Mailchimp remembers its old hash
    movable = sorted(set(rows) - withdrawn)
    if movable and draw(st.integers(0, 5)) == 0:
        h = draw(st.sampled_from(movable))
        cid = rows[h]["contact_id"]
        other = [d for d in desired.to_dict("records") if not pd.isna(cid)
                 and d["contact_id"] == cid and d["subscriber_hash"] != h]
        if other:
            rows[h]["moved_from_hash"] = other[0]["subscriber_hash"]
    state = pd.DataFrame(list(rows.values()), columns=list(STATE_COLUMNS))
    state["contact_id"] = state["contact_id"].astype("Int64")

    frozen = retired or AUDIENCE in scope.frozen
    guard = lc.GuardSettings(max_fraction=draw(st.sampled_from([0.2, 0.2, 0.5])),
                             min_count=draw(st.sampled_from([0, 0, 1, 50])),
                             override=draw(st.sampled_from([False, False, True])))
    ctx = lc.AudienceContext(
        frozen=frozen, frozen_tags=scope.frozen_tags.get(AUDIENCE, frozenset()),
        withdrawn=frozenset(withdrawn),
        live_contacts=frozenset(int(i) for i in live["id"]),
        cohort_contacts=dict(zip(cohort["contact_id"].astype(int), cohort["subscriber_hash"], strict=True)),
        existing_members=draw(st.sampled_from(list(lc.EXISTING_MEMBERS_OPTIONS))),
        reconsent=draw(st.sampled_from(list(lc.RECONSENT_OPTIONS))), guard=guard)

    # what Mailchimp holds for the rows the push reads back first
    truth = {}
    for h, r in rows.items():
        if r["intent"] is not None or (r["ownership"] in lc.OWNED and r["status"] == lc.UNKNOWN):
            status = draw(st.sampled_from([None, *sorted(lc.MAILCHIMP_STATUSES)]))
            truth[h] = None if status is None else {
                "status": status, "tags": [{"name": t} for t in draw(st.lists(
                    st.sampled_from(MARKETER_TAGS + SEGMENT_TAGS), unique_by=str.casefold, max_size=2))]}

    plan = diff_audience(desired, state, ctx)
    _events(state, ctx, plan)
    return Scenario(contacts, desired, state, truth, ctx, plan)


def _events(state: pd.DataFrame, ctx: lc.AudienceContext, plan: AudiencePlan) -> None:
    """What the example holds (counted by --hypothesis-show-statistics)."""
    rows = state.to_dict("records")
    kinds = {
        "reconsent": any(r["status"] == lc.UNSUBSCRIBED and r["ownership"] in lc.OWNED
                         and r["intent"] is None for r in rows),
        "archived": any(r["status"] == lc.ARCHIVED for r in rows),
        "linked": any(r["ownership"] == lc.LINKED for r in rows),
        "mailchimp_opt_out": any(r["status"] in lc.OPTED_OUT and r["status_origin"] == lc.MAILCHIMP
                                 for r in rows),
        "pending_intent": any(r["intent"] is not None for r in rows),
        "parked": any(r["parked"] is not None for r in rows),
        "prior_tags": any(r["prior_tags"] for r in rows),
        "frozen": ctx.frozen,
        "withdrawn": bool(ctx.withdrawn),
        "guard_held": bool(plan.guard.get("held")),
        "resubscribes": len(plan.resubscribes) > 0,
        "unsubscribes": len(plan.unsubscribes) > 0,
        "email_changes": len(plan.email_changes) > 0,
    }
    for kind, present in kinds.items():
        event(f"kind: {kind} {'yes' if present else 'no'}")


# -- properties --------------------------------------------------------------------------------
def _hashes(plan: AudiencePlan, *frames: str) -> set[str]:
    out: set[str] = set()
    for name in frames:
        out |= set(getattr(plan, name)["subscriber_hash"])
    return out


def _folded(tags: object) -> set[str]:
    return set(lc.fold_tags(tags))


@EXAMPLES
@given(scenarios())
def test_nothing_is_created_updated_or_tagged_without_consent(s: Scenario):
    consenting = s.source[s.source["marketing_consent"] & ~s.source["deleted"]]
    ids = set(consenting["id"])
    hashes = {subscriber_hash(e.strip("\u00a0 ")) for e in consenting["email"] if isinstance(e, str)}
    for name in ("creates", "updates", "email_changes", "resubscribes", "tag_adds"):
        frame = getattr(s.plan, name)
        assert set(frame["contact_id"]) <= ids, name
        assert set(frame["subscriber_hash"]) <= hashes & set(s.desired["subscriber_hash"]), name


@EXAMPLES
@given(scenarios())
def test_status_changes_only_unsubscribe_owned_mailable_members_or_reconsent(s: Scenario):
    rows, wanted = s.rows, s.wanted
    for u in s.plan.unsubscribes.to_dict("records"):
        r = rows[u["subscriber_hash"]]
        assert r["ownership"] in lc.OWNED and r["status"] in lc.MAILABLE and r["intent"] is None
        assert u["subscriber_hash"] not in wanted
        assert u["explicit"] == (u["reason"] == "consent_withdrawn")
        assert u["explicit"] == (u["subscriber_hash"] in s.ctx.withdrawn)
        if r["ownership"] == lc.LINKED:  # B3: other exits only unlink a linked member
            assert u["explicit"]
    for u in s.plan.resubscribes.to_dict("records"):
        r = rows[u["subscriber_hash"]]
        assert u["subscriber_hash"] in wanted
        assert r["ownership"] in lc.OWNED and r["status"] == lc.UNSUBSCRIBED and r["intent"] is None
        assert not (r["ownership"] == lc.LINKED and s.ctx.existing_members == "leave")
        if u["status"] == lc.SUBSCRIBED:  # A7: only the project's own unsubscribe is undone
            assert r["status_origin"] == lc.PROJECT
        else:  # A8: a Mailchimp-side opt-out asks the person (double opt-in)
            assert u["status"] == lc.PENDING and s.ctx.reconsent == "pending"
            assert r["status_origin"] != lc.PROJECT
    for h in _hashes(s.plan, "creates"):  # created only where Mailchimp holds nothing
        assert h not in rows or (rows[h]["ownership"] == lc.NO_MEMBER and rows[h]["intent"] is None)


@EXAMPLES
@given(scenarios())
def test_updates_and_address_changes_never_carry_a_status(s: Scenario):
    for name in ("updates", "email_changes", "creates"):
        assert "status" not in getattr(s.plan, name).columns, name
    rows = s.rows
    for h in _hashes(s.plan, "updates"):
        assert rows[h]["status"] in EDITABLE_TO


@EXAMPLES
@given(scenarios())
def test_untouchable_and_in_flight_members_are_never_written(s: Scenario):
    rows = s.rows
    untouchable = {h for h, r in rows.items()
                   if r["status"] in UNTOUCHABLE or r["intent"] is not None}
    written = _hashes(s.plan, *[f for f in PLAN_FRAMES if f != "skipped"])
    written |= set(s.plan.email_changes["old_hash"])
    assert not written & untouchable
    # foreign members (no state row, not desired) are never written
    assert written <= set(rows) | set(s.desired["subscriber_hash"])
    # a member Mailchimp never held is never unsubscribed nor untagged (C6)
    absent = {h for h, r in rows.items() if r["ownership"] == lc.NO_MEMBER}
    assert not _hashes(s.plan, "unsubscribes", "tag_removes") & absent


@EXAMPLES
@given(scenarios())
def test_only_managed_tags_move_and_never_prior_tags(s: Scenario):
    rows, wanted = s.rows, s.wanted
    # a member whose address changes in place (B10) is tagged under its new address in the same
    # run: its wanted tags are the new address', its managed and prior tags its old row's
    old_of = dict(zip(s.plan.email_changes["subscriber_hash"], s.plan.email_changes["old_hash"],
                      strict=True))
    for t in s.plan.tag_adds.to_dict("records"):
        h = t["subscriber_hash"]
        assert t["tag"].casefold() in _folded(wanted[h]["managed_tags"])
        row = rows.get(old_of.get(h, h))
        if row is not None:
            assert t["tag"].casefold() not in _folded(row["prior_tags"])
            assert t["tag"].casefold() not in _folded(row["managed_tags"])  # D3
    for t in s.plan.tag_removes.to_dict("records"):
        h = t["subscriber_hash"]
        r = rows[old_of.get(h, h)]
        assert t["tag"].casefold() in _folded(r["managed_tags"])
        assert t["tag"].casefold() not in _folded(r["prior_tags"])
        if h in wanted:  # D3: a case-only rename never removes
            assert t["tag"].casefold() not in _folded(wanted[h]["managed_tags"])
    moved = set(s.plan.tag_adds["tag"]) | set(s.plan.tag_removes["tag"])
    assert not {t.casefold() for t in moved} & {t.casefold() for t in MARKETER_TAGS}  # D1


@EXAMPLES
@given(scenarios())
def test_frozen_audiences_get_only_withdrawals_and_deletions(s: Scenario):
    if not s.ctx.frozen:
        return
    personal = {u["subscriber_hash"] for u in s.plan.unsubscribes.to_dict("records")
                if u["reason"] in lc.PERSON_EXITS}
    assert set(s.plan.unsubscribes["subscriber_hash"]) == personal
    frozen_tags = {t.casefold() for t in s.ctx.frozen_tags}
    wanted = set(s.desired["subscriber_hash"])
    for t in s.plan.tag_removes.to_dict("records"):
        h = t["subscriber_hash"]
        if h not in wanted or t["tag"].casefold() in frozen_tags:
            assert h in s.ctx.withdrawn or _deleted(s, h), t


def _deleted(s: Scenario, h: str) -> bool:
    cid = s.rows[h]["contact_id"]
    return not pd.isna(cid) and int(cid) not in s.ctx.live_contacts


@EXAMPLES
@given(scenarios())
def test_the_guard_never_holds_an_explicit_withdrawal(s: Scenario):
    rows = s.rows
    due = {h for h in s.ctx.withdrawn if h in rows and rows[h]["ownership"] in lc.OWNED
           and rows[h]["status"] in lc.MAILABLE and rows[h]["intent"] is None}
    assert due <= set(s.plan.unsubscribes["subscriber_hash"])
    held = set(s.plan.skipped.loc[s.plan.skipped["reason"] == "mass_unsubscribe_guard", "subscriber_hash"])
    assert not held & set(s.ctx.withdrawn)
    if s.ctx.guard.override:
        assert not held


def _resolved(state: pd.DataFrame, truth: dict[str, Any]) -> pd.DataFrame:
    """The state after the push's read-back, Mailchimp holding `truth`."""
    return read_back(state, {h: m for h, m in truth.items() if m is not None})


def _not_landed(state: pd.DataFrame) -> dict[str, Any]:
    """Mailchimp's view of rows whose writes were lost before landing: creates hold nothing,
    status changes left the status as it was."""
    return {r["subscriber_hash"]: (None if r["intent"] == lc.INTENT_CREATE else {"status": r["status"]})
            for r in state.to_dict("records") if r["intent"] is not None}


def _assert_converged(desired: pd.DataFrame, state: pd.DataFrame, ctx: lc.AudienceContext,
                      previous: AudiencePlan) -> None:
    """Nothing is left to write — but the tags and a status change (A7/A8) of a member whose
    address changed in the previous plan: they follow one run later, from what the move's answer
    read (the push moves tags by the new address; a status is only sent once read, B1); and the
    unsubscribes the previous plan's guard held: the guard's fraction is of the audience's size,
    which the previous push changed (C4)."""
    plan = diff_audience(desired, state, ctx)
    moved = set(previous.email_changes["subscriber_hash"])
    held = set(previous.skipped.loc[previous.skipped["reason"] == "mass_unsubscribe_guard",
                                    "subscriber_hash"])
    for name in PLAN_FRAMES:
        if name == "skipped":
            continue
        frame = getattr(plan, name)
        if name in ("tag_adds", "tag_removes", "resubscribes"):
            frame = frame[~frame["subscriber_hash"].isin(moved)]
        if name == "unsubscribes":
            frame = frame[~frame["subscriber_hash"].isin(held)]
        assert frame.empty, f"{name} not converged:\n{frame}"
    if moved:
        assert diff_audience(desired, apply_plan(state, plan), ctx).is_empty


@EXAMPLES
@given(scenarios(), st.data())
def test_push_then_read_back_converges_even_with_lost_answers(s: Scenario, data):
    resolved = _resolved(s.state, s.truth)
    plan = diff_audience(s.desired, resolved, s.ctx)
    _assert_converged(s.desired, apply_plan(resolved, plan), s.ctx, plan)
    # some answers are lost: their intents are read back next run, then the run after converges
    touched = sorted(_hashes(plan, *[f for f in PLAN_FRAMES if f != "skipped"]))
    failed = data.draw(st.lists(st.sampled_from(touched), unique=True)) if touched else []
    after = apply_plan(resolved, plan, failed=failed)
    again = _resolved(after, _not_landed(after))
    retry = diff_audience(s.desired, again, s.ctx)
    # the guard's fraction depends on the audience's size, which the first push changed
    held = plan.skipped.loc[plan.skipped["reason"] == "mass_unsubscribe_guard", "subscriber_hash"]
    assert _hashes(retry, *[f for f in PLAN_FRAMES if f != "skipped"]) <= set(failed) | set(
        plan.email_changes["subscriber_hash"]) | set(held)
    _assert_converged(s.desired, apply_plan(again, retry), s.ctx, retry)


@EXAMPLES
@given(st.sampled_from(sorted(lc.STATUSES - {lc.ABSENT})), st.sampled_from(sorted(lc.MAILCHIMP_STATUSES)),
       st.sampled_from([None, *sorted(lc.INTENTS)]), st.sampled_from([lc.PROJECT, lc.MAILCHIMP, None]))
def test_the_pull_never_takes_the_projects_own_write_for_an_opt_out(previous, status, intent, origin):
    state = {"status": previous, "intent": intent, "status_origin": origin, "ownership": lc.CREATED}
    outcome = lc.after_pull(state, status, BASE_TIME.to_pydatetime())
    if intent is not None:  # B8: a write in flight is confirmed or read back, never misread
        assert not outcome.opted_out and not outcome.resubscribed
    else:
        assert outcome.opted_out == (status in lc.OPTED_OUT and status != previous)
        assert not (outcome.opted_out and outcome.resubscribed)
