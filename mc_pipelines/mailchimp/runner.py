"""Running the client's coroutines: the one sync-to-async runner and the one fan-out helper.

* :func:`run_sync` — run a coroutine from synchronous code (CLI, Dagster assets, actions).
* :func:`gather_all` — await many coroutines concurrently, results in input order, the first
  failure cancelling the rest.  It does not limit concurrency: the client's transport holds the
  one limiter (a semaphore of ``max_connections`` around every HTTP attempt).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Coroutine, Iterable
from typing import Any, TypeVar

__all__ = ["gather_all", "run_sync"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code and return its result.

    Uses ``asyncio.run`` when this thread has no running event loop; when it has
    one (a notebook, an async framework) the coroutine runs on a fresh loop in a
    worker thread instead.  Loops running in other threads are unaffected.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="mailchimp-sync"
    ) as pool:
        return pool.submit(asyncio.run, coro).result()


async def gather_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Await ``awaitables`` concurrently; results in input order.

    The first exception cancels the others (waiting for them to finish) and is raised as is.
    """
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
