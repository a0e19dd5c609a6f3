import hashlib
import subprocess
import sys

import pandas as pd
import pytest

from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.desired import (
    DESIRED_COLUMNS,
    check_merge_field_map,
    desired_members,
    effective_merge_field_map,
    payload_hash,
)
from mc_pipelines.sync.segments import evaluate_segments
from mc_pipelines_tests.support.factories import (
    AUDIENCE,
    OTHER_AUDIENCE,
    contact,
    segments_frame,
    source_frame,
)

NO_MEMBERSHIP = pd.DataFrame(columns=["segment_id", "audience_id", "subscriber_hash",
                                      "contact_id", "tag"])


def _desired(rows, merge_field_map=None, extra=None):
    src = source_frame(rows)
    for col, values in (extra or {}).items():
        src[col] = values
    cohort = build_cohort(src).cohort
    return desired_members(cohort, NO_MEMBERSHIP, AUDIENCE, merge_field_map)


def test_default_merge_fields_and_none_as_empty():
    desired = _desired([contact(1, "Ann@example.com", first_name="Ann", last_name=None,
                                phone="+1 555")])
    assert list(desired.columns) == list(DESIRED_COLUMNS)
    row = desired.iloc[0]
    assert row["merge_fields"] == {"FNAME": "Ann", "LNAME": "", "PHONE": "+1 555"}
    assert row["audience_id"] == AUDIENCE
    assert row["email"] == "Ann@example.com"
    assert row["managed_tags"] == ()
    assert not row["truncated"]


def test_payload_hash_is_md5_of_email_and_sorted_merge_fields():
    desired = _desired([contact(1, "Ann@example.com", first_name="Ann", last_name="Lee",
                                phone=None)])
    expected = hashlib.md5(
        "\x00".join(["Ann@example.com", "FNAME", "Ann", "LNAME", "Lee", "PHONE", ""]).encode()
    ).hexdigest()
    assert desired.iloc[0]["payload_hash"] == expected
    assert payload_hash("Ann@example.com", {"PHONE": "", "LNAME": "Lee", "FNAME": "Ann"}) == expected


def test_payload_hash_is_stable_across_processes():
    desired = _desired([contact(1, "a@example.com", first_name="Zoë")])
    code = (
        "from mc_pipelines.sync.desired import payload_hash;"
        "print(payload_hash('a@example.com', {'FNAME': 'Zoë', 'LNAME': 'Last1', 'PHONE': ''}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123"})
    assert out.stdout.strip() == desired.iloc[0]["payload_hash"]


def test_payload_hash_ignores_tags_but_not_email_or_fields():
    base = _desired([contact(1, "a@example.com", first_name="A")]).iloc[0]["payload_hash"]
    assert _desired([contact(1, "a@example.com", first_name="A", tags=["x"])]
                    ).iloc[0]["payload_hash"] == base
    assert _desired([contact(1, "A@example.com", first_name="A")]).iloc[0]["payload_hash"] != base
    assert _desired([contact(1, "a@example.com", first_name="B")]).iloc[0]["payload_hash"] != base
    # Values cannot bleed into each other: moving text between fields changes the hash.
    one = payload_hash("a@example.com", {"FNAME": "ab", "LNAME": "c"})
    two = payload_hash("a@example.com", {"FNAME": "a", "LNAME": "bc"})
    assert one != two


def test_long_values_are_truncated_and_flagged():
    desired = _desired([
        contact(1, "a@example.com", first_name="x" * 10_000, last_name="é" * 300),
        contact(2, "b@example.com", first_name="y" * 255),
    ]).set_index("contact_id")
    fields = desired.loc[1, "merge_fields"]
    assert fields["FNAME"] == "x" * 255
    assert fields["LNAME"] == "é" * 255
    assert bool(desired.loc[1, "truncated"]) is True
    assert desired.loc[2, "merge_fields"]["FNAME"] == "y" * 255
    assert bool(desired.loc[2, "truncated"]) is False
    assert desired.loc[1, "payload_hash"] == payload_hash("a@example.com", fields)


def test_custom_merge_field_map_adds_and_removes_fields():
    desired = _desired(
        [contact(1, "a@example.com", department="Sales", updated_at=pd.Timestamp("2024-05-06 07:08"))],
        merge_field_map={"dept": "department", "company": "company", "PHONE": None,
                         "SINCE": "updated_at", "CID": "id_copy"},
        extra={"company": None, "id_copy": 42},
    )
    assert desired.iloc[0]["merge_fields"] == {
        "CID": "42", "COMPANY": "", "DEPT": "Sales", "FNAME": "First1", "LNAME": "Last1",
        "SINCE": "2024-05-06",
    }


def test_unknown_column_in_map_raises():
    with pytest.raises(ValueError, match="nope"):
        _desired([contact(1, "a@example.com")], merge_field_map={"X": "nope"})


def test_effective_map_overlays_defaults():
    assert effective_merge_field_map({"company": "company", "PHONE": ""}) == {
        "FNAME": "first_name", "LNAME": "last_name", "COMPANY": "company",
    }


AUDIENCE_FIELDS = [
    {"tag": "FNAME", "type": "text", "required": False},
    {"tag": "LNAME", "type": "text", "required": False},
    {"tag": "PHONE", "type": "phone", "required": False},
    {"tag": "ADDRESS", "type": "address", "required": False},
    {"tag": "SCORE", "type": "number", "required": False},
]
SOURCE_COLUMNS = ["id", "first_name", "last_name", "phone", "department", "location"]


def test_check_merge_field_map_ok():
    assert check_merge_field_map(None, AUDIENCE_FIELDS, SOURCE_COLUMNS) == []
    assert check_merge_field_map({"SCORE": "id"}, AUDIENCE_FIELDS, SOURCE_COLUMNS) == []


def test_check_merge_field_map_problems():
    problems = check_merge_field_map(
        {"DEPT": "department", "LOC": "where", "SCORE": "location", "ADDRESS": "location"},
        AUDIENCE_FIELDS, SOURCE_COLUMNS,
    )
    assert problems == [
        "merge field ADDRESS is an address field, which needs an object, not text from column "
        "'location'",
        "merge field DEPT is not defined in the audience; its merge fields are: ADDRESS, FNAME, "
        "LNAME, PHONE, SCORE",
        "merge field LOC maps to unknown column 'where'; available columns: department, "
        "first_name, id, last_name, location, phone",
        "merge field LOC is not defined in the audience; its merge fields are: ADDRESS, FNAME, "
        "LNAME, PHONE, SCORE",
        "merge field SCORE is a number field but column 'location' holds text",
    ]


def test_check_merge_field_map_uses_dtypes_and_required_fields():
    frame = pd.DataFrame({"first_name": ["a"], "last_name": ["b"], "phone": ["c"],
                          "score": [1.5], "label": ["x"]})
    fields = [*AUDIENCE_FIELDS[:3], {"tag": "SCORE", "type": "number"},
              {"tag": "CITY", "type": "text", "required": True}]
    assert check_merge_field_map({"SCORE": "score"}, fields, frame.dtypes) == [
        "merge field CITY is required by the audience but nothing is mapped to it",
    ]
    assert check_merge_field_map({"SCORE": "label", "CITY": "label"}, fields, frame.dtypes) == [
        "merge field SCORE is a number field but column 'label' holds text",
    ]


def test_desired_rows_per_audience_with_managed_tags():
    cohort = build_cohort(source_frame([
        contact(1, "a@example.com", tags=["x"]),
        contact(2, "b@example.com", contact_type="vendor"),
    ])).cohort
    result = evaluate_segments(cohort, segments_frame([
        {"id": 1, "mailchimp_tag": "Zed", "filters": {"tags": ["x"]}},
        {"id": 2, "mailchimp_tag": "Alpha"},
        {"id": 3, "mailchimp_tag": "Alpha", "filters": {"tags": ["x"]}},  # same tag twice
        {"id": 4, "mailchimp_tag": "Vendors", "segment_type": "vendor",
         "audience_id": OTHER_AUDIENCE},
    ]), AUDIENCE)
    d = result.desired
    assert d[["audience_id", "contact_id"]].values.tolist() == [
        [AUDIENCE, 1], [AUDIENCE, 2], [OTHER_AUDIENCE, 2],
    ]
    assert d["managed_tags"].tolist() == [("Alpha", "Zed"), ("Alpha",), ("Vendors",)]
    assert not d.duplicated(["audience_id", "subscriber_hash"]).any()


def test_many_tags_in_one_audience():
    cohort = build_cohort(source_frame([contact(i, f"u{i}@example.com") for i in range(1, 4)])).cohort
    segments = segments_frame(
        [{"id": i, "mailchimp_tag": f"T{i:03d}"} for i in range(1, 151)]
        + [{"id": 999, "mailchimp_tag": "Only1", "filters": {"department": "x"}}]
    )
    d = evaluate_segments(cohort, segments, AUDIENCE).desired
    expected = tuple(f"T{i:03d}" for i in range(1, 151))
    assert d["managed_tags"].tolist() == [expected] * 3
