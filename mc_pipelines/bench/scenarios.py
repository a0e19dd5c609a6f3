"""The benchmark scenarios (speed, scale and memory). Each returns a `ScenarioResult`: its checks
(figure vs target) and the details they come from; every figure is measured in this run.

- `per_member_baseline`: the same N new contacts pushed (a) one PUT per member, sequentially,
  through Mailchimp's official SDK — the loop most integrations use — and (b) by this project's
  audience sync; contacts per second of both and the ratio (target ≥ 50x).
- `api_bound`: the batched push of N new contacts; the API phase's wall time over the bound of
  the latency model (sum of the calls' latencies / 10 connections; target ≤ 1.25).
- `incremental_1m`: an org of N contacts already in sync, then 1 % changed; the whole
  materialization of the sync graph: wall time (≤ 30 s), Mailchimp write calls vs the minimal
  number of 500-row calls, peak RSS of the run process (≤ 2 GB).
- `noop_resync`: the same graph again with nothing changed: 0 write calls.
- `validation_1m`: the pandera cohort validation of N rows (≤ 3 s).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from mc_pipelines.assets.common import run_mailchimp
from mc_pipelines.bench import SCENARIO_NAMES, data, scale
from mc_pipelines.bench.environment import MAX_CONNECTIONS, BenchEnvironment
from mc_pipelines.bench.machine import load_average, uptime
from mc_pipelines.bench.runs import materialize_in_worker, write_calls
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.store import member_state
from mc_pipelines.store.connections import get_connection
from mc_pipelines.store.contacts import read_live_contacts
from mc_pipelines.store.segments import active_segments
from mc_pipelines.sync.batching import MAX_BATCH, minimal_call_count
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.desired import desired_members, effective_merge_field_map
from mc_pipelines.sync.diff import AudiencePlan, diff_audience, empty_state
from mc_pipelines.sync.segments import segment_membership

FULL_SIZES = {"per_member_baseline": 2_000, "api_bound": 100_000, "initial_load_1m": 1_000_000,
              "incremental_1m": 1_000_000, "cost_growth": 10_000, "validation_1m": 1_000_000}
QUICK_SIZES = {"per_member_baseline": 200, "api_bound": 2_000, "initial_load_1m": 5_000,
               "incremental_1m": 20_000, "cost_growth": 500, "validation_1m": 20_000}
# cost_growth runs at its size, 10x and 100x it (the 100x org is incremental_1m's when it ran)
CHANGED_FRACTION = 0.01
GB = 2**30


@dataclass
class Check:
    """One figure against its target."""

    name: str
    value: float
    op: str  # "<=", ">=", "=="
    target: float
    unit: str = ""

    @property
    def met(self) -> bool:
        if self.op == "<=":
            return self.value <= self.target
        if self.op == ">=":
            return self.value >= self.target
        return self.value == self.target

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "op": self.op, "target": self.target,
                "unit": self.unit, "met": self.met}


@dataclass
class ScenarioResult:
    """What a scenario measured."""

    name: str
    size: int
    checks: list[Check] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    load_before: list[float] | None = None
    load_after: list[float] | None = None
    uptime_before: str | None = None
    uptime_after: str | None = None
    error: str | None = None

    @property
    def met(self) -> bool:
        return self.error is None and all(c.met for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"size": self.size, "met": self.met, "checks": [c.as_dict() for c in self.checks],
                "details": self.details, "seconds": round(self.seconds, 2),
                "load_average_before": self.load_before, "load_average_after": self.load_after,
                "uptime_before": self.uptime_before, "uptime_after": self.uptime_after,
                "error": self.error}


class BenchContext:
    """What the scenarios share in one run: the environment, the sizes, and the large org that
    `incremental_1m` leaves behind for `noop_resync`."""

    def __init__(self, env: BenchEnvironment, sizes: dict[str, int], *, quick: bool,
                 log: Callable[[str], None] = print, profile_dir: Path | None = None) -> None:
        self.env, self.sizes, self.quick, self.log = env, sizes, quick, log
        self.profile_dir = profile_dir
        self.large_org: data.BenchOrg | None = None
        # (contacts, changed fraction) → a cost_growth cell already measured by another scenario
        self.measured: dict[tuple[int, float], dict[str, Any]] = {}

    def remember(self, n: int, fraction: float, run: dict[str, Any], changed: int) -> None:
        """Keep a measured run as the cost_growth cell it is (no second run of the same cell)."""
        self.measured[(n, fraction)] = {
            "contacts": n, "fraction": fraction, "changed": changed,
            "wall_seconds": run["wall_seconds"], "peak_rss_mb": round(run["peak_rss_bytes"] / 2**20),
            "write_calls": write_calls(run), "steps_seconds": run["steps"]}

    def profile_path(self, name: str) -> Path | None:
        """Where to write a py-spy profile of `name`'s measured run (None: no profiling)."""
        if self.profile_dir is None:
            return None
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        return self.profile_dir / f"{name}.speedscope.json"

    def large_org_in_sync(self) -> tuple[data.BenchOrg, dict[str, Any]]:
        """The `incremental_1m` org, created and put in sync by the fast path."""
        n = self.sizes["incremental_1m"]
        t0 = time.perf_counter()
        org = data.create_org(self.env, "large", n, segments=True)
        created = time.perf_counter() - t0
        loaded = data.load_in_sync(self.env, org)
        setup = {"contacts": n, "create_seconds": round(created, 1),
                 "in_sync_fast_path_seconds": round(time.perf_counter() - t0 - created, 1),
                 "members_loaded": loaded["members"]}
        self.log(f"  large org {org.org_id}: {n:,} contacts, {loaded['members']:,} members in sync "
                 f"({setup['create_seconds']} s + {setup['in_sync_fast_path_seconds']} s)")
        self.large_org = org
        return org, setup


def _emulator_writes(env: BenchEnvironment, api_key: str) -> int:
    assert env.emulator is not None
    return int(env.emulator.stats(api_key)["writes"])


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
    sync = run["metadata"].get("audience_sync", {})
    return {
        "wall_seconds": run["wall_seconds"], "cpu_seconds": run["cpu_seconds"],
        "startup_seconds": run["startup_seconds"], "process_seconds": run["process_seconds"],
        "steps_seconds": run["steps"],
        "peak_rss_mb": round(run["peak_rss_bytes"] / 2**20),
        "ru_maxrss_mb": round(run["ru_maxrss_bytes"] / 2**20),
        "emulator_peak_rss_mb": round(run["emulator_peak_rss_bytes"] / 2**20),
        "mailchimp_calls": int(sync.get("mailchimp_calls", 0)),
        "mailchimp_write_calls": int(sync.get("mailchimp_write_calls", 0)),
        "mailchimp_retries": int(sync.get("mailchimp_retries", 0)),
        "settled": bool(sync.get("settled")),  # this sync left nothing to do (`store.settled`)
        "settled_by_sync_run": sync.get("settled_by_sync_run"),  # …or found the org settled
        "planned": {k.removeprefix("planned_"): int(v) for k, v in sync.items()
                    if k.startswith("planned_")},
        "pushed": {k: int(sync[k]) for k in ("created", "updated", "unsubscribed", "tags_added",
                                             "tags_removed", "failed", "parked") if k in sync},
    }


def _plan_for(env: BenchEnvironment, org: data.BenchOrg) -> tuple[AudiencePlan, pd.DataFrame]:
    """The plan a sync of `org` would push now, computed with the pipeline's own functions."""
    assert env.engine is not None
    connection = get_connection(env.engine, org.org_id)
    assert connection is not None and connection.audience_id
    cohort = build_cohort(read_live_contacts(env.engine, org.org_id)).cohort
    membership, _ = segment_membership(cohort, active_segments(env.engine, org.org_id),
                                       connection.audience_id)
    desired = desired_members(cohort, membership, connection.audience_id,
                              connection.merge_fields or None)
    state = member_state.load_state(env.engine, org.org_id, columns=member_state.DIFF_COLUMNS)
    return diff_audience(desired, state), desired


# ---- 1. per-member baseline vs batched ---------------------------------------------------------


def per_member_baseline(ctx: BenchContext) -> ScenarioResult:
    """(a) one `PUT /lists/{id}/members/{hash}` per contact, sequentially, through Mailchimp's
    official SDK `mailchimp_marketing` (its `api_client.host` pointed at the emulator); (b) this
    project's audience sync of the same contacts; contacts per second and the ratio."""
    import mailchimp_marketing

    env, n = ctx.env, ctx.sizes["per_member_baseline"]
    assert env.emulator is not None and env.engine is not None
    result = ScenarioResult("per_member_baseline", n)
    org = data.create_org(env, "batched", n, segments=False, clean=True)
    contacts = read_live_contacts(env.engine, org.org_id)
    fmap = effective_merge_field_map(None)

    # (a) the per-member loop, against an audience of its own
    account = env.emulator.create_account(account_name="per-member baseline", dc="us1")
    audience = env.emulator.create_list(account["api_key"], name="per-member baseline")
    sdk = mailchimp_marketing.Client()
    sdk.set_config({"api_key": account["api_key"], "server": "us1"})
    sdk.api_client.host = env.emulator.api_url("us1")
    rows = contacts.to_dict("records")
    writes_before = _emulator_writes(env, account["api_key"])
    t0 = time.perf_counter()
    for row in rows:
        email = row["email"]
        sdk.lists.set_list_member(audience, subscriber_hash(email), {
            "email_address": email, "status_if_new": "subscribed",
            "merge_fields": {tag: "" if row[col] is None else str(row[col])
                             for tag, col in fmap.items()},
        })
    baseline_seconds = time.perf_counter() - t0
    baseline_members = len(env.emulator.dump_list(account["api_key"], audience))
    baseline_writes = _emulator_writes(env, account["api_key"]) - writes_before

    # (a') the naive batching others do: one batch subscribe of 500 with update_existing, in turn
    naive_account = env.emulator.create_account(account_name="naive batching", dc="us1")
    naive_audience = env.emulator.create_list(naive_account["api_key"], name="naive batching")
    sdk.set_config({"api_key": naive_account["api_key"], "server": "us1"})
    sdk.api_client.host = env.emulator.api_url("us1")
    t0 = time.perf_counter()
    for start in range(0, len(rows), MAX_BATCH):
        sdk.lists.batch_list_members(naive_audience, {"update_existing": True, "members": [
            {"email_address": row["email"], "status": "subscribed",
             "merge_fields": {tag: "" if row[col] is None else str(row[col]) for tag, col in fmap.items()}}
            for row in rows[start:start + MAX_BATCH]]})
    naive_seconds = time.perf_counter() - t0
    naive_members = len(env.emulator.dump_list(naive_account["api_key"], naive_audience))

    # (b) the audience sync of the same contacts (the whole graph, in a run worker)
    run = materialize_in_worker(env, org)
    summary = _run_summary(run)
    sync_seconds = run["steps"]["audience_sync"]
    batched_members = len(env.emulator.dump_list(org.api_key, org.audience_id))

    baseline_rate = n / baseline_seconds
    batched_rate = n / sync_seconds
    graph_rate = n / run["wall_seconds"]
    result.checks.append(Check("batched ÷ per-member contacts/s", round(batched_rate / baseline_rate, 1),
                               ">=", 50, "x"))
    result.details = {
        "contacts": n,
        "naive_batching": {"seconds": round(naive_seconds, 2),
                           "contacts_per_second": round(n / naive_seconds, 1),
                           "members_in_audience": naive_members,
                           "client": f"mailchimp_marketing {_version('mailchimp-marketing')} "
                                     "lists.batch_list_members, 500 a call, update_existing, sequential"},
        "per_member": {"seconds": round(baseline_seconds, 2), "contacts_per_second": round(baseline_rate, 1),
                       "put_calls": baseline_writes, "members_in_audience": baseline_members,
                       "client": f"mailchimp_marketing {_version('mailchimp-marketing')} "
                                 "lists.set_list_member, sequential"},
        "batched": {"audience_sync_step_seconds": sync_seconds,
                    "contacts_per_second": round(batched_rate, 1),
                    "members_in_audience": batched_members,
                    "write_calls": summary["mailchimp_write_calls"],
                    "whole_graph_seconds": run["wall_seconds"],
                    "whole_graph_contacts_per_second": round(graph_rate, 1),
                    "whole_graph_ratio": round(graph_rate / baseline_rate, 1)},
        "measured": "per-member: the SDK loop alone (contacts already in memory); batched: the "
                    "audience_sync step of a real Dagster run (diff, state reads and writes, "
                    "the bulk calls, run bookkeeping).",
    }
    if baseline_members != n or batched_members != n or naive_members != n:
        result.error = f"expected {n} members in both audiences, got {baseline_members} and {batched_members}"
    return result


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


# ---- 2. API phase vs the latency bound ---------------------------------------------------------


def _instrument(client) -> tuple[list[tuple[float, float, int]], list[tuple[float, float]]]:
    """Record (start, end, members) of every logical call the client makes (from the call to
    its result: retries and the wait for a free connection included), and (start, end) of every
    HTTP attempt (the request on the wire, from the client's own per-attempt timing)."""
    spans: list[tuple[float, float, int]] = []
    attempts: list[tuple[float, float]] = []
    original = client._request
    record = client._record

    def recorded(endpoint, sent, received, elapsed, *args, **kwargs):
        now = time.perf_counter()
        attempts.append((now - elapsed, now))
        return record(endpoint, sent, received, elapsed, *args, **kwargs)

    async def timed(method, template, *args, json_body=None, **kwargs):
        members = 0
        if isinstance(json_body, dict):
            for key in ("members", "members_to_add", "members_to_remove"):
                members += len(json_body.get(key) or ())
        start = time.perf_counter()
        try:
            return await original(method, template, *args, json_body=json_body, **kwargs)
        finally:
            spans.append((start, time.perf_counter(), members))

    client._request = timed
    client._record = recorded
    return spans, attempts


def api_bound(ctx: BenchContext) -> ScenarioResult:
    """`push_audience` of N new contacts with a client capped at 10 connections, timed from the
    first request sent to the last answer received."""
    from mc_pipelines.effects.push import push_audience
    from mc_pipelines.mailchimp.metrics import CallMetrics
    from mc_pipelines.resources import MailchimpResource

    env, n = ctx.env, ctx.sizes["api_bound"]
    assert env.emulator is not None and env.engine is not None
    result = ScenarioResult("api_bound", n)
    org = data.create_org(env, "api", n, segments=False, clean=True)
    plan, _ = _plan_for(env, org)
    connection = get_connection(env.engine, org.org_id)
    assert connection is not None
    metrics = CallMetrics()
    resource = MailchimpResource(base_url_template=env.emulator.base_url_template,
                                 max_connections=MAX_CONNECTIONS)

    async def push():
        async with resource.client_for(connection, metrics) as client:
            spans, attempts = _instrument(client)
            t0 = time.perf_counter()
            report = await push_audience(client, env.engine, org.org_id, org.audience_id, plan, empty_state(),
                                         batch_size=MAX_BATCH)
            return report, spans, attempts, t0, time.perf_counter()

    emulator = psutil.Process(env.emulator._process.pid) if env.emulator._process else None
    emu_cpu0 = sum(emulator.cpu_times()[:2]) if emulator else 0.0
    own_cpu0 = time.process_time()
    report, spans, attempts, t0, t1 = run_mailchimp(push())  # as the asset runs its push
    own_cpu = time.process_time() - own_cpu0
    emu_cpu = (sum(emulator.cpu_times()[:2]) - emu_cpu0) if emulator else None
    first = min(s for s, _ in attempts)
    last = max(e for _, e in attempts)
    api_seconds = last - first
    latencies = [(env.latency_ms + env.per_member_ms * m) / 1000 for _, _, m in spans]
    bound = sum(latencies) / MAX_CONNECTIONS
    in_emulator = len(env.emulator.dump_list(org.api_key, org.audience_id))
    result.checks.append(Check("API phase ÷ latency bound", round(api_seconds / bound, 3), "<=", 1.10, "x"))
    result.details = {
        "contacts": n, "calls": len(spans), "http_attempts": len(attempts),
        "retries": metrics.total_retries,
        "api_phase_seconds": round(api_seconds, 3),
        "bound_seconds": round(bound, 3),
        "bound_formula": f"sum over calls of ({env.latency_ms:g} ms + {env.per_member_ms:g} ms x members) "
                         f"/ {MAX_CONNECTIONS} connections",
        "mean_requests_in_flight": round(sum(e - s for s, e in attempts) / api_seconds, 2),
        "mean_request_seconds": round(sum(e - s for s, e in attempts) / len(attempts), 3),
        "modelled_request_seconds": round(sum(latencies) / len(latencies), 3),
        "push_seconds": round(t1 - t0, 3),
        "before_first_call_seconds": round(first - t0, 3),
        "after_last_call_seconds": round(t1 - last, 3),
        "cpu_seconds_during_push": {"this_process": round(own_cpu, 2),
                                    "emulator": None if emu_cpu is None else round(emu_cpu, 2)},
        "created": report.counts["created"], "failed": report.counts["failed"], "members_in_audience": in_emulator,
        "measured": "push_audience() in this process with a MailchimpClient capped at 10 "
                    "connections; API phase = first HTTP request sent → last answer received "
                    "(the client's own per-attempt timing; the per-chunk state writes run "
                    "meanwhile); before it, the push records the creates as `creating` rows.",
    }
    if report.counts["created"] != n or in_emulator != n:
        result.error = f"expected {n} created, got {report.counts['created']} (emulator holds {in_emulator})"
    # the same creates through Mailchimp's asynchronous /batches route, side by side
    result.details["batches_route"] = scale.batches_route(env, n)
    result.details["direct_route"] = {"seconds": round(api_seconds, 3), "bound_seconds": round(bound, 3),
                                      "ratio": round(api_seconds / bound, 3)}
    return result


# ---- 3. incremental sync of a 1M org, 4. no-op re-sync -----------------------------------------


def incremental_1m(ctx: BenchContext) -> ScenarioResult:
    """Already in sync (fast path), verified by a no-change run; 1 % changed; the measured run."""
    env, n = ctx.env, ctx.sizes["incremental_1m"]
    result = ScenarioResult("incremental_1m", n)
    org, setup = ctx.large_org_in_sync()
    check_run = materialize_in_worker(env, org)
    if write_calls(check_run):
        result.error = (f"the in-sync fast path is not faithful: a no-change run made "
                        f"{write_calls(check_run)} write calls")
    changes = data.apply_changes(env, org, fraction=CHANGED_FRACTION)
    plan, _ = _plan_for(env, org)
    minimal = minimal_call_count(plan)
    writes_before = _emulator_writes(env, org.api_key)
    run = materialize_in_worker(env, org, profile_to=ctx.profile_path("incremental_1m"))
    emulator_writes = _emulator_writes(env, org.api_key) - writes_before
    summary = _run_summary(run)
    result.checks += [
        Check("whole materialization", run["wall_seconds"], "<=", 10, "s"),
        Check("peak RSS of the run", round(run["peak_rss_bytes"] / GB, 2), "<=", 1, "GB"),
        Check("write calls - minimal 500-row calls", summary["mailchimp_write_calls"] - minimal,
              "==", 0, "calls"),
    ]
    result.details = {
        "contacts": n, "setup": setup, "changes": changes,
        "expected_plan": {k: len(getattr(plan, k)) for k in
                          ("creates", "updates", "unsubscribes", "tag_adds", "tag_removes", "skipped")},
        "minimal_write_calls": minimal, "emulator_writes": emulator_writes,
        "run": summary,
        "in_sync_check_run": {"wall_seconds": check_run["wall_seconds"],
                              "write_calls": write_calls(check_run)},
        "measured": "one run of the product's audience_sync_job (5 assets, checks, fs IO manager "
                    "pickles) in a fresh worker process with the in-process executor; wall = the "
                    "execute_job call; peak RSS = ru_maxrss of that process (the emulator, "
                    "standing in for Mailchimp, is reported apart).",
    }
    ctx.remember(n, CHANGED_FRACTION, run, sum(changes.values()))
    return result


def noop_resync(ctx: BenchContext) -> ScenarioResult:
    """The large org again, nothing changed since its last sync: no write call may be made."""
    env = ctx.env
    if ctx.large_org is None:
        org, setup = ctx.large_org_in_sync()
    else:
        org, setup = ctx.large_org, {"reused": "the incremental_1m org, right after its incremental run"}
    result = ScenarioResult("noop_resync", org.contacts)
    writes_before = _emulator_writes(env, org.api_key)
    run = materialize_in_worker(env, org, profile_to=ctx.profile_path("noop_resync"))
    emulator_writes = _emulator_writes(env, org.api_key) - writes_before
    summary = _run_summary(run)
    result.checks += [
        Check("whole materialization", run["wall_seconds"], "<=", 6, "s"),
        Check("write calls", summary["mailchimp_write_calls"], "==", 0, "calls"),
        Check("writes seen by the emulator", emulator_writes, "==", 0, "calls"),
    ]
    result.details = {"contacts": org.contacts, "setup": setup, "run": summary}
    ctx.remember(org.contacts, 0.0, run, 0)
    return result


def initial_load_1m(ctx: BenchContext) -> ScenarioResult:
    """N contacts into an empty audience (`scale.initial_load`)."""
    result = ScenarioResult("initial_load_1m", ctx.sizes["initial_load_1m"])
    scale.initial_load(ctx, result)
    return result


def io_manager_1m(ctx: BenchContext) -> ScenarioResult:
    """The IO manager's format vs pickle on 1M-row frames (`scale.io_formats`)."""
    result = ScenarioResult("io_manager_1m", ctx.sizes["validation_1m"])
    scale.io_formats(ctx, result)
    return result


def cost_growth(ctx: BenchContext) -> ScenarioResult:
    """Wall time and peak RSS per (size, changed fraction) cell (`scale.cost_growth`)."""
    n = ctx.sizes["cost_growth"]
    sizes = [n, n * 10, n * 100]
    result = ScenarioResult("cost_growth", sizes[-1])
    scale.cost_growth(ctx, result, sizes)
    return result


# ---- 5. pandera validation of 1M rows ----------------------------------------------------------


def validation_1m(ctx: BenchContext) -> ScenarioResult:
    """`CohortSchema.validate(cohort, lazy=True)` (the plain schema validation) and
    `cohort_failures` (the blocking asset check) on a valid cohort of N rows."""
    from mc_pipelines.checks import cohort_failures
    from mc_pipelines.schemas import CohortSchema
    from mc_pipelines.store.contacts import CONTACT_COLUMNS

    n = ctx.sizes["validation_1m"]
    result = ScenarioResult("validation_1m", n)
    columns = data.contact_columns("validation", n, 0, seed=5, clean=True)
    source = pd.DataFrame(dict(zip(data.CONTACT_COPY_COLUMNS, columns, strict=True)))
    source["tags"] = [[] for _ in range(n)]
    for col in ("created_at", "updated_at"):
        source[col] = pd.to_datetime(source[col])
    source = source[CONTACT_COLUMNS]
    cohort = build_cohort(source).cohort
    assert len(cohort) == n
    timings = {}
    for label, fn in (("validate", lambda: CohortSchema.validate(cohort, lazy=True)),
                      ("cohort_failures", lambda: cohort_failures(cohort))):
        best = math.inf
        for _ in range(2):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        timings[label] = round(best, 3)
    failures = cohort_failures(cohort)
    result.checks.append(Check("CohortSchema.validate", timings["validate"], "<=", 3, "s"))
    result.checks.append(Check("cohort_failures (asset check)", timings["cohort_failures"], "<=", 3, "s"))
    result.details = {"rows": n, "seconds": timings, "failure_cases": len(failures),
                      "columns": list(cohort.columns), "timing": "best of 2"}
    if len(failures):
        result.error = f"the generated cohort should be valid; {len(failures)} failure cases"
    return result


SCENARIOS: dict[str, Callable[[BenchContext], ScenarioResult]] = {
    "per_member_baseline": per_member_baseline,
    "api_bound": api_bound,
    "initial_load_1m": initial_load_1m,
    "incremental_1m": incremental_1m,
    "noop_resync": noop_resync,
    "cost_growth": cost_growth,
    "validation_1m": validation_1m,
    "io_manager_1m": io_manager_1m,
}


assert tuple(SCENARIOS) == SCENARIO_NAMES


def run_scenario(ctx: BenchContext, name: str) -> ScenarioResult:
    """One scenario, timed, with the machine's load before and after; errors are reported."""
    load_before, uptime_before = load_average(), uptime()
    t0 = time.perf_counter()
    try:
        result = SCENARIOS[name](ctx)
    except Exception as exc:  # a scenario that breaks is reported, the others still run
        result = ScenarioResult(name, ctx.sizes.get(name, 0), error=f"{type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - t0
    result.load_before, result.load_after = load_before, load_average()
    result.uptime_before, result.uptime_after = uptime_before, uptime()
    return result


__all__ = ["FULL_SIZES", "QUICK_SIZES", "SCENARIOS", "BenchContext", "Check", "ScenarioResult",
           "run_scenario"]
