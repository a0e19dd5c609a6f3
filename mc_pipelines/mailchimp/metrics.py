"""Per-run counters of Mailchimp calls, for asset metadata.

One :class:`CallMetrics` per run (or per client); counters are kept per
endpoint template (``"POST /lists/{list_id}/segments/{segment_id}"``), never per
URL, so they stay few and carry no ids or keys.  Updates take a lock and never
await, so one instance is safe to share between threads and asyncio tasks.

Counted per HTTP attempt: ``calls`` (requests sent, retries included),
``retries`` (attempts after the first), ``errors`` (attempts that ended in a
non-2xx status or a transport failure), ``writes`` (calls with a write method),
``bytes_sent`` / ``bytes_received`` (request / response bodies) and ``seconds``
(time spent waiting for answers).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

__all__ = ["CallMetrics", "EndpointStats"]

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class EndpointStats:
    calls: int = 0
    retries: int = 0
    errors: int = 0
    writes: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0

    def add(self, other: EndpointStats) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


class CallMetrics:
    """Thread- and task-safe call counters keyed by ``"<METHOD> <path template>"``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_endpoint: dict[str, EndpointStats] = {}

    def record_call(
        self,
        endpoint: str,
        *,
        bytes_sent: int = 0,
        bytes_received: int = 0,
        seconds: float = 0.0,
        error: bool = False,
        retry: bool = False,
    ) -> None:
        """Count one HTTP attempt on ``endpoint`` (``"<METHOD> <path template>"``)."""
        method = endpoint.split(" ", 1)[0].upper()
        with self._lock:
            stats = self._by_endpoint.setdefault(endpoint, EndpointStats())
            stats.calls += 1
            stats.retries += int(retry)
            stats.errors += int(error)
            stats.writes += int(method in _WRITE_METHODS)
            stats.bytes_sent += bytes_sent
            stats.bytes_received += bytes_received
            stats.seconds += seconds

    def endpoints(self) -> dict[str, EndpointStats]:
        """A copy of the per-endpoint counters."""
        with self._lock:
            return {k: EndpointStats(**asdict(v)) for k, v in self._by_endpoint.items()}

    def totals(self) -> EndpointStats:
        total = EndpointStats()
        for stats in self.endpoints().values():
            total.add(stats)
        return total

    @property
    def total_calls(self) -> int:
        return self.totals().calls

    @property
    def total_writes(self) -> int:
        return self.totals().writes

    @property
    def total_retries(self) -> int:
        return self.totals().retries

    @property
    def total_errors(self) -> int:
        return self.totals().errors

    def merge(self, other: CallMetrics) -> None:
        """Add another instance's counters into this one (e.g. one client per key, one run)."""
        for endpoint, stats in other.endpoints().items():
            with self._lock:
                self._by_endpoint.setdefault(endpoint, EndpointStats()).add(stats)

    def reset(self) -> None:
        with self._lock:
            self._by_endpoint.clear()

    def as_metadata(self, prefix: str = "mailchimp") -> dict[str, int | float]:
        """Plain ints/floats for Dagster metadata.

        Totals as ``"<prefix>_calls"``, ``"<prefix>_retries"``, ``"<prefix>_errors"``,
        ``"<prefix>_writes"``, ``"<prefix>_bytes_sent"``, ``"<prefix>_bytes_received"``,
        ``"<prefix>_seconds"``; then per endpoint ``"<prefix>_calls[GET /lists/{list_id}/members]"``
        (and ``_retries[...]`` / ``_errors[...]`` where non-zero).
        """
        endpoints = self.endpoints()
        total = EndpointStats()
        for stats in endpoints.values():
            total.add(stats)
        out: dict[str, int | float] = {
            f"{prefix}_{name}": (round(value, 3) if isinstance(value, float) else value)
            for name, value in asdict(total).items()
        }
        for endpoint in sorted(endpoints):
            stats = endpoints[endpoint]
            out[f"{prefix}_calls[{endpoint}]"] = stats.calls
            if stats.retries:
                out[f"{prefix}_retries[{endpoint}]"] = stats.retries
            if stats.errors:
                out[f"{prefix}_errors[{endpoint}]"] = stats.errors
        return out

    def __repr__(self) -> str:
        t = self.totals()
        return f"CallMetrics(calls={t.calls}, retries={t.retries}, errors={t.errors}, writes={t.writes})"
