"""The application's own contact tags as Mailchimp tags (pure).

- **Push** (connection option `push_app_tags`): every tag a cohort contact carries in the app
  becomes a *managed* tag of the org's default audience named `app_tag_prefix + tag` — one
  membership row per (contact, tag), the same shape as a segment's, so `desired_members`,
  the diff and the push treat it exactly like a segment tag (moved case-insensitively, D3;
  never a tag the member had before, D2; re-applied when removed by hand, D4) without one
  segment per tag.
- **Download**: the tags a member has in Mailchimp that the project does not manage (segment tags
  and pushed app tags are the app's own already) are added to the contact's app tags.
- **Tag names** given by an operator (new-member tags, the prefix) are checked here.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain

import numpy as np
import pandas as pd

from mc_pipelines.sync.text import as_tag_list, clean_text

#: Mailchimp's limit on a tag name (the same as `sync.segments.MAX_TAG_LENGTH`; not imported:
#: `sync.segments` builds on `sync.desired`, which builds on this module).
MAX_TAG_LENGTH = 100
#: The columns of segment membership rows (`sync.segments.MEMBERSHIP_COLUMNS`).
MEMBERSHIP_COLUMNS = ("segment_id", "audience_id", "subscriber_hash", "contact_id", "tag")
#: `segment_id` of the membership rows of pushed app tags (no segment defines them).
APP_TAG_SEGMENT_ID = 0
MAX_PREFIX_LENGTH = 50


def tag_name_problems(tags: Iterable[object], what: str = "tag") -> list[str]:
    """Problems with tag names an operator gave (empty list when they are fine): empty names,
    names over Mailchimp's 100 characters, control characters, non-text values."""
    problems = []
    for tag in tags:
        if not isinstance(tag, str):
            problems.append(f"{what} {tag!r} is not text")
        elif not tag.strip():
            problems.append(f"{what} names must not be empty")
        elif clean_text(tag) != tag:
            problems.append(f"{what} {tag!r} contains control characters")
        elif len(tag.strip()) > MAX_TAG_LENGTH:
            problems.append(f"{what} {tag[:20]!r}… is longer than {MAX_TAG_LENGTH} characters")
    return problems


def prefix_problems(prefix: object) -> list[str]:
    """Problems with an `app_tag_prefix` ("" is allowed: app tags are pushed under their own
    names)."""
    if not isinstance(prefix, str):
        return [f"app tag prefix must be text, not {type(prefix).__name__}"]
    if clean_text(prefix) != prefix:
        return ["app tag prefix contains control characters"]
    if len(prefix) > MAX_PREFIX_LENGTH:
        return [f"app tag prefix is longer than {MAX_PREFIX_LENGTH} characters"]
    return []


def unique_tags(tags: Iterable[str]) -> list[str]:
    """Tag names trimmed, without case-insensitive duplicates (first spelling kept), in order."""
    seen: dict[str, str] = {}
    for tag in tags:
        name = tag.strip()
        if name:
            seen.setdefault(name.casefold(), name)
    return list(seen.values())


def app_tag_membership(cohort: pd.DataFrame, audience_id: str, prefix: str) -> pd.DataFrame:
    """Membership rows (`MEMBERSHIP_COLUMNS`) making each cohort contact's app tags managed tags
    `prefix + tag` of `audience_id`. Tags whose prefixed name exceeds Mailchimp's 100 characters
    are left out; a contact's tags equal but for case count once."""
    values = cohort["tags"].tolist() if "tags" in cohort.columns else []
    lists = [unique_tags(v if type(v) is list else as_tag_list(v)) for v in values]
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    positions = np.repeat(np.arange(len(lists)), lengths)
    names = np.asarray([prefix + t for t in chain.from_iterable(lists)], dtype=object)
    keep = np.fromiter((len(n) <= MAX_TAG_LENGTH for n in names), dtype=bool, count=len(names))
    positions, names = positions[keep], names[keep]
    return pd.DataFrame({
        "segment_id": np.full(len(names), APP_TAG_SEGMENT_ID, dtype=np.int64),
        "audience_id": np.full(len(names), audience_id, dtype=object),
        "subscriber_hash": cohort["subscriber_hash"].to_numpy(dtype=object)[positions],
        "contact_id": cohort["contact_id"].to_numpy(dtype=np.int64)[positions],
        "tag": names,
    }, columns=list(MEMBERSHIP_COLUMNS))


def is_managed(tag: str, segment_tags: Iterable[str], prefix: str | None) -> bool:
    """True when the project manages `tag` in an audience: a segment's tag there, or (app tags
    pushed with a non-empty `prefix`) a tag starting with the prefix. Case-insensitive."""
    folded = tag.casefold()
    if prefix and folded.startswith(prefix.casefold()):
        return True
    return folded in {t.casefold() for t in segment_tags}


def downloaded_tags(app_tags: Iterable[str], mailchimp_tags: Iterable[str],
                    managed: Iterable[str], prefix: str | None) -> list[str]:
    """A contact's app tags after a download: its own tags, then the member's Mailchimp tags the
    project does not manage (see `is_managed`), without case-insensitive duplicates. A download
    never removes an app tag."""
    managed = list(managed)
    own = list(app_tags)
    incoming = [t for t in mailchimp_tags if not is_managed(t, managed, prefix)]
    return unique_tags([*own, *sorted(incoming, key=str.casefold)])


def managed_tags_by_audience(segments: pd.DataFrame, default_audience: str | None) -> dict[str, set[str]]:
    """The segment tags each audience's segments manage (`audience_id` None → the default)."""
    managed: dict[str, set[str]] = {}
    for row in segments.to_dict("records") if len(segments) else []:
        audience = row.get("audience_id") or default_audience
        tag = row.get("mailchimp_tag")
        if audience and isinstance(tag, str) and tag.strip():
            managed.setdefault(str(audience), set()).add(tag.strip())
    return managed


DOWNLOAD_COLUMNS = ("contact_id", "tags", "added")


def download_plan(contacts: pd.DataFrame, member_tags: pd.DataFrame,
                  managed: dict[str, set[str]], prefix: str | None) -> pd.DataFrame:
    """The contacts whose app tags a download changes (`DOWNLOAD_COLUMNS`: new tag list and the
    tags added). `contacts`: `contact_id`, `subscriber_hash` (of the normalised address), `tags`;
    `member_tags`: `audience_id`, `subscriber_hash`, `tags` (every audience read). A contact takes
    the tags its address's members have in any audience, less each audience's managed tags."""
    incoming: dict[str, list[str]] = {}
    for audience, h, tags in member_tags[["audience_id", "subscriber_hash", "tags"]].itertuples(
            index=False):
        kept = [t for t in tags or () if not is_managed(t, managed.get(audience, ()), prefix)]
        if kept:
            incoming.setdefault(h, []).extend(kept)
    rows = []
    for cid, h, own in contacts[["contact_id", "subscriber_hash", "tags"]].itertuples(index=False):
        if h not in incoming:
            continue
        own = as_tag_list(own)
        after = downloaded_tags(own, incoming[h], (), None)
        if len(after) != len(unique_tags(own)):
            have = {t.casefold() for t in own}
            rows.append((int(cid), after, [t for t in after if t.casefold() not in have]))
    return pd.DataFrame(rows, columns=list(DOWNLOAD_COLUMNS))
