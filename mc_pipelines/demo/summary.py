"""The demo's printed summary: two tables whose columns add up, each column defined in a legend.

The dataset table: contacts = deleted + read, and read = no consent + invalid + dupes + cohort.
The runs table: what each sync run did in Mailchimp, with the calls and writes the emulator
counted for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass

#: (header, definition) of every column of the dataset table.
DATASET_COLUMNS = (
    ("org", "the demo organisation"),
    ("contacts", "the org's rows in the application's contacts table = deleted + read"),
    ("deleted", "soft-deleted contacts (deleted_at set): never read, never synced"),
    ("read", "live contacts the sync read = no consent + invalid + dupes + cohort"),
    ("no consent", "marketing consent off (never given, or withdrawn): kept out of Mailchimp"),
    ("invalid", "consent given but the address is unusable (rejected_contacts, with contact ids)"),
    ("dupes", "consent given but the same address (any letter case) belongs to a more recently "
              "updated contact (rejected_contacts)"),
    ("cohort", "consenting contacts with a valid, unique address: the members the org's audience "
               "should have"),
)

#: (header, definition) of every column of the runs table.
RUN_COLUMNS = (
    ("org", "the demo organisation"),
    ("run", "which run of `audience_sync_job` (pull, cohort, segments, push)"),
    ("cohort", "the cohort that run synced (see above)"),
    ("created", "members created in Mailchimp, counted in every audience the org syncs to"),
    ("updated", "members whose fields changed (never their status)"),
    ("unsub →", "unsubscribes the project sent (consent withdrawn or contact deleted in the app)"),
    ("unsub ←", "members who unsubscribed in Mailchimp, pulled back as withdrawn consent"),
    ("tags +/-", "managed tags added / removed"),
    ("rejected", "rows Mailchimp refused (kept in sync_errors with the contact id; not retried "
                 "until the contact's data changes)"),
    ("calls", "every HTTP request the run made to Mailchimp: the pull, read-backs, bulk writes "
              "and batch polling (counted by the emulator)"),
    ("writes", "the calls that change something (POST/PUT/PATCH/DELETE); one /batches call of "
               "up to 500 operations is one write"),
)


@dataclass(frozen=True)
class DatasetRow:
    """What one org's contacts are, as its first sync read them."""

    org: str
    contacts: int
    deleted: int
    read: int
    no_consent: int
    invalid: int
    dupes: int
    cohort: int

    def adds_up(self) -> bool:
        """contacts = deleted + read and read = no consent + invalid + dupes + cohort."""
        return (self.contacts == self.deleted + self.read
                and self.read == self.no_consent + self.invalid + self.dupes + self.cohort)


@dataclass(frozen=True)
class RunRow:
    """What one sync run did."""

    org: str
    run: str
    cohort: int
    created: int
    updated: int
    unsubscribed: int
    unsubscribed_in_mailchimp: int
    tags_added: int
    tags_removed: int
    rejected: int
    calls: int
    writes: int

    def cells(self) -> list[str]:
        """The row as the table prints it (tags as added/removed)."""
        values = astuple(self)
        tags = f"{self.tags_added}/{self.tags_removed}"
        return [str(v) for v in values[:7]] + [tags] + [str(v) for v in values[9:]]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain text table: header, rule, rows; columns padded to their widest cell."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return [line.rstrip() for line in lines]


def legend(columns: Sequence[tuple[str, str]]) -> list[str]:
    """One `  header: definition` line per column (the org column needs none)."""
    width = max(len(h) for h, _ in columns)
    return [f"  {h.rjust(width)}: {d}" for h, d in columns if h != "org"]


def render(dataset: Sequence[DatasetRow], runs: Sequence[RunRow]) -> list[str]:
    """Both tables, each followed by the definitions of its columns."""
    lines = ["Contacts per org (as the first sync read them):"]
    lines += table([h for h, _ in DATASET_COLUMNS], [[str(v) for v in astuple(r)] for r in dataset])
    lines += legend(DATASET_COLUMNS)
    lines += ["", "Sync runs:"]
    lines += table([h for h, _ in RUN_COLUMNS], [r.cells() for r in runs])
    lines += legend(RUN_COLUMNS)
    return lines
