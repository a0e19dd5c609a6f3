"""The contacts export frame (pure): every live contact of an org with, per audience, its sync
status and tags — the rows the `contacts_export` asset writes, and the template the spreadsheet
import reads back (`sync.sheet_format`).

`sync_status` says where the contact stands in that audience:
- `not_consented` — marketing consent is off (Mailchimp's own status, if any, is still shown);
- `invalid_email` / `duplicate_email` — refused by the cohort rules, `detail` says why;
- `rejected` — Mailchimp refused the member, `detail` holds its last recorded outcome;
- Mailchimp's status as last seen (`subscribed`, `unsubscribed`, `cleaned`, `pending`…) or a
  local marker (`creating`, `unknown`);
- `not_synced` (default audience) / `not_in_audience` (others) — no member record yet.
`managed_tags` are the tags this project manages, `mailchimp_tags` every tag the member has in
Mailchimp as of the last pull; lists are joined with "; ".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.emails import normalise_emails, subscriber_hashes

EXPORT_COLUMNS = [
    "contact_id", "email", "first_name", "last_name", "contact_type", "marketing_consent",
    "app_tags", "audience_id", "sync_status", "detail", "mailchimp_status", "managed_tags",
    "mailchimp_tags",
]

def _joined(values: pd.Series) -> list[str]:
    return ["; ".join(map(str, v)) if isinstance(v, list | tuple) else "" for v in values]


def export_frame(contacts: pd.DataFrame, state: pd.DataFrame, errors: pd.DataFrame,
                 audiences: list[str]) -> pd.DataFrame:
    """The export rows (`EXPORT_COLUMNS`) of one org from its live contacts, member state,
    latest per-row outcomes and audiences (the first one is the default audience), sorted by
    contact id then audience."""
    rejected = build_cohort(contacts).rejected.drop_duplicates("contact_id").set_index("contact_id")
    base = pd.DataFrame({
        "contact_id": contacts["id"].to_numpy(),
        "email": contacts["email"].to_numpy(),
        "first_name": contacts["first_name"].to_numpy(),
        "last_name": contacts["last_name"].to_numpy(),
        "contact_type": contacts["contact_type"].to_numpy(),
        "marketing_consent": contacts["marketing_consent"].to_numpy(dtype=bool),
        "app_tags": _joined(contacts["tags"]),
        "subscriber_hash": subscriber_hashes(normalise_emails(contacts["email"])).to_numpy(),
    })
    error_text = {(a, int(c)): f"{code}: {message}" for a, c, code, message in
                  errors[["audience_id", "contact_id", "error_code", "message"]].itertuples(index=False)}
    parts = []
    # an org without any audience yet still lists every contact (audience left empty)
    for position, audience in enumerate(audiences or [None]):
        members = (state[state["audience_id"] == audience]
                   .drop_duplicates("subscriber_hash")[["subscriber_hash", "status", "managed_tags",
                                                        "mailchimp_tags"]])
        part = base.merge(members, on="subscriber_hash", how="left")
        part["audience_id"] = audience
        known = part["status"].notna().to_numpy()
        refused = part["contact_id"].isin(rejected.index).to_numpy()
        status = np.select(
            [~part["marketing_consent"].to_numpy(), refused, known],
            [np.full(len(part), "not_consented", dtype=object),
             part["contact_id"].map(rejected["reason"]).to_numpy(dtype=object),
             part["status"].to_numpy(dtype=object)],
            default="not_synced" if position == 0 else "not_in_audience",
        )
        detail = np.where(refused, part["contact_id"].map(rejected["detail"]).to_numpy(dtype=object),
                          [error_text.get((audience, int(c)), "") if s == "rejected" else ""
                           for c, s in zip(part["contact_id"], status, strict=True)])
        part["sync_status"] = status
        part["detail"] = np.where(status == "not_consented", "", detail)
        part["mailchimp_status"] = part["status"].where(known, "")
        part["managed_tags"] = _joined(part["managed_tags"])
        part["mailchimp_tags"] = _joined(part["mailchimp_tags"])
        parts.append(part[EXPORT_COLUMNS])
    return pd.concat(parts, ignore_index=True).sort_values(["contact_id", "audience_id"],
                                                           ignore_index=True)
