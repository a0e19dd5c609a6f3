"""Builders of source, segment and state frames for the sync tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

BASE_TIME = pd.Timestamp("2024-01-01 00:00:00")
AUDIENCE = "aud0000001"
OTHER_AUDIENCE = "aud0000002"


def contact(id: int, email: str | None, **kw: Any) -> dict[str, Any]:
    """One source row with sensible defaults (consent on)."""
    row: dict[str, Any] = {
        "id": id, "org_id": "org1", "email": email, "first_name": f"First{id}",
        "last_name": f"Last{id}", "phone": None, "contact_type": "customer",
        "department": None, "location": None, "employment_type": None,
        "employment_status": None, "marketing_consent": True, "tags": [],
        "created_at": BASE_TIME, "updated_at": BASE_TIME + pd.Timedelta(seconds=id),
    }
    row.update(kw)
    return row


def source_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A source frame typed like the reader's output."""
    rows = list(rows)
    names = list(contact(0, None))
    data: dict[str, Any] = {
        name: pd.Series([r[name] for r in rows], dtype=object) for name in names
    }
    data["id"] = pd.Series([r["id"] for r in rows], dtype="int64")
    data["marketing_consent"] = pd.Series([bool(r["marketing_consent"]) for r in rows],
                                          dtype=bool)
    for col in ("created_at", "updated_at"):
        data[col] = pd.Series([r[col] for r in rows], dtype="datetime64[ns]")
    return pd.DataFrame(data)


def segments_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A segments frame; each row needs id and mailchimp_tag at least."""
    defaults = {"name": None, "segment_type": "mixed", "filters": {}, "audience_id": None}
    return pd.DataFrame(
        [{**defaults, "name": f"segment {r['id']}", **r} for r in rows],
        columns=["id", "name", "segment_type", "filters", "audience_id", "mailchimp_tag"],
    )


def synthetic_source(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` contacts shaped like a real org: ~90% consent, a few invalid and duplicate emails."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1, dtype=np.int64)
    domains = np.array(["example.org", "mail.test.com", "corp.co.uk", "gmail.com"], dtype=object)
    emails = [f"User.{i}@{d}" for i, d in zip(ids.tolist(), domains[ids % 4].tolist(), strict=True)]
    bad = rng.choice(n, size=max(n // 1000, 1), replace=False)
    for i in bad.tolist():
        emails[i] = f"broken {i}@nowhere"
    dup = rng.choice(n, size=max(n // 1000, 1), replace=False)
    for i in dup.tolist():
        emails[i] = emails[(i + 1) % n].upper()
    pick = rng.integers
    departments = np.array(["Sales", "HR", "Engineering", "Support", None], dtype=object)
    locations = np.array(["London", "Paris", "Berlin", "Remote"], dtype=object)
    tag_sets = [[], ["vip"], ["newsletter"], ["vip", "newsletter"], ["beta"]]
    tag_idx = pick(0, len(tag_sets), n)
    return pd.DataFrame({
        "id": ids,
        "org_id": "org1",
        "email": pd.Series(emails, dtype=object),
        "first_name": pd.Series([f"Fïrst{i}" for i in ids.tolist()], dtype=object),
        "last_name": pd.Series([f"Last{i}" for i in ids.tolist()], dtype=object),
        "phone": pd.Series(np.where(pick(0, 2, n) == 1, "+44 20 7946 0000", None), dtype=object),
        "contact_type": np.array(["customer", "employee", "vendor"], dtype=object)[pick(0, 3, n)],
        "department": departments[pick(0, 5, n)],
        "location": locations[pick(0, 4, n)],
        "employment_type": np.array(["full_time", "part_time", None], dtype=object)[pick(0, 3, n)],
        "employment_status": np.array(["active", "on_leave", None], dtype=object)[pick(0, 3, n)],
        "marketing_consent": pick(0, 10, n) != 0,
        "tags": pd.Series([tag_sets[k] for k in tag_idx.tolist()], dtype=object),
        "created_at": BASE_TIME,
        "updated_at": BASE_TIME + pd.to_timedelta(pick(0, 10**6, n), unit="s"),
    })


def synthetic_segments() -> pd.DataFrame:
    """Five segments: types, scalar and tag filters, one to another audience, one invalid."""
    return segments_frame([
        {"id": 1, "mailchimp_tag": "Customers", "segment_type": "customer"},
        {"id": 2, "mailchimp_tag": "London Sales", "segment_type": "employee",
         "filters": {"department": "sales", "location": ["London", "Remote"]}},
        {"id": 3, "mailchimp_tag": "VIP", "filters": {"tags": ["VIP"]}},
        {"id": 4, "mailchimp_tag": "Vendors", "segment_type": "vendor",
         "audience_id": OTHER_AUDIENCE},
        {"id": 5, "mailchimp_tag": "Broken", "filters": {"team": "x"}},
    ])
