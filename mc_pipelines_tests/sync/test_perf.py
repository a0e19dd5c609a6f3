"""The sync core's performance helpers give what the slower pandas calls give."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mc_pipelines.sync._perf import records


def test_records_are_to_dict_records():
    frame = pd.DataFrame({
        "subscriber_hash": ["a" * 32, "b" * 32, "c" * 32],
        "contact_id": np.array([1, 2, 3], dtype="int64"),
        "score": [1.5, np.nan, 3.0],
        "merge_fields": [{"FNAME": "Ann"}, {}, {"FNAME": None}],
        "tags": [["VIP"], [], None],
        "at": pd.to_datetime(["2026-12-01", None, "2026-12-03"]),
        "flag": [True, False, True],
    })
    for part in (frame, frame.iloc[1:], frame.iloc[:0]):
        got, want = records(part), part.to_dict("records")
        assert [{k: type(v) for k, v in r.items()} for r in got] == \
               [{k: type(v) for k, v in r.items()} for r in want]
        assert repr(got) == repr(want)  # NaN and NaT compare by their text
