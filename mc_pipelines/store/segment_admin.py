"""Managing the application's segments (`contact_segments`): list, read, create, update, soft
delete — always within one org — and how many members the project tracks with each one's tag."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from mc_pipelines.store import audit
from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.tables import contact_segments, mailchimp_member_state

EDITABLE = ("name", "description", "segment_type", "filters", "audience_id", "mailchimp_tag")
COLUMNS = ("id", *EDITABLE, "status", "last_synced_at", "last_error", "deleted_at")


def _select() -> sa.Select:
    return sa.select(*[contact_segments.c[c] for c in COLUMNS])


def list_segments(engine: Engine, org_id: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    """The org's segments (not soft-deleted unless asked), ordered by id."""
    query = _select().where(contact_segments.c.org_id == org_id).order_by(contact_segments.c.id)
    if not include_deleted:
        query = query.where(contact_segments.c.deleted_at.is_(None))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def get_segment(engine: Engine, org_id: str, segment_id: int) -> dict[str, Any] | None:
    """One segment of the org that is not soft-deleted, or None (another org's id: None too)."""
    query = _select().where(contact_segments.c.org_id == org_id, contact_segments.c.id == segment_id,
                            contact_segments.c.deleted_at.is_(None))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return dict(row._mapping) if row else None


def live_tag_owner(engine: Engine, org_id: str, tag: str, audience_id: str | None) -> int | None:
    """The id of the org's live segment already managing `tag` (case-insensitive) in the same
    audience setting, if any."""
    query = sa.select(contact_segments.c.id, contact_segments.c.mailchimp_tag,
                      contact_segments.c.audience_id).where(
        contact_segments.c.org_id == org_id, contact_segments.c.deleted_at.is_(None))
    with engine.connect() as conn:
        for sid, other_tag, other_audience in conn.execute(query):
            if other_tag.casefold() == tag.casefold() and other_audience == audience_id:
                return int(sid)
    return None


def insert_segment(engine: Engine, org_id: str, values: dict[str, Any], *, actor: str) -> int:
    """Insert a pending segment (ids are global: the next free one); audited. Returns its id."""
    for _attempt in range(5):  # two concurrent creates may pick the same id: take the next one
        try:
            with engine.begin() as conn:
                segment_id = int(conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(contact_segments.c.id), 0))).scalar_one()) + 1
                conn.execute(contact_segments.insert().values(
                    id=segment_id, org_id=org_id, status="pending", **values))
                audit.record(conn, org_id=org_id, actor=actor, action="segment_create",
                             detail={"segment_id": segment_id, "mailchimp_tag": values["mailchimp_tag"]})
            return segment_id
        except IntegrityError:
            continue
    raise RuntimeError("could not allocate a segment id after 5 attempts (concurrent creates)")


def update_segment(engine: Engine, org_id: str, segment_id: int, values: dict[str, Any], *,
                   actor: str, action: str = "segment_update") -> None:
    """Change a live segment's columns (status back to pending so the next sync applies them);
    audited with the names of the columns changed."""
    with engine.begin() as conn:
        conn.execute(contact_segments.update().where(
            contact_segments.c.org_id == org_id, contact_segments.c.id == segment_id,
            contact_segments.c.deleted_at.is_(None)).values(status="pending", last_error=None, **values))
        audit.record(conn, org_id=org_id, actor=actor, action=action,
                     detail={"segment_id": segment_id, "changed": sorted(values)})


def soft_delete_segment(engine: Engine, org_id: str, segment_id: int, *, actor: str) -> None:
    """Soft-delete a segment (the next sync removes its tag from the members it tagged); audited."""
    with engine.begin() as conn:
        conn.execute(contact_segments.update().where(
            contact_segments.c.org_id == org_id, contact_segments.c.id == segment_id)
            .values(deleted_at=utcnow()))
        audit.record(conn, org_id=org_id, actor=actor, action="segment_delete",
                     detail={"segment_id": segment_id})


def tagged_member_count(engine: Engine, org_id: str, audience_id: str | None, tag: str) -> int:
    """Members of the org in `audience_id` the project tracks as carrying its managed `tag`."""
    if not audience_id:
        return 0
    needle = json.dumps(tag, ensure_ascii=False)
    query = sa.select(sa.func.count()).select_from(mailchimp_member_state).where(
        mailchimp_member_state.c.org_id == org_id, mailchimp_member_state.c.audience_id == audience_id,
        sa.type_coerce(mailchimp_member_state.c.managed_tags, sa.Text).contains(needle, autoescape=True))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
