import pandas as pd
import pytest

from mc_pipelines.mailchimp.limits import chunk
from mc_pipelines.sync.batching import minimal_call_count, plan_calls
from mc_pipelines.sync.diff import diff_audience
from mc_pipelines.sync.simulate import state_from_desired


def test_chunk_sequences_and_frames():
    assert [len(c) for c in chunk(list(range(1201)))] == [500, 500, 201]
    assert list(chunk([], 3)) == []
    frame = pd.DataFrame({"x": range(7)})
    parts = list(chunk(frame, 3))
    assert [p["x"].tolist() for p in parts] == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError):
        list(chunk([1], 0))


def _desired(n, tags):
    return pd.DataFrame({
        "audience_id": "aud",
        "subscriber_hash": [f"{i:032x}" for i in range(n)],
        "contact_id": range(1, n + 1),
        "email": [f"u{i}@example.com" for i in range(n)],
        "merge_fields": [{} for _ in range(n)],
        "managed_tags": [tags(i) for i in range(n)],
        "payload_hash": [f"{i:032x}" for i in range(n)],
        "truncated": False,
    })


def test_plan_calls_cuts_each_kind_and_tag_into_500s():
    desired = _desired(1201, lambda i: ("A", "B") if i < 600 else ("A",))
    state = state_from_desired(desired.iloc[1001:])  # 200 already there
    state.loc[:9, "payload_hash"] = None  # 10 updates
    state.loc[10:19, "managed_tags"] = pd.Series([["A", "Z"]] * 10, index=range(10, 20))
    plan = diff_audience(desired, state)
    assert plan.counts["creates"] == 1001 and plan.counts["updates"] == 10
    calls = plan_calls(plan)
    assert calls.by_kind == {"create": 3, "email_change": 0, "update": 1, "unsubscribe": 0,
                             "resubscribe": 0, "tag_add": 5, "tag_remove": 1}
    assert calls.calls[calls.calls["kind"] == "tag_add"][["tag", "size"]].values.tolist() == [
        ["A", 500], ["A", 500], ["A", 1], ["B", 500], ["B", 100],
    ]
    assert calls.calls[calls.calls["kind"] == "tag_remove"][["tag", "size"]].values.tolist() == [
        ["Z", 10],
    ]
    assert calls.total == minimal_call_count(plan) == 10
    assert calls.calls["size"].max() <= 500
    assert plan_calls(plan, batch_size=100).total > calls.total


def test_empty_plan_needs_no_calls():
    desired = _desired(3, lambda i: ("A",))
    plan = diff_audience(desired, state_from_desired(desired))
    assert plan_calls(plan).total == 0 == minimal_call_count(plan)
