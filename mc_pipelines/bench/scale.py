"""Scale scenarios: the first load of a big org into an empty audience, the `/batches` route
beside batch subscribe, and how the cost of a run grows with the org's size and the share of it
that changed. Figures come from real runs of the job (`runs.materialize_in_worker`) and from the
emulator's own per-route timing (the API phase as Mailchimp saw it)."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

from mc_pipelines.bench import data
from mc_pipelines.bench.environment import MAX_CONNECTIONS, BenchEnvironment
from mc_pipelines.bench.runs import materialize_in_worker, write_calls

if TYPE_CHECKING:
    from mc_pipelines.bench.scenarios import BenchContext, ScenarioResult

GB = 2**30
GROWTH_FRACTIONS = (0.0, 0.001, 0.01, 0.1)
BATCH_SUBSCRIBE = "POST /lists/{list_id}"


def api_phase(env: BenchEnvironment, api_key: str, route: str = BATCH_SUBSCRIBE) -> dict[str, Any]:
    """The emulator's view of one route for an account: first arrival → last answer, the calls,
    the members, and the latency bound of those calls over 10 connections."""
    assert env.emulator is not None
    span = env.emulator.stats(api_key).get("timing", {}).get(route)
    if not span:
        return {"calls": 0, "members": 0, "api_phase_seconds": 0.0, "bound_seconds": 0.0}
    bound = (span["calls"] * env.latency_ms + span["members"] * env.per_member_ms) / 1000 / MAX_CONNECTIONS
    return {"route": route, "calls": span["calls"], "members": span["members"],
            "api_phase_seconds": round(span["last_end"] - span["first_start"], 3),
            "bound_seconds": round(bound, 3)}


def initial_load(ctx: BenchContext, result: ScenarioResult) -> None:
    """N contacts, an empty audience, one run of the job: wall, peak RSS, API phase vs bound."""
    from mc_pipelines.bench.scenarios import Check, _run_summary

    env, n = ctx.env, result.size
    t0 = time.perf_counter()
    org = data.create_org(env, "initial", n, segments=False, clean=True)
    created = time.perf_counter() - t0
    run = materialize_in_worker(env, org, timeout=900,
                               profile_to=ctx.profile_path("initial_load_1m"))
    summary = _run_summary(run)
    api = api_phase(env, org.api_key)
    ratio = api["api_phase_seconds"] / api["bound_seconds"] if api["bound_seconds"] else 0.0
    result.checks += [
        Check("whole materialization", run["wall_seconds"], "<=", 60, "s"),
        Check("peak RSS of the run", round(run["peak_rss_bytes"] / GB, 2), "<=", 1.5, "GB"),
        Check("API phase ÷ latency bound", round(ratio, 3), "<=", 1.15, "x"),
    ]
    result.details = {"contacts": n, "create_seconds": round(created, 1), "api": api, "run": summary,
                      "route": "batch subscribe (POST /lists/{id}, 500 members a call, 10 "
                               "connections): see api_bound for /batches beside it",
                      "measured": "one run of audience_sync_job into an empty audience; API phase "
                                  "= first batch-subscribe request arriving at the emulator → "
                                  "its last answer (the emulator's per-route timing)."}
    created_members = summary["pushed"].get("created", 0)
    if created_members != api["members"]:
        result.error = f"{api['members']} members sent, {created_members} reported created"


def batches_route(env: BenchEnvironment, n: int) -> dict[str, Any]:
    """The same N creates as batch-subscribe operations (500 members each) inside `/batches`
    jobs: submit → every result downloaded, beside the direct route's figure."""
    import json

    from mc_pipelines.mailchimp.endpoints.batches import Operation
    from mc_pipelines.mailchimp.runner import run_sync
    from mc_pipelines.resources import MailchimpResource
    from mc_pipelines.store.connections import get_connection
    from mc_pipelines.store.contacts import read_live_contacts
    from mc_pipelines.sync.cohort import build_cohort

    assert env.engine is not None and env.emulator is not None
    org = data.create_org(env, "batches", n, segments=False, clean=True)
    cohort = build_cohort(read_live_contacts(env.engine, org.org_id)).cohort
    emails = cohort["email"].tolist()
    ops = [Operation("POST", f"/lists/{org.audience_id}", body=json.dumps({
        "members": [{"email_address": e, "status": "subscribed"} for e in emails[i:i + 500]],
        "update_existing": False})) for i in range(0, len(emails), 500)]
    connection = get_connection(env.engine, org.org_id)
    assert connection is not None
    resource = MailchimpResource(base_url_template=env.emulator.base_url_template,
                                 max_connections=MAX_CONNECTIONS)

    async def submit():
        async with resource.client_for(connection) as client:
            return await client.batch_operations(ops)

    t0 = time.perf_counter()
    results = run_sync(submit())
    seconds = time.perf_counter() - t0
    bound = (len(ops) * env.latency_ms + len(emails) * env.per_member_ms) / 1000 / MAX_CONNECTIONS
    return {"contacts": len(emails), "operations": len(ops), "seconds": round(seconds, 3),
            "bound_seconds": round(bound, 3), "ratio": round(seconds / bound, 3) if bound else None,
            "ok": sum(1 for r in results if r.ok)}


def cost_growth(ctx: BenchContext, result: ScenarioResult, sizes: list[int]) -> None:
    """Incremental runs at each size x changed fraction (0 = the no-change re-sync): wall time,
    peak RSS and write calls per cell, and how each grows."""
    env = ctx.env
    cells: list[dict[str, Any]] = []
    for n in sizes:
        reuse = ctx.large_org is not None and ctx.large_org.contacts == n
        if reuse:
            org = ctx.large_org
        else:
            org = data.create_org(env, f"growth{n}", n, segments=True)
            data.load_in_sync(env, org)
            # as the large org's verification run does: one sync finds nothing to do and settles
            # the org, so the no-change cell measures a re-sync of a settled org
            materialize_in_worker(env, org)
        for k, fraction in enumerate(GROWTH_FRACTIONS):
            known = ctx.measured.get((n, fraction))
            if known is not None:
                cells.append({**known, "reused": True})
                continue
            changes = data.apply_changes(env, org, fraction=fraction, seed=100 + k) if fraction else {}
            run = materialize_in_worker(env, org)
            cells.append({"contacts": n, "fraction": fraction, "changed": sum(changes.values()),
                          "wall_seconds": run["wall_seconds"],
                          "peak_rss_mb": round(run["peak_rss_bytes"] / 2**20),
                          "write_calls": write_calls(run), "steps_seconds": run["steps"]})
            ctx.log(f"  {n:>9,} x {fraction:>5.1%}: {run['wall_seconds']:.1f} s, "
                    f"{cells[-1]['peak_rss_mb']} MB, {cells[-1]['write_calls']} write calls")
    result.details = {"cells": cells, "growth": _growth(cells, sizes)}
    noop = [c for c in cells if c["fraction"] == 0.0]
    from mc_pipelines.bench.scenarios import Check

    result.checks.append(Check("write calls of the no-change runs", sum(c["write_calls"] for c in noop),
                               "==", 0, "calls"))


def _growth(cells: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    """Per fraction: the wall time and memory ratio from one size to the next (1.0 = flat,
    10 = linear for a 10x size step)."""
    out: dict[str, Any] = {}
    for fraction in GROWTH_FRACTIONS:
        row = {c["contacts"]: c for c in cells if c["fraction"] == fraction}
        steps = []
        for small, big in itertools.pairwise(sizes):
            if small in row and big in row and row[small]["wall_seconds"]:
                steps.append({"from": small, "to": big,
                              "wall_ratio": round(row[big]["wall_seconds"] / row[small]["wall_seconds"], 2),
                              "memory_ratio": round(row[big]["peak_rss_mb"] / max(row[small]["peak_rss_mb"], 1), 2)})
        out[f"{fraction:g}"] = steps
    return out


def io_formats(ctx: BenchContext, result: ScenarioResult) -> None:
    """The run's frames at rest: the IO manager's Arrow files vs pickle (the default fs IO
    manager's format) for the 1M-row source and cohort frames, write + read, and what encrypting
    the pickle with the project's Fernet key would add (the other way to keep data at rest)."""
    import pickle
    import tempfile
    from pathlib import Path

    import pandas as pd
    from cryptography.fernet import Fernet

    from mc_pipelines.bench.scenarios import Check
    from mc_pipelines.io_manager import read_frame, write_frame
    from mc_pipelines.store.contacts import CONTACT_COLUMNS
    from mc_pipelines.sync.cohort import build_cohort

    n = result.size
    columns = data.contact_columns("io", n, 0, seed=7, clean=True)
    source = pd.DataFrame(dict(zip(data.CONTACT_COPY_COLUMNS, columns, strict=True)))
    shared: dict[str, list[str]] = {}
    source["tags"] = [shared.setdefault(t, __import__("json").loads(t)) for t in source["tags"]]
    for col in ("created_at", "updated_at"):
        source[col] = pd.to_datetime(source[col])
    source = source[CONTACT_COLUMNS]
    frames = {"source_contacts": source, "consented_contacts": build_cohort(source).cohort}
    fernet = Fernet(Fernet.generate_key())
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mc-bench-io-") as tmp:
        for name, frame in frames.items():
            folder = Path(tmp) / name
            t0 = time.perf_counter()
            blob = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
            (Path(tmp) / f"{name}.pickle").write_bytes(blob)
            t1 = time.perf_counter()
            pickle.loads((Path(tmp) / f"{name}.pickle").read_bytes())
            t2 = time.perf_counter()
            write_frame(frame, folder)
            t3 = time.perf_counter()
            back = read_frame(folder)
            t4 = time.perf_counter()
            fernet.decrypt(fernet.encrypt(blob))
            t5 = time.perf_counter()
            pd.testing.assert_frame_equal(back, frame)
            figures[name] = {"rows": len(frame), "pickle_seconds": round(t2 - t0, 2),
                             "arrow_seconds": round(t4 - t2, 2),
                             "pickle_write_read": [round(t1 - t0, 2), round(t2 - t1, 2)],
                             "arrow_write_read": [round(t3 - t2, 2), round(t4 - t3, 2)],
                             "pickle_mb": round(len(blob) / 2**20),
                             "arrow_mb": round(sum(p.stat().st_size for p in folder.iterdir()) / 2**20),
                             "fernet_seconds": round(t5 - t4, 2)}
    pickle_total = sum(f["pickle_seconds"] for f in figures.values())
    arrow_total = sum(f["arrow_seconds"] for f in figures.values())
    result.checks.append(Check("Arrow write+read ÷ pickle write+read", round(arrow_total / pickle_total, 2),
                               "<=", 1, "x"))
    result.details = {"frames": figures, "measured": "write then read of each frame, on local "
                      "disk, in this process; fernet = encrypt + decrypt of the pickled bytes"}
