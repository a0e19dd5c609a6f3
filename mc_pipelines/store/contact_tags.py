"""Writing the application's contact tags (the "Download" of Mailchimp tags, issue 16 item 4)."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.tables import contacts


def set_contact_tags(engine: Engine, org_id: str, tags: Mapping[int, list[str]]) -> int:
    """Replace the tags of these contacts of `org_id` (one transaction; `updated_at` is left as
    the application set it). Returns the number of contacts written."""
    if not tags:
        return 0
    stmt = contacts.update().where(contacts.c.org_id == org_id,
                                   contacts.c.id == sa.bindparam("_id")).values(tags=sa.bindparam("_tags"))
    params = [{"_id": int(cid), "_tags": list(t)} for cid, t in tags.items()]
    with engine.begin() as conn:
        for start in range(0, len(params), 5000):
            conn.execute(stmt, params[start:start + 5000])
    return len(params)
