"""``/reports``."""

from __future__ import annotations

from ..campaigns import has_report, render_report
from ..errors import not_found
from .base import Call, Result, page
from .campaigns import campaign_filter, get_campaign


def h_reports_get(call: Call) -> Result:
    count, offset = page(call.query)
    campaigns = [
        c for c in campaign_filter(call, list(call.acct.campaigns.values())) if has_report(c)
    ]
    return 200, {
        "reports": [render_report(call.acct, c) for c in campaigns[offset : offset + count]],
        "total_items": len(campaigns),
        "_links": [],
    }


def h_report_get(call: Call) -> Result:
    c = get_campaign(call)
    if not has_report(c):
        raise not_found()
    return 200, render_report(call.acct, c)


