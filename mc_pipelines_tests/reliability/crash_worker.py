"""One audience sync in its own process, for the crash test to SIGKILL mid-push.

    python -m mc_pipelines_tests.reliability.crash_worker --org ORG --database-url URL \
        --base-url-template http://127.0.0.1:PORT/{dc}/3.0 [--batch-size 50] [--max-connections 2] \
        [--wait]

`MC_SECRET_KEY` comes from the environment (the parent's). The run uses the real assets
(`materialize` of the sync graph) on an ephemeral Dagster instance. Logs go to stderr at DEBUG
(the parent hands them to the secret scan). Exit 0 and a JSON summary on stdout when the run
succeeded, 1 when it failed.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--org", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--base-url-template", required=True)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--max-connections", type=int, default=8)
    parser.add_argument("--wait", action="store_true",
                        help="import everything, print 'ready', then start on a line from stdin "
                             "(lets the parent start the next worker while one runs)")
    args = parser.parse_args(argv)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the parent asks where a run hangs
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from dagster import DagsterInstance

    from mc_pipelines.store.db import create_db_engine
    from mc_pipelines_tests.support.dagster_runs import sync_outcome_of
    from mc_pipelines_tests.support.reliability import run_sync

    class Emulator:  # what `resources_for` needs of the harness
        base_url_template = args.base_url_template

    engine = create_db_engine(args.database_url)
    if args.wait:
        print("ready", flush=True)
        if not sys.stdin.readline():
            return 3  # the parent went away without starting this worker
    print("started", flush=True)
    with DagsterInstance.ephemeral() as instance:
        result = run_sync(instance, args.org, engine, Emulator, batch_size=args.batch_size,
                          max_connections=args.max_connections)
    if not result.success:
        print(json.dumps({"success": False}), flush=True)
        return 1
    meta = sync_outcome_of(result)  # the org may be settled by an earlier run: observed unchanged
    print(json.dumps({"success": True, **{k: v for k, v in meta.items() if isinstance(v, int | str)}}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
