"""Command line of the emulator (also ``mc-pipelines emulator``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from .app import create_app
from .faults import FaultSettings


def build_parser(
    prog: str = "python -m mailchimp_emulator",
) -> argparse.ArgumentParser:
    """The argument parser (exposed so the project CLI can embed it)."""
    p = argparse.ArgumentParser(
        prog=prog, description="Mailchimp Marketing API v3 emulator (loopback, in-memory)."
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free port)")
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="pre-register an account with this key (<key>-<dc>); repeatable",
    )
    p.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every API call")
    p.add_argument(
        "--per-member-ms",
        type=float,
        default=0.0,
        help="extra latency per member/email in bulk calls",
    )
    p.add_argument(
        "--error-rate", type=float, default=0.0, help="share of API calls answered with a 5xx"
    )
    p.add_argument(
        "--throttle-rate", type=float, default=0.0, help="share of API calls answered with a 429"
    )
    p.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        help="share of API calls whose connection is dropped",
    )
    p.add_argument(
        "--ack-loss-rate",
        type=float,
        default=0.0,
        help="share of API calls applied and then dropped without a response",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="seed of the fault draws (reproducible runs)"
    )
    p.add_argument(
        "--shuffle-same-second",
        action="store_true",
        help="return members changed in the same second in a random order on each request",
    )
    p.add_argument(
        "--max-connections", type=int, default=10, help="simultaneous requests per key (default 10)"
    )
    p.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    p.add_argument(
        "--no-access-log",
        action="store_true",
        help="do not log requests (paths only are ever logged)",
    )
    return p


def settings_from_args(args: argparse.Namespace) -> FaultSettings:
    """Fault settings from parsed flags (validated)."""
    for name in ("error_rate", "throttle_rate", "drop_rate", "ack_loss_rate"):
        value = getattr(args, name)
        if not 0 <= value <= 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.max_connections < 1:
        raise SystemExit("--max-connections must be at least 1")
    return FaultSettings(
        latency_ms=args.latency_ms,
        per_member_ms=args.per_member_ms,
        error_rate=args.error_rate,
        throttle_rate=args.throttle_rate,
        drop_rate=args.drop_rate,
        ack_loss_rate=args.ack_loss_rate,
        seed=args.seed,
        max_connections=args.max_connections,
        shuffle_same_second=args.shuffle_same_second,
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the emulator until interrupted.  Returns the exit status."""
    parser = build_parser(prog) if prog else build_parser()
    args = parser.parse_args(argv)
    try:
        app = create_app(settings_from_args(args), tuple(args.api_key))
    except ValueError as exc:
        parser.error(str(exc))
    n = len(args.api_key)
    print(
        f"Mailchimp emulator on http://{args.host}:{args.port} — base URL template "
        f"http://{args.host}:{args.port}/{{dc}}/3.0, admin at /_emulator/ "
        f"({n} pre-registered account{'s' if n != 1 else ''})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        lifespan="on",
    )
    return 0
