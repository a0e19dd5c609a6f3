"""The connection's tag options (issue 16, items 4 and 5), shared by the CLI and the control API.

- `push_app_tags` / `app_tag_prefix`: the application's own contact tags go to the org's default
  audience as managed tags named prefix + tag (no segment per tag; see `sync.app_tags`). Turning
  it off makes them ordinary unmanaged names again: the next sync removes the pushed tags, as it
  removes any managed tag no longer wanted.
- `new_member_tags`: tags every member a sync run creates receives once (never existing or
  linked members; see `effects.new_member_tags`).

Every change is audited; bad values are refused naming the fix and nothing is written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from mc_pipelines.actions.connections import require_connected
from mc_pipelines.errors import OperationError
from mc_pipelines.store import connections
from mc_pipelines.sync.app_tags import prefix_problems, tag_name_problems, unique_tags


def tag_options(engine: Engine, org_id: str) -> dict[str, Any]:
    """The org's current tag options."""
    connection = require_connected(engine, org_id)
    return {"push_app_tags": connection.push_app_tags, "app_tag_prefix": connection.app_tag_prefix,
            "new_member_tags": list(connection.new_member_tags)}


def set_tag_options(engine: Engine, org_id: str, *, actor: str, push_app_tags: bool | None = None,
                    app_tag_prefix: str | None = None,
                    new_member_tags: list[str] | None = None) -> dict[str, Any]:
    """Change the connection's tag options (None = unchanged; `new_member_tags=[]` clears them);
    returns the options changed (audited as `set_tag_options`)."""
    problems = []
    if app_tag_prefix is not None:
        problems += prefix_problems(app_tag_prefix)
    if new_member_tags is not None:
        problems += tag_name_problems(new_member_tags, "new-member tag")
    if problems:
        raise OperationError("; ".join(problems) + " (nothing was changed)")
    connection = require_connected(engine, org_id)
    wanted: dict[str, Any] = {}
    if push_app_tags is not None:
        wanted["push_app_tags"] = bool(push_app_tags)
    if app_tag_prefix is not None:
        wanted["app_tag_prefix"] = app_tag_prefix
    if new_member_tags is not None:
        wanted["new_member_tags"] = unique_tags(new_member_tags)
    changed = {k: v for k, v in wanted.items() if getattr(connection, k) != v}
    if changed:
        connections.update_connection(engine, org_id, actor=actor, action="set_tag_options", **changed)
    return changed
