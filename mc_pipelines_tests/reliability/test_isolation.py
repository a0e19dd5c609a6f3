"""Isolation: a run for one org never reads, writes or reports another org's data.

Two orgs share addresses (same people, different case), each connected to its own emulator
account. Org B is synced first, so it has contacts, segments, state, runs, audit rows and a
cursor. Then a member both orgs share unsubscribes in org A's audience, and org A is synced:
- the database rows of org B are exactly as before (every table, row by row), while A's pull
  withdrew the consent of A's contact only;
- every SQL statement the run executed on an org-scoped table is scoped to org A (its id is a
  bound parameter or an inlined literal) and none names org B;
- org B's emulator account saw no request at all, and its audience is unchanged;
- nothing the run reported (Dagster events, metadata, logs) names org B, its audience or an
  address only org B has.
"""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from dagster._serdes import serialize_value

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    add_segment,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.reliability import (
    ORG_TABLES,
    audience,
    consent_of,
    run_sync,
    snapshot,
)
from mc_pipelines_tests.support.secret_scan import scanned_instance

SHARED = ["pat.lee@posteo.de", "sam.ortiz@web.de", "kim.wu@fastmail.com", "lou.berg@proton.me"]


def _org(engine, org_id: str, base: int, own: list[str], shared_case) -> None:
    add_org(engine, org_id)
    emails = [shared_case(e) for e in SHARED] + own
    add_contacts(engine, [contact_row(org_id, base + i, e, tags=["vip"] if i % 2 else [], department="Sales")
                          for i, e in enumerate(emails)])
    add_segment(engine, org_id, base, f"{org_id}:vip", {"tags": ["vip"]})


@contextlib.contextmanager
def sql_log():
    """Every (statement, parameters) executed by any engine meanwhile."""
    seen: list[tuple[str, object]] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", listener)


def _values(parameters) -> list:
    if isinstance(parameters, dict):
        return list(parameters.values())
    if isinstance(parameters, list | tuple):
        return [v for p in parameters for v in _values(p)] if parameters and isinstance(parameters[0], dict | list | tuple) else list(parameters)
    return []


def test_a_run_for_one_org_never_touches_another(app_engine, emulator):
    engine = app_engine
    _org(engine, "iso-a", 1000, ["only.a@posteo.de"], str)
    _org(engine, "iso-b", 2000, ["only.b1@web.de", "only.b2@fastmail.com"], str.upper)
    conn_a = connect_to_emulator(engine, emulator, "iso-a")
    conn_b = connect_to_emulator(engine, emulator, "iso-b")
    with scanned_instance() as instance:
        assert run_sync(instance, "iso-b", engine, emulator).success
        assert run_sync(instance, "iso-a", engine, emulator).success
        emulator.member_event(conn_a["api_key"], conn_a["audience_id"], subscriber_hash(SHARED[0]), "unsubscribe")
        before_b = snapshot(engine, "iso-b")
        stats_b = emulator.stats(conn_b["api_key"])
        audience_b = audience(emulator, conn_b["api_key"], conn_b["audience_id"])
        runs_before = {r.run_id for r in instance.get_runs()}

        with sql_log() as statements:
            result = run_sync(instance, "iso-a", engine, emulator)
        assert result.success

        # the run did its job for org A: the opt-out withdrew A's contact's consent…
        assert consent_of(engine, "iso-a")[1000] is False
        # …and nothing of org B moved
        assert consent_of(engine, "iso-b")[2000] is True
        assert snapshot(engine, "iso-b") == before_b
        assert emulator.stats(conn_b["api_key"]) == stats_b
        assert audience(emulator, conn_b["api_key"], conn_b["audience_id"]) == audience_b

        scoped = 0
        for statement, parameters in statements:
            lowered = statement.lower()
            if not any(f" {t}" in lowered or f'"{t}"' in lowered for t in ORG_TABLES):
                continue
            values = [str(v) for v in _values(parameters)]
            assert "iso-b" not in statement and "iso-b" not in values, statement
            assert "iso-a" in values or "'iso-a'" in statement, f"not scoped to the org: {statement} {parameters}"
            scoped += 1
        assert scoped >= 10

        (run,) = [r for r in instance.get_runs() if r.run_id not in runs_before]
        reported = serialize_value(run) + "".join(serialize_value(e) for e in instance.all_logs(run.run_id))
        for word in ("iso-b", conn_b["audience_id"], "only.b1@web.de", "only.b2@fastmail.com", "ONLY.B1@WEB.DE"):
            assert word.lower() not in reported.lower(), f"the run for org A reported {word}"
        # the report does carry org A's own data (its addresses masked, see assets/privacy.py)
        assert "iso-a" in reported and conn_a["audience_id"] in reported
        assert "only.a@posteo.de" not in reported
