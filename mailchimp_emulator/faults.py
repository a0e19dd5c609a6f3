"""Injected faults, the per-key connection limit and request accounting.

Fault settings exist globally (start-up flags, ``POST /_emulator/faults`` without auth) and per
account (``POST /_emulator/faults`` with the account's key): an account's settings overlay the
global ones key by key.  Every API request draws the same fixed number of values from one seeded
``random.Random`` — the account's own if its override carries a ``seed``, else the global one —
in arrival order, so the same sequence of requests meets the same faults on every run.

Decisions are taken when the request arrives, before anything is applied: an injected 429, 5xx
or dropped connection never changes state.  ``ack_loss_rate`` is the exception by design: the
write is applied, then the connection is dropped without a response (a lost acknowledgement).
Faults apply to the Mailchimp API routes only, never to ``/_emulator/``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

RATE_KEYS = ("error_rate", "throttle_rate", "drop_rate", "ack_loss_rate")


@dataclass
class FaultSettings:
    """Fault knobs.  Rates are probabilities per API request (0..1)."""

    latency_ms: float = 0.0
    per_member_ms: float = 0.0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_rate: float = 0.0
    ack_loss_rate: float = 0.0
    seed: int | None = None
    max_connections: int = 10
    #: members whose ``last_changed`` falls in the same second come back in a different
    #: (seeded random) order on each member-list request (clients paging by last_changed)
    shuffle_same_second: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


SETTING_NAMES = tuple(f.name for f in fields(FaultSettings))


def validate_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Check and normalize a partial settings dict (raises ``ValueError`` naming the key)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in SETTING_NAMES:
            raise ValueError(
                f"unknown fault setting {key!r}; expected one of {', '.join(SETTING_NAMES)}"
            )
        if key == "seed":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError("seed must be an integer or null")
            out[key] = value
        elif key == "shuffle_same_second":
            if not isinstance(value, bool):
                raise ValueError("shuffle_same_second must be true or false")
            out[key] = value
        elif key == "max_connections":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError("max_connections must be a positive integer")
            out[key] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a non-negative number")
            if key in RATE_KEYS and value > 1:
                raise ValueError(f"{key} must be between 0 and 1")
            out[key] = float(value)
    return out


@dataclass(slots=True)
class Decision:
    """What happens to one request: ``kind`` is ``None`` (serve it), ``"throttle"`` (429),
    ``"error"`` (5xx ``error_status``) or ``"drop"`` (close without a response); ``ack_loss``
    drops the connection after the handler ran; ``delay`` is the latency in seconds."""

    kind: str | None
    error_status: int
    ack_loss: bool
    delay: float


_NO_FAULT = Decision(None, 0, False, 0.0)


class FaultScope:
    """Settings plus the random stream they draw from."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.rng = random.Random(self.values.get("seed"))
        self.order_rng = random.Random(self.values.get("seed"))  # own stream: fault draws unchanged

    def update(self, values: dict[str, Any]) -> None:
        """Merge settings; a given ``seed`` restarts the random stream."""
        self.values.update(values)
        if "seed" in values:
            self.rng = random.Random(values["seed"])
            self.order_rng = random.Random(values["seed"])


class Faults:
    """Global and per-account fault settings and the decision for each API request."""

    def __init__(self, defaults: FaultSettings | None = None) -> None:
        self.startup = (defaults or FaultSettings()).as_dict()
        self.global_scope = FaultScope(self.startup)
        self.accounts: dict[str, FaultScope] = {}

    def configure(
        self, account_key: str | None, values: dict[str, Any], clear: bool = False
    ) -> dict[str, Any]:
        """Update the global settings (``account_key=None``) or one account's overlay.
        ``clear`` first resets the scope: the global one to the start-up settings, an account's
        to no overlay.  Returns the effective settings of that scope."""
        values = validate_settings(values)
        if account_key is None:
            if clear:
                self.global_scope = FaultScope(self.startup)
            self.global_scope.update(values)
        else:
            scope = self.accounts.get(account_key)
            if clear or scope is None:
                scope = self.accounts[account_key] = FaultScope()
            scope.update(values)
        return self.effective(account_key)

    def effective(self, account_key: str | None) -> dict[str, Any]:
        """Settings in force for an account (global overlaid with the account's)."""
        merged = dict(self.global_scope.values)
        scope = self.accounts.get(account_key) if account_key else None
        if scope is not None:
            merged.update(scope.values)
        return merged

    def forget(self, account_key: str) -> None:
        """Drop an account's overlay."""
        self.accounts.pop(account_key, None)

    def reset(self) -> None:
        """Back to the start-up settings, no overlays."""
        self.global_scope = FaultScope(self.startup)
        self.accounts.clear()

    def max_connections(self, account_key: str) -> int:
        """The simultaneous-request limit for an account."""
        scope = self.accounts.get(account_key)
        if scope is not None and "max_connections" in scope.values:
            return scope.values["max_connections"]
        return self.global_scope.values["max_connections"]

    def order_shuffler(self, account_key: str) -> random.Random | None:
        """The random stream reordering same-second members, or ``None`` when that fault is off."""
        if not self.effective(account_key).get("shuffle_same_second"):
            return None
        scope = self.accounts.get(account_key)
        if scope is not None and "seed" in scope.values:
            return scope.order_rng
        return self.global_scope.order_rng

    def decide(self, account_key: str, members: int) -> Decision:
        """Draw the fault decision for one API request (always 5 draws, in arrival order)."""
        s = self.effective(account_key)
        delay = (s["latency_ms"] + s["per_member_ms"] * members) / 1000.0
        if not any(s[k] for k in RATE_KEYS):
            return Decision(None, 0, False, delay) if delay else _NO_FAULT
        scope = self.accounts.get(account_key)
        rng = scope.rng if scope is not None and "seed" in scope.values else self.global_scope.rng
        u_throttle, u_error, u_drop, u_ack, u_kind = (rng.random() for _ in range(5))
        if u_throttle < s["throttle_rate"]:
            return Decision("throttle", 429, False, 0.0)
        if u_error < s["error_rate"]:
            status = 500 if u_kind < 0.7 else (502 if u_kind < 0.85 else 503)
            return Decision("error", status, False, delay)
        if u_drop < s["drop_rate"]:
            return Decision("drop", 0, False, delay)
        return Decision(None, 0, u_ack < s["ack_loss_rate"], delay)


class Stats:
    """Per-account (and global) request accounting.

    ``requests`` counts ``"<METHOD> <path template>"`` → ``{"<status>": n}`` (``"dropped"`` for
    connections closed without a response); ``writes`` counts successful (2xx) POST/PUT/PATCH/
    DELETE API calls, including those whose acknowledgement was then dropped."""

    def __init__(self) -> None:
        self.requests: dict[str, dict[str, int]] = {}
        self.writes = 0
        self.max_concurrency = 0
        self.faults = {"throttle": 0, "error": 0, "drop": 0, "ack_loss": 0, "limit": 0}
        self.batch_operations = 0
        # per route: [first request arrived, last answer sent] (epoch seconds), answers, members
        self.timing: dict[str, list[float]] = {}

    def time(self, route: str, started: float, ended: float, members: int) -> None:
        """Record one answered request's span (what a benchmark's API phase is measured from)."""
        span = self.timing.get(route)
        if span is None:
            self.timing[route] = [started, ended, 1, members]
        else:
            span[0], span[1] = min(span[0], started), max(span[1], ended)
            span[2] += 1
            span[3] += members

    def record(self, route: str, status: str, write: bool) -> None:
        """Count one finished request."""
        bucket = self.requests.get(route)
        if bucket is None:
            bucket = self.requests[route] = {}
        bucket[status] = bucket.get(status, 0) + 1
        if write:
            self.writes += 1

    def as_dict(self) -> dict[str, Any]:
        """The ``GET /_emulator/stats`` document."""
        return {
            "requests": {k: dict(v) for k, v in self.requests.items()},
            "writes": self.writes,
            "max_concurrency": self.max_concurrency,
            "faults": dict(self.faults),
            "batch_operations": self.batch_operations,
            "timing": {k: {"first_start": v[0], "last_end": v[1], "calls": int(v[2]),
                           "members": int(v[3])} for k, v in self.timing.items()},
        }
