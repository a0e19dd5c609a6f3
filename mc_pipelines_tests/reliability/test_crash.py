"""Crash: a sync process SIGKILLed at several points mid-push, then re-run, converges to
the exact desired state; and at every kill point the state table never claims more than
Mailchimp holds.

A real subprocess (`crash_worker.py`, the real assets under `dagster.materialize`) syncs against
the process-mode emulator and PostgreSQL. Kill points are chosen with a seeded RNG and detected
by polling the emulator's per-account counters: after N batch-subscribe writes (creates), after
N `/batches` submissions (member PATCHes: field updates, unsubscribes), after N static-segment
(tag) writes, and after a random delay. The account
gets 40 ms of latency and the worker 2 connections and 50-member batches, so the push lasts long
enough to be cut anywhere. Between kills, `assert_state_not_ahead` compares
`mailchimp_member_state` with the emulator's dump.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.store import tables
from mc_pipelines.sync.desired import payload_hash
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.reliability import (
    MERGE_TAGS,
    Expectation,
    add_standard_segments,
    audience,
    desired_audience,
    differences,
    generated_contacts,
    state_rows,
    state_untruths,
    sync_until_clean,
)
from mc_pipelines_tests.support.secret_scan import capture_text, scanned_instance

ROOT = Path(__file__).resolve().parents[2]
BATCH = 50
SUBSCRIBE = "POST /lists/{list_id}"
BATCHES = "POST /batches"  # field updates, unsubscribes, re-subscribes: member PATCHes
TAGS = "POST /lists/{list_id}/segments/{segment_id}"
KILLS: list[dict] = []


def _writes(emulator, key: str, endpoint: str) -> int:
    counts = emulator.stats(key)["requests"].get(endpoint, {})
    return sum(n for status, n in counts.items() if status.startswith("2"))


class Workers:
    """Crash workers started ahead of time (imports take seconds), started on demand."""

    def __init__(self, engine, emulator, org_id: str) -> None:
        self.args = [sys.executable, "-m", "mc_pipelines_tests.reliability.crash_worker", "--wait",
                     "--org", org_id, "--database-url", engine.url.render_as_string(hide_password=False),
                     "--base-url-template", emulator.base_url_template,
                     "--batch-size", str(BATCH), "--max-connections", "2"]
        self.next: subprocess.Popen | None = None

    def _spawn(self) -> subprocess.Popen:
        # the worker's DEBUG log goes to a file: a pipe nobody drains during the run fills up
        # (64 KiB) and blocks the worker on its next log line
        log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 (closed by _log)
        proc = subprocess.Popen(self.args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=log, text=True, env=dict(os.environ))
        proc.log = log
        return proc

    def start(self) -> subprocess.Popen:
        proc = self.next or self._spawn()
        assert proc.stdout.readline().strip() == "ready", _log(proc)[-3000:]
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "started"
        self.next = self._spawn()
        return proc

    def close(self) -> None:
        if self.next is not None:
            self.next.stdin.close()
            self.next.wait(timeout=60)
            self.next.stdout.close()
            self.next.log.close()


def _log(proc: subprocess.Popen) -> str:
    """The worker's stderr so far (its log file), then closed once the worker is gone."""
    proc.log.seek(0)
    text = proc.log.read()
    if proc.poll() is not None:
        proc.log.close()
    return text


def _finish(proc: subprocess.Popen, label: str) -> None:
    out, _ = proc.communicate(timeout=120)
    err = _log(proc)
    capture_text(f"crash worker {label} stdout", out)
    capture_text(f"crash worker {label} stderr", err)


def _kill_when(proc: subprocess.Popen, condition, label: str, timeout: float = 180.0) -> bool:
    """SIGKILL `proc` as soon as `condition()` holds; False if it finished first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if condition():
            os.kill(proc.pid, signal.SIGKILL)
            break
        if time.monotonic() >= deadline:
            os.kill(proc.pid, signal.SIGUSR1)  # the worker dumps its threads' stacks to stderr
            time.sleep(1)
            proc.kill()
            proc.communicate(timeout=30)
            err = _log(proc)
            capture_text(f"crash worker {label} stderr", err)
            found = [i for i in (err.find("Thread 0x"), err.find("Current thread 0x")) if i >= 0]
            stacks = err[min(found):] if found else ""
            raise AssertionError(f"{label}: kill point never reached; the worker's last log lines:\n"
                                 + "\n".join(err[:len(err) - len(stacks)].splitlines()[-8:])
                                 + "\nits threads:\n" + stacks[-6000:])
        time.sleep(0.005)
    proc.wait(timeout=30)
    _finish(proc, label)
    return proc.returncode == -signal.SIGKILL


def assert_state_not_ahead(engine, org_id: str, emulator, conn, desired: dict, held: dict[str, set[str]],
                           mailchimp_side: set[str]) -> int:
    """The state claims nothing Mailchimp does not hold: a payload hash is one Mailchimp holds or
    held (`held`: observed payload hashes by subscriber hash, updated here), `subscribed`
    / `unsubscribed` are Mailchimp's statuses, a managed tag still desired is held, a managed tag
    no longer in the state is not held. Returns the number of state rows checked."""
    members = {m["subscriber_hash"]: m for m in audience(emulator, conn["api_key"], conn["audience_id"]).values()}
    for h, m in members.items():
        held.setdefault(h, set()).add(payload_hash(m["email_address"], {t: m["merge_fields"].get(t, "") for t in MERGE_TAGS}))
    desired_by_hash = {subscriber_hash(k): v for k, v in desired.items()}
    rows = state_rows(engine, org_id)
    for row in rows:
        h, m = row["subscriber_hash"], members.get(row["subscriber_hash"])
        where = f"state row {row['email']} ({row['status']})"
        if row["payload_hash"] is not None:
            assert m is not None, f"{where} has a payload hash but Mailchimp does not hold the member"
            assert row["payload_hash"] in held[h], f"{where}: payload hash never held by Mailchimp"
        if row["status"] == "subscribed":
            assert m is not None and (m["status"] == "subscribed" or m["email_address"].lower() in mailchimp_side), \
                f"{where}: Mailchimp has {m and m['status']}"
        if row["status"] == "unsubscribed":
            assert m is not None and m["status"] in ("unsubscribed", "cleaned"), f"{where}: Mailchimp has {m and m['status']}"
        wanted = desired_by_hash[h].tags if h in desired_by_hash else frozenset()
        mine = set(row["managed_tags"] or [])
        on_mailchimp = set(m["tags"]) if m else set()
        for tag in mine & wanted:
            assert tag in on_mailchimp, f"{where}: claims tag {tag} that Mailchimp does not hold"
        for tag in (on_mailchimp - mine - wanted) & {t for v in desired.values() for t in v.tags}:
            raise AssertionError(f"{where}: state dropped tag {tag} that Mailchimp still holds")
    return len(rows)


def _changes(engine, emulator, conn, org_id: str, rows: list[dict], rng: random.Random) -> set[str]:
    """Consent flips, renames, tag moves, deletions, newcomers and Mailchimp-side unsubscribes."""
    c = tables.contacts
    now = datetime.now().replace(microsecond=0)
    ids = [r["id"] for r in rows]
    with engine.begin() as db:
        for cid in rng.sample(ids, 100):
            db.execute(c.update().where(c.c.id == cid).values(marketing_consent=False, updated_at=now))
        for cid in rng.sample(ids, 150):
            db.execute(c.update().where(c.c.id == cid).values(first_name=f"Crash{cid}", updated_at=now))
        for cid in rng.sample(ids, 150):
            db.execute(c.update().where(c.c.id == cid).values(tags=rng.sample(["vip", "beta", "newsletter"], 2),
                                                               updated_at=now))
        for cid in rng.sample(ids, 20):
            db.execute(c.update().where(c.c.id == cid).values(deleted_at=now, updated_at=now))
    add_contacts(engine, [contact_row(org_id, 9_000 + i, f"late.joiner{i}@posteo.de", tags=["vip"])
                          for i in range(100)])
    subscribed = sorted(e for e, m in audience(emulator, conn["api_key"], conn["audience_id"]).items()
                        if m["status"] == "subscribed")
    gone = set(rng.sample(subscribed, 20))
    for email in gone:
        emulator.member_event(conn["api_key"], conn["audience_id"], email, "unsubscribe")
    return gone


def test_killed_syncs_converge_and_state_never_claims_more_than_mailchimp_holds(pg_app_engine, process_emulator):
    engine, emulator, org_id = pg_app_engine, process_emulator, "crash"
    rng = random.Random(20260501)
    add_org(engine, org_id)
    rows = generated_contacts(org_id, 1500, base=1, seed=5)
    add_contacts(engine, rows)
    add_standard_segments(engine, org_id, 100_000)
    conn = connect_to_emulator(engine, emulator, org_id)
    key = conn["api_key"]
    emulator.set_faults(key, clear=True, latency_ms=40)
    workers = Workers(engine, emulator, org_id)
    held: dict[str, set[str]] = {}
    try:
        with scanned_instance() as instance:
            # phase A: the first sync (creates, then tags), killed three times
            desired = desired_audience(engine, org_id)
            for label, endpoint, low, high in (("A1 creates", SUBSCRIBE, 1, 6), ("A2 creates", SUBSCRIBE, 4, 12),
                                               ("A3 tags", TAGS, 1, 5)):
                n = rng.randint(low, high)
                base = _writes(emulator, key, endpoint)
                proc = workers.start()
                killed = _kill_when(proc, lambda e=endpoint, b=base, n=n: _writes(emulator, key, e) >= b + n, label)
                checked = assert_state_not_ahead(engine, org_id, emulator, conn, desired, held, set())
                KILLS.append({"point": label, "after_writes": n, "killed": killed, "state_rows": checked})
            delay = rng.uniform(0.3, 2.5)
            proc = workers.start()
            killed = _kill_when(proc, lambda t=time.monotonic() + delay: time.monotonic() >= t, "A4 random")
            assert_state_not_ahead(engine, org_id, emulator, conn, desired, held, set())
            KILLS.append({"point": "A4 random", "after_seconds": round(delay, 2), "killed": killed})

            sync_until_clean(instance, org_id, engine, emulator, batch_size=BATCH, max_runs=1)
            first = audience(emulator, key, conn["audience_id"])
            assert differences(Expectation(desired=desired), first) == []
            assert state_untruths(engine, org_id, first) == []
            writes = emulator.stats(key)["writes"]
            sync_until_clean(instance, org_id, engine, emulator, max_runs=1)
            assert emulator.stats(key)["writes"] == writes, "re-sync after the crashes wrote again"

            # phase B: changes on both sides, the second sync killed in each phase
            gone = _changes(engine, emulator, conn, org_id, rows, rng)
            # the members unsubscribed in Mailchimp leave: the pull withdraws their contacts' consent
            new_desired = {e: m for e, m in desired_audience(engine, org_id).items() if e not in gone}
            for label, endpoint, low, high in (("B1 updates/unsubscribes", BATCHES, 1, 2), ("B2 tags", TAGS, 1, 4)):
                n = rng.randint(low, high)
                base = _writes(emulator, key, endpoint)
                proc = workers.start()
                killed = _kill_when(proc, lambda e=endpoint, b=base, n=n: _writes(emulator, key, e) >= b + n, label)
                checked = assert_state_not_ahead(engine, org_id, emulator, conn, new_desired, held, gone)
                KILLS.append({"point": label, "after_writes": n, "killed": killed, "state_rows": checked})

            sync_until_clean(instance, org_id, engine, emulator, batch_size=BATCH, max_runs=1)
            assert desired_audience(engine, org_id) == new_desired
            final = audience(emulator, key, conn["audience_id"])
            expected = Expectation(desired=new_desired, left={e for e in first if e not in new_desired},
                                   mailchimp_side={e: "unsubscribed" for e in gone})
            problems = differences(expected, final)
            assert problems == [], f"{len(problems)} differences, first: {problems[:10]}"
            assert state_untruths(engine, org_id, final) == []
            writes = emulator.stats(key)["writes"]
            metas, _ = sync_until_clean(instance, org_id, engine, emulator, max_runs=1)
            assert emulator.stats(key)["writes"] == writes, f"re-sync after the crashes wrote again: {metas}"
    finally:
        workers.close()
        emulator.set_faults(key, clear=True)
    assert sum(k["killed"] for k in KILLS) >= 5, KILLS
    print(f"\ncrash points: {KILLS}")


@pytest.mark.parametrize("corrupt", ["payload", "tag", "status"])
def test_the_state_check_sees_a_state_ahead_of_mailchimp(pg_app_engine, emulator, corrupt):
    """`assert_state_not_ahead` fails when the state claims a payload, a tag or a status that
    Mailchimp does not hold (so the crash test can fail)."""
    add_org(pg_app_engine, "ahead")
    add_contacts(pg_app_engine, [contact_row("ahead", i, f"ahead{i}@posteo.de", tags=["vip"]) for i in range(1, 4)])
    add_standard_segments(pg_app_engine, "ahead", 10)
    conn = connect_to_emulator(pg_app_engine, emulator, "ahead")
    with scanned_instance() as instance:
        sync_until_clean(instance, "ahead", pg_app_engine, emulator)
    desired, held = desired_audience(pg_app_engine, "ahead"), {}
    assert assert_state_not_ahead(pg_app_engine, "ahead", emulator, conn, desired, held, set()) == 3
    key, aud = conn["api_key"], conn["audience_id"]
    if corrupt == "payload":
        emulator.bulk_load(key, aud, [{"email_address": "ahead1@posteo.de", "merge_fields": {"FNAME": "Other"}}])
        held.clear()
    elif corrupt == "tag":
        emulator.tag_member(key, aud, "ahead2@posteo.de", remove=["app:vip"])
    else:
        emulator.member_event(key, aud, "ahead3@posteo.de", "admin_unsubscribe")
    with pytest.raises(AssertionError):
        assert_state_not_ahead(pg_app_engine, "ahead", emulator, conn, desired, held, set())
