"""Large orgs for the benchmarks, and the benchmark-only fast paths that put them in sync.

`create_org` writes an org with N contacts shaped like a real one (≈90 % consent, 0.1 % invalid
and 0.1 % duplicate addresses, departments, locations, application tags) straight into
PostgreSQL with `COPY … FROM STDIN` (a million rows in seconds; the application's own inserts
are not what is measured), adds its segments and connects it to a fresh emulator account
through the real `connect_org` (key check over HTTP).

`load_in_sync` is the **benchmark-only fast path** that makes "an org already in sync" without
pushing a million members through the API first: it computes the desired state with the
pipeline's own functions (`read_live_contacts` → `build_cohort` → `evaluate_segments` →
`desired_members`, so it is exactly what a sync would have pushed), then
- loads those members into the emulator with its admin `bulk-load` route (status subscribed,
  merge fields, the managed tags, `last_changed` an hour ago), and
- writes the matching `mailchimp_member_state` rows with `COPY` (payload hash, status,
  managed tags — what a successful push records), and
- sets the member-status pull cursor after that `last_changed`, as a previous pull would have.
Neither path is used by the product; a no-change run right after it makes 0 write calls,
which is how the benchmark checks that it is faithful.

`apply_changes` then changes a fraction of the contacts the way the application would
(bumping `updated_at`): merge-field edits, consent withdrawals, segment moves.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from mc_pipelines.actions.connections import connect_org
from mc_pipelines.bench.environment import BenchEnvironment
from mc_pipelines.store import cursors
from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.connections import get_connection
from mc_pipelines.store.contacts import read_live_contacts
from mc_pipelines.store.segments import active_segments
from mc_pipelines.store.tables import contact_segments, orgs
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.segments import evaluate_segments

T0 = datetime(2026, 1, 1, 9, 0, 0)
DOMAINS = ("acme-mail.com", "corp.co.uk", "gmail.com", "outlook.com", "northwind.io")
DEPARTMENTS = ("Sales", "HR", "Engineering", "Support", None)
LOCATIONS = ("London", "Paris", "Berlin", "Remote")
TAG_SETS = ([], ["vip"], ["newsletter"], ["vip", "newsletter"], ["beta"])
CONTACT_COPY_COLUMNS = (
    "id", "org_id", "email", "first_name", "last_name", "phone", "contact_type", "department",
    "location", "employment_type", "employment_status", "marketing_consent", "tags",
    "created_at", "updated_at",
)
STATE_COPY_COLUMNS = (
    "org_id", "audience_id", "subscriber_hash", "contact_id", "email", "payload_hash", "status",
    "ownership", "managed_tags", "mailchimp_tags", "last_changed", "last_synced_at",
)
SEGMENTS = (
    {"name": "Customers", "segment_type": "customer", "filters": {}, "mailchimp_tag": "Customers"},
    {"name": "London sales team", "segment_type": "employee",
     "filters": {"department": "sales", "location": ["London", "Remote"]},
     "mailchimp_tag": "London Sales"},
    {"name": "VIPs", "segment_type": "mixed", "filters": {"tags": ["vip"]}, "mailchimp_tag": "VIP"},
)
COPY_CHUNK = 50_000


@dataclass
class BenchOrg:
    """An org of the benchmark database, connected to its own emulator account."""

    org_id: str
    api_key: str = field(repr=False)
    audience_id: str
    contacts: int
    id_offset: int
    segments: int


def _text(value: Any) -> str:
    """A value in COPY's text format (the generated data has no tab, newline or backslash)."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


def _copy_rows(env: BenchEnvironment, table: str, columns: tuple[str, ...], columns_data: list[list[Any]]) -> None:
    """COPY column-wise data (lists of equal length) into `table`."""
    n = len(columns_data[0])
    with psycopg.connect(env.psycopg_dsn) as conn, conn.cursor() as cur, cur.copy(
        f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    ) as copy:
        for start in range(0, n, COPY_CHUNK):
            stop = min(start + COPY_CHUNK, n)
            cols = [[_text(v) for v in col[start:stop]] for col in columns_data]
            copy.write("".join("\t".join(row) + "\n" for row in zip(*cols, strict=True)))


def contact_columns(org_id: str, n: int, id_offset: int, seed: int, *,
                    clean: bool = False) -> list[list[Any]]:
    """N generated contacts, column-wise in `CONTACT_COPY_COLUMNS` order. `clean`: every
    contact consents and has a valid, distinct address (the cohort is all N)."""
    rng = np.random.default_rng(seed)
    ids = (np.arange(1, n + 1, dtype=np.int64) + id_offset).tolist()
    local = np.arange(1, n + 1, dtype=np.int64).tolist()
    domains = np.array(DOMAINS, dtype=object)[np.arange(n) % len(DOMAINS)].tolist()
    emails = [f"member.{i}@{d}" for i, d in zip(local, domains, strict=True)]
    if not clean and n >= 10:
        for i in rng.choice(n, size=max(n // 1000, 1), replace=False).tolist():
            emails[i] = f"broken address {local[i]}@nowhere"
        for i in rng.choice(n, size=max(n // 1000, 1), replace=False).tolist():
            emails[i] = emails[(i + 1) % n].upper()
    pick = rng.integers
    tag_json = [json.dumps(t) for t in TAG_SETS]
    return [
        ids,
        [org_id] * n,
        emails,
        [f"Fïrst{i}" for i in local],
        [f"Last{i}" for i in local],
        np.where(pick(0, 2, n) == 1, "+44 20 7946 0000", None).tolist(),
        np.array(["customer", "employee", "vendor"], dtype=object)[pick(0, 3, n)].tolist(),
        np.array(DEPARTMENTS, dtype=object)[pick(0, len(DEPARTMENTS), n)].tolist(),
        np.array(LOCATIONS, dtype=object)[pick(0, len(LOCATIONS), n)].tolist(),
        np.array(["full_time", "part_time", None], dtype=object)[pick(0, 3, n)].tolist(),
        np.array(["active", "on_leave", None], dtype=object)[pick(0, 3, n)].tolist(),
        [True] * n if clean else (pick(0, 10, n) != 0).tolist(),
        np.array(tag_json, dtype=object)[pick(0, len(TAG_SETS), n)].tolist(),
        [T0] * n,
        [T0 + timedelta(seconds=int(s)) for s in pick(0, 10**6, n).tolist()],
    ]


def create_org(env: BenchEnvironment, label: str, n: int, *, segments: bool = True,
               clean: bool = False, seed: int = 0) -> BenchOrg:
    """An org with `n` generated contacts (COPY; see `contact_columns`), its segments, connected
    to a new emulator account and audience."""
    assert env.engine is not None and env.emulator is not None
    org_id = env.new_org_id(label)
    offset = env.id_offset()
    with env.engine.begin() as conn:
        conn.execute(orgs.insert().values(id=org_id, name=f"Benchmark {label}", created_at=T0))
        if segments:
            conn.execute(contact_segments.insert(), [
                {"id": offset + k, "org_id": org_id, "status": "pending", **seg}
                for k, seg in enumerate(SEGMENTS, start=1)
            ])
    if n:
        _copy_rows(env, "contacts", CONTACT_COPY_COLUMNS,
                   contact_columns(org_id, n, offset, seed, clean=clean))
    account = env.emulator.create_account(account_name=f"{org_id} account", dc="us1")
    audience = env.emulator.create_list(account["api_key"], name=f"{org_id} audience")
    connect_org(env.engine, org_id, account["api_key"], audience, actor="bench",
                base_url_template=env.emulator.base_url_template)
    with psycopg.connect(env.psycopg_dsn, autocommit=True) as conn:
        conn.execute("ANALYZE contacts")
    return BenchOrg(org_id, account["api_key"], audience, n, offset, len(SEGMENTS) if segments else 0)


def load_in_sync(env: BenchEnvironment, org: BenchOrg) -> dict[str, Any]:
    """Benchmark-only fast path: emulator audience and member state as a sync would leave them
    (see the module docstring). Returns what was loaded."""
    assert env.engine is not None and env.emulator is not None
    engine = env.engine
    connection = get_connection(engine, org.org_id)
    assert connection is not None and connection.audience_id
    cohort = build_cohort(read_live_contacts(engine, org.org_id)).cohort
    result = evaluate_segments(cohort, active_segments(engine, org.org_id), connection.audience_id,
                               connection.merge_fields or None)
    desired = result.desired
    del cohort, result
    loaded_at = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    changed_iso = loaded_at.isoformat() + "+00:00"

    members = [
        {"email_address": e, "status": "subscribed", "merge_fields": mf, "tags": list(t),
         "last_changed": changed_iso}
        for e, mf, t in zip(desired["email"].tolist(), desired["merge_fields"].tolist(),
                            desired["managed_tags"].tolist(), strict=True)
    ]
    outcome: dict[str, Any] = {}

    def bulk() -> None:
        try:
            outcome["emulator"] = env.emulator.bulk_load(org.api_key, connection.audience_id, members)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    loader = threading.Thread(target=bulk, name="bench-bulk-load")
    loader.start()
    n = len(desired)
    tag_json: dict[tuple, str] = {}
    tags = [tag_json.get(t) or tag_json.setdefault(t, json.dumps(sorted(t))) for t in desired["managed_tags"].tolist()]
    _copy_rows(env, "mailchimp_member_state", STATE_COPY_COLUMNS, [
        [org.org_id] * n,
        desired["audience_id"].tolist(),
        desired["subscriber_hash"].tolist(),
        desired["contact_id"].tolist(),
        desired["email"].tolist(),
        desired["payload_hash"].tolist(),
        ["subscribed"] * n,
        ["created"] * n,
        tags,
        tags,
        [loaded_at] * n,
        [loaded_at] * n,
    ])
    for audience in sorted(set(desired["audience_id"].tolist())):
        cursors.set_cursor(engine, org.org_id, audience, loaded_at + timedelta(minutes=10))
    with psycopg.connect(env.psycopg_dsn, autocommit=True) as conn:
        conn.execute("ANALYZE mailchimp_member_state")
    loader.join()
    if "error" in outcome:
        raise outcome["error"]
    return {"members": n, "emulator": outcome.get("emulator")}


def apply_changes(env: BenchEnvironment, org: BenchOrg, fraction: float = 0.01,
                  seed: int = 11) -> dict[str, int]:
    """Change `fraction` of the org's synced contacts as the application would, in equal
    thirds: a merge-field edit (first name), consent withdrawn (with its consent event), a
    segment move (the `vip` application tag added or removed, moving the member in or out of
    the VIP segment). Returns how many contacts got each change."""
    with psycopg.connect(env.psycopg_dsn) as conn:
        rows = conn.execute(
            "SELECT contact_id FROM mailchimp_member_state WHERE org_id = %s "
            "AND status = 'subscribed' ORDER BY contact_id",
            (org.org_id,),
        ).fetchall()
        synced = np.array([r[0] for r in rows], dtype=np.int64)
        rng = np.random.default_rng(seed)
        picked = rng.choice(synced, size=max(int(len(synced) * fraction), 3), replace=False)
        merge, consent, moves = (part.tolist() for part in np.array_split(picked, 3))
        now = utcnow().replace(microsecond=0)
        conn.execute(
            "UPDATE contacts SET first_name = first_name || ' (edited)', updated_at = %s "
            "WHERE org_id = %s AND id = ANY(%s)", (now, org.org_id, merge))
        conn.execute(
            "UPDATE contacts SET marketing_consent = false, updated_at = %s "
            "WHERE org_id = %s AND id = ANY(%s)", (now, org.org_id, consent))
        with conn.cursor() as cur, cur.copy(
            "COPY consent_events (id, org_id, contact_id, kind, at, source, detail) FROM STDIN"
        ) as copy:
            for cid in consent:
                copy.write_row((str(uuid.uuid4()), org.org_id, cid, "withdrawn", now,
                                "app", "benchmark: unsubscribed in the application"))
        current = dict(conn.execute(
            "SELECT id, tags FROM contacts WHERE org_id = %s AND id = ANY(%s)", (org.org_id, moves)
        ).fetchall())
        new_tags = []
        for cid in moves:
            tags = json.loads(current[cid])
            tags = [t for t in tags if t != "vip"] if "vip" in tags else [*tags, "vip"]
            new_tags.append(json.dumps(tags))
        conn.execute(
            "UPDATE contacts AS c SET tags = v.tags, updated_at = %s "
            "FROM unnest(%s::bigint[], %s::text[]) AS v(id, tags) "
            "WHERE c.org_id = %s AND c.id = v.id", (now, moves, new_tags, org.org_id))
    return {"merge_field_edits": len(merge), "consent_withdrawn": len(consent),
            "segment_moves": len(moves)}
