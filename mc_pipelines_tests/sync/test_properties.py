"""Property-based tests of the sync core: consent, status preservation, tag ownership, convergence.

Scenarios are drawn from small pools (emails with case/whitespace variants and invalid ones,
overlapping tags, every Mailchimp and local status) so that collisions — duplicates, members
that left, unmanaged members, failed rows — happen in most examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.diff import AudiencePlan, diff_audience
from mc_pipelines.sync.segments import evaluate_segments
from mc_pipelines.sync.simulate import STATE_COLUMNS, apply_plan, state_from_desired
from mc_pipelines_tests.support.factories import (
    AUDIENCE,
    BASE_TIME,
    OTHER_AUDIENCE,
    contact,
    segments_frame,
    source_frame,
)

EMAILS = [
    "ann@example.com", "Ann@Example.com", " ann@example.com\u00a0", "bob@example.org",
    "carl@example.net", "dee@mail.example.co.uk", "eve@example.com", "fay@example.com",
    "gus@example.com", "Hal@Example.com", "ivy@example.io", "bad address", "zoë@example.com", None, "x@localhost",
]
# Hashes Mailchimp may hold: every valid pool address plus one the app never had.
KNOWN_HASHES = sorted(
    {subscriber_hash(e.strip()) for e in EMAILS if e and "@example" in e and "ë" not in e}
    | {subscriber_hash("stranger@example.com")}
)
STATUSES = ["subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived",
            "creating", "unknown"]
SEGMENT_TAGS = ["T1", "T2", "T3"]
FILTERS = [
    {}, {"department": "sales"}, {"department": ["HR", "Sales "]}, {"tags": ["VIP"]},
    {"tags": ["vip", "beta"]}, {"location": "Paris"}, {"team": "x"}, {"tags": [""]},
]
# too_slow is suppressed: each example builds DataFrames, and on a loaded CI machine the
# generation-time health check would fail for reasons unrelated to the properties.
EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Scenario:
    source: pd.DataFrame
    segment_tags: set[str]  # tags of valid segments feeding the audience under test
    desired: pd.DataFrame
    state: pd.DataFrame
    plan: AudiencePlan


def _decode(code: int, *choices: list) -> list:
    """One value of each list in `choices`, read from the digits of `code` (mixed radix).

    Drawing one integer per row instead of one value per column keeps generation cheap, and
    code 0 (what hypothesis shrinks towards) picks the first value of every list.
    """
    picked = []
    for options in choices:
        code, digit = divmod(code, len(options))
        picked.append(options[digit])
    return picked


def _radix(*choices: list) -> int:
    size = 1
    for options in choices:
        size *= len(options)
    return size - 1


CONTACT_CHOICES = (
    EMAILS, [True, True, False], ["customer", "employee", "vendor"], [None, "Sales", " sales", "HR"],
    [None, "Paris", "paris "], [[], ["vip"], ["VIP", "beta"], ["beta"], ["vip", "beta", "VIP"]],
    [0, 1, 2],
)


@st.composite
def contacts(draw) -> pd.DataFrame:
    codes = draw(st.lists(st.integers(0, _radix(*CONTACT_CHOICES)), min_size=1, max_size=10))
    rows = []
    for i, code in enumerate(codes):
        email, consent, ctype, dept, loc, tags, second = _decode(code, *CONTACT_CHOICES)
        rows.append(contact(
            i + 1, email, marketing_consent=consent, contact_type=ctype, department=dept,
            location=loc, tags=list(tags),
            updated_at=BASE_TIME + pd.Timedelta(seconds=second),
        ))
    return source_frame(rows)


SEGMENT_CHOICES = (
    SEGMENT_TAGS, ["customer", "employee", "vendor", "mixed"], FILTERS,
    [None, AUDIENCE, OTHER_AUDIENCE, OTHER_AUDIENCE],
)


@st.composite
def segments(draw) -> pd.DataFrame:
    codes = draw(st.lists(st.integers(0, _radix(*SEGMENT_CHOICES)), max_size=4))
    rows = []
    for i, code in enumerate(codes):
        tag, seg_type, filters, audience = _decode(code, *SEGMENT_CHOICES)
        rows.append({"id": i + 1, "mailchimp_tag": tag, "segment_type": seg_type,
                     "filters": filters, "audience_id": audience})
    return segments_frame(rows)


TAG_SETS = [[], ["T1"], ["T2"], ["T1", "T2"], ["T3", "T1"], ["T1", "T2", "T3"]]
# Weighted towards the common case (subscribed, managed) so that updates happen often.
STATE_CHOICES = (
    ["stale", "desired", None], [pd.NA, 1, 2, 3], ["subscribed", "subscribed", *STATUSES],
    [True, True, False], TAG_SETS,
)


@st.composite
def desired_states(draw) -> tuple[pd.DataFrame, set[str], pd.DataFrame]:
    """(source, tags of the valid segments feeding the audience, desired rows of one audience)."""
    source = draw(contacts())
    segs = draw(segments())
    audience = draw(st.sampled_from([AUDIENCE, AUDIENCE, AUDIENCE, OTHER_AUDIENCE]))
    cohort = build_cohort(source).cohort
    result = evaluate_segments(cohort, segs, AUDIENCE)
    desired = result.desired[result.desired["audience_id"] == audience].reset_index(drop=True)
    ok = result.summary[result.summary["error"].isna() & (result.summary["audience_id"] == audience)]
    return source, set(ok["tag"]), desired


@st.composite
def scenarios(draw) -> Scenario:
    source, segment_tags, desired = draw(desired_states())
    by_hash = desired.set_index("subscriber_hash")

    rows = []
    # Most desired members are already in Mailchimp, plus a few addresses that are not desired.
    desired_hashes = desired["subscriber_hash"].tolist()
    present = [h for h in desired_hashes if draw(st.integers(0, 3))]
    present += draw(st.lists(
        st.sampled_from([h for h in KNOWN_HASHES if h not in desired_hashes] or KNOWN_HASHES),
        unique=True, max_size=3,
    ))
    present = list(dict.fromkeys(present))
    codes = draw(st.lists(st.integers(0, _radix(*STATE_CHOICES)),
                          min_size=len(present), max_size=len(present)))
    for h, code in zip(present, codes, strict=True):
        payload, contact_id, status, managed, tags = _decode(code, *STATE_CHOICES)
        if payload == "desired":
            payload = by_hash.loc[h, "payload_hash"] if h in by_hash.index else "f" * 32
        elif payload == "stale":
            payload = "0" * 32
        rows.append({
            "subscriber_hash": h, "contact_id": contact_id, "email": f"{h[:8]}@example.com",
            "payload_hash": payload, "status": status, "managed": managed,
            "managed_tags": list(tags),
        })
    state = pd.DataFrame(rows, columns=list(STATE_COLUMNS))
    state["contact_id"] = state["contact_id"].astype("Int64")
    plan = diff_audience(desired, state)
    return Scenario(source, segment_tags, desired, state, plan)


def _state_by_hash(state: pd.DataFrame) -> dict[str, dict]:
    return {r["subscriber_hash"]: r for r in state.to_dict("records")}


@EXAMPLES
@given(scenarios())
def test_no_contact_without_consent_is_ever_subscribed(s: Scenario):
    consented = s.source[s.source["marketing_consent"]]
    consented_ids = set(consented["id"])
    consented_hashes = {
        subscriber_hash(e.strip("\u00a0 ")) for e in consented["email"] if isinstance(e, str)
    }
    for frame in (s.plan.creates, s.plan.updates, s.plan.tag_adds):
        assert set(frame["contact_id"]) <= consented_ids
        assert set(frame["subscriber_hash"]) <= consented_hashes
    assert set(s.plan.creates["subscriber_hash"]) <= set(s.desired["subscriber_hash"])


@EXAMPLES
@given(scenarios())
def test_updates_always_carry_the_state_status(s: Scenario):
    state = _state_by_hash(s.state)
    for row in s.plan.updates.to_dict("records"):
        assert row["status"] == state[row["subscriber_hash"]]["status"]
        assert row["status"] in {"subscribed", "unsubscribed", "pending"}


@EXAMPLES
@given(scenarios())
def test_no_subscribe_for_unsubscribed_or_cleaned_members(s: Scenario):
    state = _state_by_hash(s.state)
    for h in s.plan.creates["subscriber_hash"]:
        # Created only when Mailchimp does not hold it (or the create was never confirmed).
        assert h not in state or (state[h]["status"] == "creating" and state[h]["managed"])
    for row in s.plan.updates.to_dict("records"):
        was = state[row["subscriber_hash"]]["status"]
        assert was not in {"cleaned", "archived", "transactional"}
        assert row["status"] != "subscribed" or was == "subscribed"


@EXAMPLES
@given(scenarios())
def test_only_managed_tags_of_managed_members_are_planned(s: Scenario):
    state = _state_by_hash(s.state)
    unmanaged = {h for h, r in state.items() if not r["managed"]}
    for row in s.plan.tag_adds.to_dict("records"):
        assert row["tag"] in s.segment_tags
        assert row["subscriber_hash"] not in unmanaged
        assert state.get(row["subscriber_hash"], {}).get("status") not in {"cleaned", "archived"}
    for row in s.plan.tag_removes.to_dict("records"):
        assert row["tag"] in state[row["subscriber_hash"]]["managed_tags"]
        assert row["subscriber_hash"] not in unmanaged
    assert not (set(s.plan.unsubscribes["subscriber_hash"]) & unmanaged)
    assert not (set(s.plan.updates["subscriber_hash"]) & unmanaged)


@EXAMPLES
@given(desired_states())
def test_diff_of_state_built_from_desired_is_empty(drawn):
    _, _, desired = drawn
    plan = diff_audience(desired, state_from_desired(desired))
    assert plan.is_empty
    assert plan.skipped.empty


def _assert_agrees(desired: pd.DataFrame, state: pd.DataFrame) -> None:
    """The state after a push holds what is desired, wherever the project may write."""
    rows = _state_by_hash(state)
    for d in desired.to_dict("records"):
        r = rows[d["subscriber_hash"]]  # every desired member exists
        if not r["managed"]:
            continue
        if r["status"] in {"subscribed", "unsubscribed", "pending"}:
            assert r["payload_hash"] == d["payload_hash"]
        if r["status"] not in {"cleaned", "archived", "unknown"}:
            assert sorted(r["managed_tags"]) == sorted(d["managed_tags"])
        else:
            assert set(r["managed_tags"]) <= set(d["managed_tags"])
    wanted = set(desired["subscriber_hash"])
    for h, r in rows.items():
        if h not in wanted and r["managed"]:
            assert r["status"] not in {"subscribed", "pending", "creating"}
            assert not list(r["managed_tags"])


@EXAMPLES
@given(scenarios(), st.data())
def test_applying_a_plan_converges_even_with_failed_rows(s: Scenario, data):
    # A clean push converges in one step and leaves the audience as desired.
    pushed = apply_plan(s.state, s.plan)
    _assert_agrees(s.desired, pushed)
    assert diff_audience(s.desired, pushed).is_empty
    # A push where some rows fail leaves work that the next run finishes.
    touched = sorted(
        set(s.plan.creates["subscriber_hash"]) | set(s.plan.updates["subscriber_hash"])
        | set(s.plan.unsubscribes["subscriber_hash"]) | set(s.plan.tag_adds["subscriber_hash"])
        | set(s.plan.tag_removes["subscriber_hash"])
    )
    failed = data.draw(st.lists(st.sampled_from(touched), unique=True)) if touched else []
    after_failure = apply_plan(s.state, s.plan, failed=failed)
    retry = diff_audience(s.desired, after_failure)
    retried = (set(retry.creates["subscriber_hash"]) | set(retry.updates["subscriber_hash"])
               | set(retry.unsubscribes["subscriber_hash"])
               | set(retry.tag_adds["subscriber_hash"]) | set(retry.tag_removes["subscriber_hash"]))
    assert retried == set(failed)
    assert diff_audience(s.desired, apply_plan(after_failure, retry)).is_empty
