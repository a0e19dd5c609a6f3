"""``GET /`` and ``GET /ping``."""

from __future__ import annotations

from ..clock import iso
from .base import Call, Result

# --------------------------------------------------------------------------------------------
# API handlers
# --------------------------------------------------------------------------------------------


def h_root(call: Call) -> Result:
    acct = call.acct
    total = sum(sum(lst.counts.values()) for lst in acct.lists.values())
    return 200, {
        "account_id": acct.account_id,
        "login_id": str(acct.user_id),
        "account_name": acct.name,
        "email": "owner@emulator.invalid",
        "first_name": "Emulator",
        "last_name": "Owner",
        "username": acct.name.lower().replace(" ", ""),
        "avatar_url": "",
        "role": "owner",
        "member_since": iso(acct.created),
        "pricing_plan_type": "monthly",
        "first_payment": "",
        "account_timezone": "UTC",
        "account_industry": "",
        "contact": {
            "company": acct.name,
            "addr1": "",
            "addr2": "",
            "city": "",
            "state": "",
            "zip": "",
            "country": "US",
        },
        "pro_enabled": False,
        "last_login": iso(call.now),
        "total_subscribers": total,
        "industry_stats": {"open_rate": 0, "bounce_rate": 0, "click_rate": 0},
        "_links": [],
    }


def h_ping(call: Call) -> Result:
    return 200, {"health_status": "Everything's Chimpy!"}


